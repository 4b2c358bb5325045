"""Coverage endpoints: create/list runs, per-level summaries, paged GeoJSON cells, the planner,
and 4xx bodies that name the field."""

from __future__ import annotations

from typing import Any

import h3
import pytest
from fastapi.testclient import TestClient

AREA_KEYS = {
    "code",
    "level",
    "population",
    "population_within_target",
    "population_share_within_target",
    "area_share_within_target",
    "eta_mean_s",
    "eta_p90_s",
    "responders_per_10k",
}


def _create(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post(
        "/v1/coverage/runs", json={"roles": ["community_police"], "resolution": 8, **body}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_create_list_and_summarise(client: TestClient) -> None:
    run = _create(client, k=2, target_s=420)
    assert {"id", "parameters", "summary"} <= set(run)
    assert run["parameters"]["k"] == 2 and run["parameters"]["target_s"] == 420
    assert run["parameters"]["eta_model"]["name"] == "straight_line_v1"
    assert set(run["summary"]) >= AREA_KEYS and run["summary"]["level"] == "city"

    listed = client.get("/v1/coverage/runs", params={"limit": 5}).json()
    assert run["id"] in [r["id"] for r in listed["runs"]]

    city = client.get(f"/v1/coverage/runs/{run['id']}/summary").json()["areas"]
    assert len(city) == 1 and city[0]["level"] == "city"
    counties = client.get(
        f"/v1/coverage/runs/{run['id']}/summary", params={"level": "county"}
    ).json()["areas"]
    assert len(counties) == 11
    for area in counties:
        assert set(area) >= AREA_KEYS
        assert 0 <= area["population_share_within_target"] <= 1
    assert sum(a["population"] for a in counties) == pytest.approx(city[0]["population"], abs=1)
    assert sum(a["population_within_target"] for a in counties) == pytest.approx(
        city[0]["population_within_target"], abs=1
    )


def test_cells_are_paged_geojson_inside_the_bbox(client: TestClient) -> None:
    run = _create(client)
    bbox = (117.6, 24.45, 117.72, 24.56)
    url: str | None = f"/v1/coverage/runs/{run['id']}/cells"
    params: dict[str, Any] | None = {"bbox": ",".join(map(str, bbox)), "limit": 40}
    ids: list[str] = []
    pages = 0
    while url:
        response = client.get(url, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["type"] == "FeatureCollection"
        for feature in page["features"]:
            props = feature["properties"]
            assert set(props) >= {
                "h3",
                "eta_s",
                "eta_k_s",
                "responders_within_target",
                "population",
            }
            assert feature["geometry"]["type"] == "Polygon"
            lat, lon = h3.cell_to_latlng(props["h3"])
            assert bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]
            ids.append(feature["id"])
        url, params = page["next"], None
        pages += 1
    assert pages > 1 and len(ids) == len(set(ids))


def test_plan_endpoint(client: TestClient) -> None:
    run = _create(client)
    response = client.post(
        "/v1/coverage/plan",
        json={
            "run_id": run["id"],
            "add": 2,
            "role": "community_police",
            "candidates": [[117.40, 24.80], [117.35, 24.55], [117.65, 24.52]],
        },
    )
    assert response.status_code == 200, response.text
    plan = response.json()
    assert len(plan["sites"]) <= 2 and plan["gap"] >= 0
    assert (
        plan["city"]["after"]["population_within_target"]
        >= (plan["city"]["before"]["population_within_target"])
    )
    # Without a run id the planner computes a fresh run first.
    fresh = client.post(
        "/v1/coverage/plan",
        json={"add": 1, "role": "police_unit", "roles": ["police_unit"], "resolution": 7},
    )
    assert fresh.status_code == 200, fresh.text


@pytest.mark.parametrize(
    ("method", "path", "payload", "field"),
    [
        ("post", "/v1/coverage/runs", {"roles": ["astronaut"]}, "roles"),
        ("post", "/v1/coverage/runs", {"k": 0}, "k"),
        ("post", "/v1/coverage/runs", {"resolution": 14}, "resolution"),
        ("post", "/v1/coverage/runs", {"statuses": ["asleep"]}, "statuses.0"),
        ("post", "/v1/coverage/runs", {"target_s": -1}, "target_s"),
        ("post", "/v1/coverage/runs", {"colour": "red"}, "colour"),
        ("post", "/v1/coverage/plan", {"add": 0}, "add"),
        ("post", "/v1/coverage/plan", {"add": 1, "candidates": [[1.0]]}, "candidates[0]"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    client: TestClient, method: str, path: str, payload: dict[str, Any], field: str
) -> None:
    if path.endswith("/plan") and "run_id" not in payload:
        payload = {"run_id": _create(client)["id"], "role": "community_police", **payload}
    response = getattr(client, method)(path, json=payload)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_query_errors(client: TestClient) -> None:
    run = _create(client)
    cells = f"/v1/coverage/runs/{run['id']}/cells"
    for bbox in ("1,2,3", "a,b,c,d", "118,24,117,25", "117,24,118,95"):
        response = client.get(cells, params={"bbox": bbox})
        assert response.status_code == 422 and response.json()["field"] == "bbox", bbox
    assert client.get(cells, params={"format": "csv"}).json()["field"] == "format"
    summary = f"/v1/coverage/runs/{run['id']}/summary"
    assert client.get(summary, params={"level": "planet"}).json()["field"] == "level"
    missing = client.get("/v1/coverage/runs/999999/summary")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert client.get("/v1/coverage/runs/999999/cells").status_code == 404
