"""Defects a dispatch-system integrator found against the demo, each pinned by a test."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from gridgis import crs as crs_mod

CALL = {"lon": 117.65, "lat": 24.51}


def test_locate_converts_gcj02_and_bd09_points(client: TestClient) -> None:
    wgs = client.get("/v1/locate", params=CALL).json()
    for crs in ("gcj02", "bd09"):
        lon, lat = crs_mod.to_wgs84(CALL["lon"], CALL["lat"], crs)
        expected = client.get("/v1/locate", params={"lon": lon, "lat": lat}).json()
        got = client.get("/v1/locate", params={**CALL, "crs": crs})
        assert got.status_code == 200, got.text
        assert got.json()["grid"]["code"] == expected["grid"]["code"], crs
        assert got.json()["query"]["received_crs"] == crs
        assert got.json()["query"]["lon"] == pytest.approx(lon, abs=1e-6)
    gcj = client.get("/v1/locate", params={**CALL, "crs": "gcj02"}).json()
    assert gcj["grid"]["code"] != wgs["grid"]["code"]  # the demo point sits near an edge


@pytest.mark.parametrize("path", ["/v1/locate", "/maps/nearest.html", "/v1/responders/nearest"])
def test_unknown_crs_is_422_naming_crs(client: TestClient, path: str) -> None:
    response = client.get(path, params={**CALL, "crs": "garbage"})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "crs"


def test_nearest_map_converts_the_point(client: TestClient) -> None:
    lon, lat = crs_mod.from_wgs84(CALL["lon"], CALL["lat"], "bd09")
    converted = client.get("/maps/nearest.html", params={"lon": lon, "lat": lat, "crs": "bd09"})
    assert converted.status_code == 200, converted.status_code
    # The call marker is drawn at the WGS84 point, not at the BD-09 numbers sent.
    drawn = [
        (float(a), float(b)) for a, b in re.findall(r"\[(24\.\d+), (117\.\d+)\]", converted.text)
    ]
    assert any(abs(a - CALL["lat"]) < 1e-6 and abs(b - CALL["lon"]) < 1e-6 for a, b in drawn)
    assert not any(abs(a - lat) < 1e-6 and abs(b - lon) < 1e-6 for a, b in drawn)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _team_ids(client: TestClient) -> set[int]:
    return {m["responder_id"] for m in client.get("/v1/locate", params=CALL).json()["team"]}


@pytest.mark.parametrize("roles", ["grid_worker", "community_police,police_unit,grid_worker"])
def test_team_flag_marks_team_members_without_prefer_team(client: TestClient, roles: str) -> None:
    team = _team_ids(client)
    answer = client.get("/v1/responders/nearest", params={**CALL, "n": 10, "roles": roles})
    results = answer.json()["results"]
    assert any(r["responder_id"] in team for r in results)
    for r in results:
        assert r["team"] == (r["responder_id"] in team), r


def test_recommendations_mark_team_members(client: TestClient) -> None:
    team = _team_ids(client)
    created = client.post(
        "/v1/incidents",
        json={"external_id": "team-flag-1", "category": "theft", **CALL, "reported_at": _now()},
    )
    assert created.status_code == 201, created.text
    recommended = created.json()["recommendation"]["responders"]
    assert any(r["responder_id"] in team for r in recommended)
    for r in recommended:
        assert r["team"] == (r["responder_id"] in team), r


def test_a_json_true_is_not_responder_1(client: TestClient) -> None:
    created = client.post(
        "/v1/incidents",
        json={"external_id": "strict-id-1", "category": "theft", **CALL, "reported_at": _now()},
    )
    incident_id = created.json()["id"]
    event = client.post(
        f"/v1/incidents/{incident_id}/events",
        json={"type": "dispatched", "at": _now(), "responder_id": True},
    )
    assert event.status_code == 422, event.text
    assert event.json()["field"] == "responder_id"
    assignment = client.post(
        "/v1/assignments",
        json={"responder_id": True, "grid_code": "350602002005", "duty": "volunteer"},
    )
    assert assignment.status_code == 422, assignment.text
    assert assignment.json()["field"] == "responder_id"
    for body in ({"run_id": True, "add": 1}, {"run_id": "1", "add": 1}):
        plan = client.post("/v1/coverage/plan", json=body)
        assert plan.status_code == 422, plan.text
        assert plan.json()["field"] == "run_id"


@pytest.mark.parametrize("n", [1, 3, 30])
def test_prefer_team_answers_at_most_n_team_first(client: TestClient, n: int) -> None:
    answer = client.get("/v1/responders/nearest", params={**CALL, "n": n, "prefer": "team"})
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert len(results) == n
    flags = [r["team"] for r in results]
    assert flags == sorted(flags, reverse=True)  # team members first
    for part in ([r for r in results if r["team"]], [r for r in results if not r["team"]]):
        keys = [(r["eta_s"], r["distance_m"], r["responder_id"]) for r in part]
        assert keys == sorted(keys)
    if n == 30:
        assert 0 < flags.count(True) < n


@pytest.mark.parametrize(("first", "second"), [("referred", "resolved"), ("resolved", "referred")])
def test_resolved_and_referred_are_alternatives(
    client: TestClient, first: str, second: str
) -> None:
    created = client.post(
        "/v1/incidents",
        json={"external_id": f"alt-{first}", "category": "theft", **CALL, "reported_at": _now()},
    )
    incident_id = created.json()["id"]
    officer = created.json()["recommendation"]["responders"][0]["responder_id"]
    for event in (
        {"type": "dispatched", "responder_id": officer},
        {"type": "arrived", "responder_id": officer},
        {"type": first},
    ):
        step = client.post(f"/v1/incidents/{incident_id}/events", json={**event, "at": _now()})
        assert step.status_code == 201, step.text
    refused = client.post(
        f"/v1/incidents/{incident_id}/events", json={"type": second, "at": _now()}
    )
    assert refused.status_code == 409, refused.text
    assert "alternatives" in refused.json()["message"]


def test_the_documented_lifecycle_is_the_enforced_one() -> None:
    from pathlib import Path

    from gridgis.dispatch.incidents.lifecycle import lifecycle_markdown

    doc = (Path(__file__).parents[2] / "docs" / "API.md").read_text(encoding="utf-8")
    assert lifecycle_markdown() in doc


def test_docs_work_without_internet(client: TestClient) -> None:
    page = client.get("/docs", headers={"X-API-Key": ""})
    assert page.status_code == 200, page.text
    html = page.text
    assert "cdn" not in html.lower() and "http" not in html.lower()  # nothing from elsewhere
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/docs/vendor/swagger-ui-bundle.js" in sources
    assert re.search(r"<script>", html) is None  # no inline script (CSP: script-src 'self')
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200, source
        assert len(asset.content) > 100
    assert "SwaggerUIBundle" in client.get("/docs/vendor/swagger-ui-bundle.js").text
    assert client.get("/redoc").status_code == 404  # not offered: one documentation page
