"""HTTP: /v1/incidents (intake, events, detail, listing), /v1/incident-categories, /v1/kpis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from gridgis.crs import wgs84_to_gcj02

CENTRAL = {"lon": 117.65, "lat": 24.51}  # central 芗城区, a community grid


def _ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


def _body(external_id: str, /, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_id": external_id,
        "category": "theft",
        **CENTRAL,
        "reported_at": "2026-01-05T20:15:00+08:00",
        "description": "电动车被盗",
    }
    body.update(changes)
    return body


def _responder(conn: Connection, role: str, offset: int = 0) -> int:
    """An available responder (only those can be dispatched)."""
    return int(
        conn.execute(
            text(
                "SELECT id FROM responders WHERE role = :r AND status = 'available' "
                "ORDER BY id OFFSET :o LIMIT 1"
            ),
            {"r": role, "o": offset},
        ).scalar_one()
    )


def test_categories_endpoint(client: TestClient) -> None:
    response = client.get("/v1/incident-categories")
    assert response.status_code == 200
    by_code = {c["code"]: c for c in response.json()["categories"]}
    assert by_code["neighbour_dispute"]["primary_roles"] == ["mediator"]
    assert by_code["neighbour_dispute"]["divert_to_mediation"] is True
    assert by_code["theft"]["police_matter"] is True


def test_intake_creates_then_retry_returns_the_same(client: TestClient) -> None:
    created = client.post("/v1/incidents", json=_body("api-1"))
    assert created.status_code == 201
    incident = created.json()
    assert created.headers["location"] == f"/v1/incidents/{incident['id']}"
    assert incident["status"] == "open"
    assert incident["grid"]["code"].startswith("350602")
    assert incident["category"]["name_zh"] == "盗窃"
    assert len(incident["recommendation"]["responders"]) == 5
    assert incident["recommendation"]["eta_model"] == "straight_line_v1"
    assert incident["timeline"] == []

    retry = client.post("/v1/incidents", json=_body("api-1"))
    assert retry.status_code == 200
    assert retry.json()["id"] == incident["id"]

    clash = client.post("/v1/incidents", json=_body("api-1", category="fight"))
    assert clash.status_code == 409
    assert clash.json()["error"] == "conflict"
    assert clash.json()["field"] == "external_id"
    assert "category" in clash.json()["message"]


def test_intake_outside_every_grid(client: TestClient) -> None:
    response = client.post("/v1/incidents", json=_body("api-sh", lon=121.47, lat=31.23))
    assert response.status_code == 201
    assert response.json()["grid"] is None


def test_intake_in_gcj02_is_stored_as_wgs84(client: TestClient) -> None:
    lon, lat = wgs84_to_gcj02(117.647, 24.513)
    response = client.post("/v1/incidents", json=_body("api-gcj", lon=lon, lat=lat, crs="gcj02"))
    assert response.status_code == 201
    body = response.json()
    assert body["lon"] == pytest.approx(117.647, abs=1e-7)
    assert body["lat"] == pytest.approx(24.513, abs=1e-7)
    assert body["input"] == {"crs": "gcj02", "lon": lon, "lat": lat}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"lon": 200}, "lon"),
        ({"lat": -95}, "lat"),
        ({"lon": "east"}, "lon"),
        ({"lon": None}, "lon"),
        ({"crs": "utm"}, "crs"),
        ({"category": "ufo"}, "category"),
        ({"external_id": ""}, "external_id"),
        ({"external_id": " padded "}, "external_id"),
        ({"external_id": "x" * 101}, "external_id"),
        ({"crs": "WGS84"}, "crs"),
        ({"reported_at": "yesterday"}, "reported_at"),
        ({"description": "x" * 4001}, "description"),
        ({"reported_at": "2026-01-05T20:15:00"}, "reported_at"),
        ({"reported_at": "next tuesday"}, "reported_at"),
        ({"reported_at": "2999-01-01T00:00:00+08:00"}, "reported_at"),
        ({"longitude": 117.6}, "longitude"),
        ({"description": "nul\u0000byte"}, "description"),
        ({"lon": -180, "lat": -90, "crs": "bd09"}, "lon"),
    ],
)
def test_bad_intake_is_422_naming_the_field(
    client: TestClient, changes: dict[str, Any], field: str
) -> None:
    response = client.post("/v1/incidents", json=_body("api-bad", **changes))
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_input"
    assert body["field"] == field


def test_intake_rejects_nan(client: TestClient) -> None:
    payload = '{"external_id": "api-nan", "category": "theft", "lon": NaN, "lat": 24.5, ' + (
        '"reported_at": "2026-01-05T20:15:00+08:00"}'
    )
    response = client.post(
        "/v1/incidents", content=payload, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["field"] == "lon"


def test_missing_body_fields_are_named(client: TestClient) -> None:
    response = client.post("/v1/incidents", json={"category": "theft"})
    assert response.status_code == 422
    fields = {d["field"] for d in response.json()["details"]}
    assert {"external_id", "lon", "lat", "reported_at"} <= fields


def test_event_flow_and_status(client: TestClient, conn: Connection) -> None:
    incident = client.post(
        "/v1/incidents", json=_body("api-flow", reported_at=_ago(minutes=50))
    ).json()
    officer = _responder(conn, "community_police")
    url = f"/v1/incidents/{incident['id']}/events"
    steps = [
        ({"type": "dispatched", "responder_id": officer, "at": _ago(minutes=49)}, "dispatched"),
        ({"type": "arrived", "responder_id": officer, "at": _ago(minutes=45)}, "on_scene"),
        ({"type": "resolved", "responder_id": officer, "at": _ago(minutes=20)}, "resolved"),
        ({"type": "closed", "at": _ago(minutes=10), "note": "办结"}, "closed"),
    ]
    for event, status in steps:
        response = client.post(url, json=event)
        assert response.status_code == 201, response.json()
        assert response.json()["status"] == status
    detail = client.get(f"/v1/incidents/{incident['id']}").json()
    assert [e["type"] for e in detail["timeline"]] == [
        "dispatched",
        "arrived",
        "resolved",
        "closed",
    ]
    assert detail["timeline"][0]["responder_role"] == "community_police"
    assert detail["timeline"][-1]["note"] == "办结"
    assert detail["recommendation"] == incident["recommendation"]

    after_close = client.post(url, json={"type": "referred", "at": _ago(minutes=5)})
    assert after_close.status_code == 409
    assert "closed" in after_close.json()["message"]


def test_event_order_conflicts_are_409(client: TestClient, conn: Connection) -> None:
    incident = client.post(
        "/v1/incidents", json=_body("api-order", reported_at=_ago(minutes=50))
    ).json()
    url = f"/v1/incidents/{incident['id']}/events"
    officer = _responder(conn, "police_unit")
    stranger = _responder(conn, "police_unit", 1)
    assert (
        client.post(
            url, json={"type": "dispatched", "responder_id": officer, "at": _ago(minutes=40)}
        ).status_code
        == 201
    )
    cases = [
        ({"type": "arrived", "responder_id": officer, "at": _ago(minutes=45)}, "at"),
        ({"type": "arrived", "responder_id": stranger, "at": _ago(minutes=30)}, "responder_id"),
        ({"type": "resolved", "at": _ago(minutes=30)}, "type"),
        ({"type": "closed", "at": _ago(minutes=30)}, "type"),
        ({"type": "dispatched", "responder_id": stranger, "at": _ago(minutes=55)}, "at"),
    ]
    for event, field in cases:
        response = client.post(url, json=event)
        assert response.status_code == 409, event
        assert response.json()["error"] == "conflict"
        assert response.json()["field"] == field


@pytest.mark.parametrize(
    ("event", "status", "field"),
    [
        ({"type": "dispatched", "at": "2026-01-05T20:20:00+08:00"}, 422, "responder_id"),
        (
            {"type": "dispatched", "responder_id": 999_999_999, "at": "2026-01-05T20:20:00+08:00"},
            404,
            "responder_id",
        ),
        (
            {"type": "dispatched", "responder_id": 0, "at": "2026-01-05T20:20:00Z"},
            422,
            "responder_id",
        ),
        (
            {"type": "dispatched", "responder_id": "seven", "at": "2026-01-05T20:20:00Z"},
            422,
            "responder_id",
        ),
        ({"type": "teleported", "at": "2026-01-05T20:20:00+08:00"}, 422, "type"),
        ({"type": "referred", "at": "2026-01-05T20:20:00Z", "note": "x" * 2001}, 422, "note"),
        ({"type": "referred", "at": "2026-01-05T20:20:00"}, 422, "at"),
        ({"type": "referred", "at": "2999-01-05T20:20:00+08:00"}, 422, "at"),
        ({"type": "referred"}, 422, "at"),
    ],
)
def test_bad_events(client: TestClient, event: dict[str, Any], status: int, field: str) -> None:
    incident = client.post("/v1/incidents", json=_body("api-bad-event")).json()
    response = client.post(f"/v1/incidents/{incident['id']}/events", json=event)
    assert response.status_code == status
    assert response.json()["field"] == field


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/incidents/999999999", 404),
        ("/v1/incidents/0", 422),
        ("/v1/incidents/abc", 422),
        ("/v1/incidents/99999999999999999999", 422),
    ],
)
def test_incident_detail_errors(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert "message" in response.json()
    events = client.post(path + "/events", json={"type": "referred", "at": _ago(minutes=1)})
    assert events.status_code == status


def test_listing_filters_and_next_link(client: TestClient, conn: Connection) -> None:
    start = datetime.now(UTC) - timedelta(hours=3)
    grids = conn.execute(
        text(
            """
            SELECT a.code, ST_X(ST_PointOnSurface(a.geom)) AS lon,
                   ST_Y(ST_PointOnSurface(a.geom)) AS lat
            FROM areas a JOIN generations g ON g.id = a.generation_id AND g.active
            WHERE a.level = 'grid' AND (a.code LIKE '350602%' OR a.code LIKE '350627%')
            ORDER BY a.code DESC LIMIT 5
            """
        )
    ).all()
    in_xiangcheng = sum(1 for g in grids if g.code.startswith("350602"))
    for i, g in enumerate(grids):
        client.post(
            "/v1/incidents",
            json=_body(
                f"api-list-{i}",
                lon=g.lon,
                lat=g.lat,
                reported_at=(start + timedelta(minutes=10 * i)).isoformat(),
            ),
        )
    window = {"from": start.isoformat(), "to": datetime.now(UTC).isoformat()}
    everything = client.get("/v1/incidents", params=window)
    assert everything.status_code == 200
    listed = [i["external_id"] for i in everything.json()["incidents"]]
    assert listed == [f"api-list-{i}" for i in reversed(range(len(grids)))]
    assert everything.json()["next"] is None

    county = client.get("/v1/incidents", params={**window, "area": "350627"}).json()
    assert len(county["incidents"]) == len(grids) - in_xiangcheng
    assert all(i["grid"]["code"].startswith("350627") for i in county["incidents"])
    by_status = client.get("/v1/incidents", params={**window, "status": "closed"}).json()
    assert by_status["incidents"] == []

    seen: list[str] = []
    url: str | None = "/v1/incidents"
    params: dict[str, Any] | None = {**window, "limit": 2}
    while url:
        page = client.get(url, params=params)
        assert page.status_code == 200
        seen += [i["external_id"] for i in page.json()["incidents"]]
        url, params = page.json()["next"], None
        if url:
            assert "cursor=" in url and "limit=2" in url
    assert seen == listed


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"limit": 501}, 422, "limit"),
        ({"limit": 0}, 422, "limit"),
        ({"cursor": "bogus"}, 422, "cursor"),
        ({"area": "abc123"}, 422, "area"),
        ({"area": "999999"}, 404, "area"),
        ({"status": "lost"}, 422, "status"),
        ({"status": "OPEN"}, 422, "status"),
        ({"limit": "ten"}, 422, "limit"),
        ({"category": "ufo"}, 422, "category"),
        ({"from": "yesterday"}, 422, "from"),
        ({"from": "2026-01-01T00:00:00"}, 422, "from"),
        ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, 422, "to"),
    ],
)
def test_listing_errors_name_the_field(
    client: TestClient, params: dict[str, Any], status: int, field: str
) -> None:
    response = client.get("/v1/incidents", params=params)
    assert response.status_code == status
    assert response.json()["field"] == field


def test_kpis_endpoint(client: TestClient, conn: Connection) -> None:
    reported = datetime.now(UTC) - timedelta(hours=2)
    incident = client.post(
        "/v1/incidents", json=_body("api-kpi", reported_at=reported.isoformat())
    ).json()
    officer = _responder(conn, "police_unit")
    url = f"/v1/incidents/{incident['id']}/events"
    for type_, seconds in (("dispatched", 30), ("arrived", 240)):
        at = (reported + timedelta(seconds=seconds)).isoformat()
        assert (
            client.post(url, json={"type": type_, "responder_id": officer, "at": at}).status_code
            == 201
        )
    params = {
        "from": (reported - timedelta(minutes=1)).isoformat(),
        "to": (reported + timedelta(minutes=1)).isoformat(),
        "area": "350602",
    }
    response = client.get("/v1/kpis", params=params)
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"from", "to", "target_s", "area", "areas", "outside_grids"}
    assert body["target_s"] == 300.0
    assert body["outside_grids"] is None
    county = body["areas"][0]
    assert county["code"] == "350602" and county["level"] == "county"
    assert county["incidents"] == 1 and county["within_target"] == 1
    assert county["median_response_s"] == 240.0
    grid = next(r for r in body["areas"] if r["code"] == incident["grid"]["code"])
    assert grid["within_target_rate"] == 1.0

    counties = client.get("/v1/kpis", params={"from": params["from"], "level": "county"}).json()
    assert [r["level"] for r in counties["areas"]] == ["county"] * 11
    assert counties["outside_grids"] is not None


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"area": "999999"}, 404, "area"),
        ({"area": "35"}, 422, "area"),
        ({"level": "planet"}, 422, "level"),
        ({"from": "2026-01-01"}, 422, "from"),
        ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, 422, "to"),
    ],
)
def test_kpi_errors(client: TestClient, params: dict[str, Any], status: int, field: str) -> None:
    response = client.get("/v1/kpis", params=params)
    assert response.status_code == status
    assert response.json()["field"] == field


def test_openapi_documents_incidents(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in (
        "/v1/incidents",
        "/v1/incidents/{id}",
        "/v1/incidents/{id}/events",
        "/v1/incident-categories",
        "/v1/kpis",
    ):
        assert path in spec["paths"]
    post = spec["paths"]["/v1/incidents"]["post"]
    assert {"200", "201", "409", "422"} <= set(post["responses"])
    assert "WGS84" in post["description"]
