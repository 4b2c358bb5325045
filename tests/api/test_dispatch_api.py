"""HTTP: nearest responders, responders CRUD and listing, live positions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from gridgis import crs


def _now() -> str:
    return datetime.now(UTC).isoformat()


def test_nearest_shape_and_order(client: TestClient) -> None:
    response = client.get(
        "/v1/responders/nearest",
        params={"lon": 117.65, "lat": 24.51, "n": 5, "roles": "community_police,grid_worker"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["grid"]["code"].startswith("350602")
    assert body["query"]["crs"] == "wgs84"
    results = body["results"]
    assert len(results) == 5
    assert {r["role"] for r in results} <= {"community_police", "grid_worker"}
    keys = [(r["eta_s"], r["distance_m"], r["responder_id"]) for r in results]
    assert keys == sorted(keys)
    first = results[0]
    assert set(first) >= {
        "responder_id",
        "name",
        "role",
        "status",
        "distance_m",
        "eta_s",
        "within_target",
        "position",
        "grid_code",
    }
    assert first["position"]["source"] in {"live", "home"}
    assert first["within_target"] == (first["eta_s"] <= 300)


def test_nearest_accepts_gcj02_and_bd09(client: TestClient) -> None:
    wgs = client.get("/v1/responders/nearest", params={"lon": 117.65, "lat": 24.51}).json()
    for name, convert in (("gcj02", crs.wgs84_to_gcj02), ("bd09", crs.wgs84_to_bd09)):
        lon, lat = convert(117.65, 24.51)
        other = client.get(
            "/v1/responders/nearest", params={"lon": lon, "lat": lat, "crs": name}
        ).json()
        assert (
            crs.geodesic_distance_m(other["query"]["lon"], other["query"]["lat"], 117.65, 24.51) < 2
        )
        assert [r["responder_id"] for r in other["results"]] == [
            r["responder_id"] for r in wgs["results"]
        ]


def test_nearest_prefer_team(client: TestClient) -> None:
    body = client.get(
        "/v1/responders/nearest",
        params={"lon": 117.65, "lat": 24.51, "prefer": "team", "roles": "grid_worker"},
    ).json()
    assert body["results"][0]["team"] is True


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lon": 117.65, "lat": 24.51, "roles": "astronaut"}, "roles"),
        ({"lon": 117.65, "lat": 24.51, "status": "asleep"}, "status"),
        ({"lon": 117.65, "lat": 24.51, "n": 0}, "n"),
        ({"lon": 117.65, "lat": 24.51, "n": 1000}, "n"),
        ({"lon": 117.65, "lat": 24.51, "crs": "epsg3857"}, "crs"),
        ({"lon": 117.65, "lat": 24.51, "max_eta_s": -1}, "max_eta_s"),
        ({"lon": "nan", "lat": 24.51}, "lon"),
        ({"lon": 117.65}, "lat"),
    ],
)
def test_nearest_bad_input(client: TestClient, params: dict[str, object], field: str) -> None:
    response = client.get("/v1/responders/nearest", params=params)
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_create_patch_get_responder(client: TestClient, conn: Connection) -> None:
    glon, glat = crs.wgs84_to_gcj02(117.65, 24.51)
    created = client.post(
        "/v1/responders",
        json={
            "name": "王志愿",
            "role": "volunteer",
            "home": {"lon": glon, "lat": glat, "crs": "gcj02"},
            "skills": ["first_aid"],
            "ref": "vol-test-1",
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["home_grid_code"].startswith("350602")
    assert crs.geodesic_distance_m(body["home"]["lon"], body["home"]["lat"], 117.65, 24.51) < 2
    rid = body["responder_id"]
    assert (
        client.post(
            "/v1/responders",
            json={
                "name": "x",
                "role": "volunteer",
                "home": {"lon": 117.6, "lat": 24.5},
                "ref": "vol-test-1",
            },
        ).status_code
        == 409
    )
    # Filed under its role's lane in the KNN index, before and after a change of role.
    lane_check = text(
        "SELECT r.lane = ro.lane FROM responders r JOIN roles ro ON ro.code = r.role "
        "WHERE r.id = :id"
    )
    assert conn.execute(lane_check, {"id": rid}).scalar_one()
    assert client.patch(f"/v1/responders/{rid}", json={"role": "mediator"}).status_code == 200
    assert conn.execute(lane_check, {"id": rid}).scalar_one()
    patched = client.patch(f"/v1/responders/{rid}", json={"status": "busy", "skills": ["cpr"]})
    assert patched.status_code == 200
    assert patched.json()["status"] == "busy"
    assert patched.json()["skills"] == ["cpr"]
    assert client.get(f"/v1/responders/{rid}").json()["status"] == "busy"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "asleep"}, "status"),
        ({"role": "astronaut"}, "role"),
        ({"colour": "red"}, "colour"),
        ({"home": {"lon": 500, "lat": 24}}, "home.lon"),
        ({"status": None}, "status"),
    ],
)
def test_patch_bad_input(client: TestClient, body: dict[str, object], field: str) -> None:
    response = client.patch("/v1/responders/1", json=body)
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_unknown_responder_is_404(client: TestClient) -> None:
    assert client.get("/v1/responders/987654321").status_code == 404
    assert client.patch("/v1/responders/987654321", json={"status": "busy"}).status_code == 404
    put = client.put(
        "/v1/responders/987654321/position", json={"lon": 117.6, "lat": 24.5, "recorded_at": _now()}
    )
    assert put.status_code == 404


def test_put_position_then_listing_uses_the_live_fix(client: TestClient) -> None:
    recorded = datetime.now(UTC) - timedelta(seconds=30)
    put = client.put(
        "/v1/responders/1/position",
        json={"lon": 117.66, "lat": 24.52, "recorded_at": recorded.isoformat()},
    )
    assert put.json() == {"accepted": 1, "ignored_stale": 0, "rejected": []}
    stale = client.put(
        "/v1/responders/1/position",
        json={
            "lon": 117.0,
            "lat": 24.0,
            "recorded_at": (recorded - timedelta(hours=1)).isoformat(),
        },
    )
    assert stale.json()["ignored_stale"] == 1
    feature = client.get("/v1/responders", params={"limit": 1}).json()["features"][0]
    assert feature["properties"]["responder_id"] == 1
    assert feature["properties"]["position_source"] == "live"
    assert feature["geometry"]["coordinates"] == [117.66, 24.52]


def test_put_position_naive_timestamp_is_422(client: TestClient) -> None:
    response = client.put(
        "/v1/responders/1/position",
        json={"lon": 117.6, "lat": 24.5, "recorded_at": "2026-11-26T08:00:00"},
    )
    assert response.status_code == 422
    assert response.json()["field"] == "recorded_at"


def test_batch_partial_failure(client: TestClient) -> None:
    now = _now()
    response = client.post(
        "/v1/positions/batch",
        json={
            "positions": [
                {"responder_id": 1, "lon": 117.6, "lat": 24.5, "recorded_at": now},
                {"responder_id": 987654321, "lon": 117.6, "lat": 24.5, "recorded_at": now},
                {"responder_id": 2, "lon": "117.6", "lat": 24.5, "recorded_at": now},
                {"responder_id": 3, "lon": 117.6, "lat": 95, "recorded_at": now},
                {"responder_id": 4, "lon": 117.6, "lat": 24.5, "recorded_at": now, "crs": "gcj02"},
            ]
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [
        (1, "responder_id"),
        (2, "lon"),
        (3, "lat"),
    ]


def test_batch_over_the_cap_is_422(client: TestClient) -> None:
    item = {"responder_id": 1, "lon": 117.6, "lat": 24.5, "recorded_at": _now()}
    response = client.post("/v1/positions/batch", json={"positions": [item] * 10_001})
    assert response.status_code == 422
    assert response.json()["field"] == "positions"


def test_listing_filters_and_paging(client: TestClient) -> None:
    first = client.get(
        "/v1/responders", params={"role": "community_police", "limit": 150, "format": "geojson"}
    )
    assert first.status_code == 200
    body = first.json()
    assert len(body["features"]) == 150
    assert {f["properties"]["role"] for f in body["features"]} == {"community_police"}
    seen = [f["id"] for f in body["features"]]
    url = body["next"]
    while url:
        page = client.get(url).json()
        seen += [f["id"] for f in page["features"]]
        url = page["next"]
    assert len(seen) == len(set(seen)) == 401
    grid = client.get(
        "/v1/responders", params={"grid": "350602002005", "format": "json", "limit": 1000}
    ).json()
    duties = {a["duty"] for r in grid["responders"] for a in r["assignments"]}
    assert {"grid_worker", "community_police"} <= duties
