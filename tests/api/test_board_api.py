"""HTTP: the dispatch board's reads — area search, outlines per zoom, summary, the open queue,
responders in a view — and their place in the permission table and the OpenAPI document."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

CENTRAL = {"lon": 117.65, "lat": 24.51}  # central 芗城区, a community grid


def _vertices(geometry: dict[str, Any]) -> int:
    return sum(len(ring) for polygon in geometry["coordinates"] for ring in polygon)


def _incident(client: TestClient, external_id: str, minutes_ago: float, **extra: Any) -> dict:
    body = {
        "external_id": external_id,
        "category": "theft",
        **CENTRAL,
        "reported_at": (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(),
        **extra,
    }
    response = client.post("/v1/incidents", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


# -- area search -----------------------------------------------------------------------------------
def test_search_by_chinese_name_ranks_the_county_first(client: TestClient) -> None:
    response = client.get("/v1/areas/search", params={"q": "芗城"})
    assert response.status_code == 200
    areas = response.json()["areas"]
    assert areas, "芗城 matches 芗城区 and what is named after it"
    assert areas[0]["name"] == "芗城区" and areas[0]["level"] == "county"
    assert all("芗城" in a["name"] or a["code"].startswith("芗城") for a in areas)
    west, south, east, north = areas[0]["bbox"]
    assert west < areas[0]["point"]["lon"] < east and south < areas[0]["point"]["lat"] < north


def test_search_by_code_prefix_and_exact_code(client: TestClient, conn: Connection) -> None:
    code, name = conn.execute(
        text(
            "SELECT a.code, a.name FROM areas a JOIN generations g ON g.id = a.generation_id "
            "WHERE g.active AND a.level = 'grid' ORDER BY a.code LIMIT 1"
        )
    ).one()
    exact = client.get("/v1/areas/search", params={"q": code}).json()["areas"]
    assert exact[0]["code"] == code and exact[0]["match"] == "exact"
    prefix = client.get(
        "/v1/areas/search", params={"q": code[:9], "level": "grid", "limit": 50}
    ).json()["areas"]
    assert prefix and all(a["code"].startswith(code[:9]) and a["level"] == "grid" for a in prefix)
    assert code in [a["code"] for a in prefix]
    by_name = client.get("/v1/areas/search", params={"q": name, "level": "grid"}).json()
    assert code in [a["code"] for a in by_name["areas"]]


def test_search_treats_like_wildcards_literally(client: TestClient) -> None:
    response = client.get("/v1/areas/search", params={"q": "%"})
    assert response.status_code == 200
    assert response.json()["areas"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [({"q": ""}, "q"), ({"q": "x", "limit": 0}, "limit"), ({"q": "x", "level": "planet"}, "level")],
)
def test_search_rejects_bad_input(client: TestClient, params: dict, field: str) -> None:
    response = client.get("/v1/areas/search", params=params)
    assert response.status_code == 422
    assert response.json()["field"] == field


# -- outlines ------------------------------------------------------------------------------------
def test_outlines_simplify_with_the_zoom(client: TestClient) -> None:
    coarse = client.get("/v1/areas/outlines", params={"level": "county", "zoom": 8}).json()
    fine = client.get("/v1/areas/outlines", params={"level": "county", "zoom": 15}).json()
    assert len(coarse["features"]) == len(fine["features"]) == 11
    assert coarse["tolerance_deg"] > fine["tolerance_deg"]
    coarse_vertices = sum(_vertices(f["geometry"]) for f in coarse["features"])
    fine_vertices = sum(_vertices(f["geometry"]) for f in fine["features"])
    assert coarse_vertices < fine_vertices / 2
    assert {f["properties"]["level"] for f in coarse["features"]} == {"county"}


def test_outlines_in_a_bbox_only_meet_it(client: TestClient) -> None:
    everywhere = client.get("/v1/areas/outlines", params={"level": "grid", "zoom": 12}).json()
    box = "117.64,24.50,117.66,24.52"
    near = client.get(
        "/v1/areas/outlines", params={"level": "grid", "zoom": 14, "bbox": box}
    ).json()
    assert 0 < len(near["features"]) < len(everywhere["features"])
    located = client.get("/v1/locate", params=CENTRAL).json()["grid"]["code"]
    assert located in {f["properties"]["code"] for f in near["features"]}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"level": "grid", "zoom": 30}, "zoom"),
        ({"level": "grid", "zoom": 12, "bbox": "1,2,3"}, "bbox"),
        ({"level": "grid", "zoom": 12, "bbox": "118,24,117,25"}, "bbox"),
        ({"level": "grid", "zoom": 12, "bbox": "a,b,c,d"}, "bbox"),
        ({"level": "grid", "zoom": 12, "bbox": "nan,24,118,25"}, "bbox"),
    ],
)
def test_outlines_reject_bad_input(client: TestClient, params: dict, field: str) -> None:
    response = client.get("/v1/areas/outlines", params=params)
    assert response.status_code == 422
    assert response.json()["field"] == field


# -- summary and queue ---------------------------------------------------------------------------
def test_summary_counts_match_the_database(client: TestClient, conn: Connection) -> None:
    _incident(client, "board-summary-1", 2)
    summary = client.get("/v1/summary").json()
    open_now = conn.execute(
        text("SELECT count(*) FROM incidents WHERE status <> 'closed'")
    ).scalar_one()
    assert summary["open_incidents"] == open_now >= 1
    counts = {
        (r.role, r.status): r.n
        for r in conn.execute(
            text("SELECT role, status, count(*) AS n FROM responders GROUP BY role, status")
        )
    }
    for role in summary["responders"]:
        for status in ("available", "busy", "off_duty"):
            assert role[status] == counts.get((role["role"], status), 0)
    assert {"grid_worker", "community_police", "volunteer"} <= {
        r["role"] for r in summary["responders"]
    }


def test_queue_is_open_incidents_oldest_first(client: TestClient, conn: Connection) -> None:
    newer = _incident(client, "board-queue-new", 1)
    older = _incident(client, "board-queue-old", 4)
    closed = _incident(client, "board-queue-closed", 3)
    responder = int(
        conn.execute(
            text(
                "SELECT id FROM responders WHERE role = 'community_police' "
                "AND status = 'available' ORDER BY id LIMIT 1"
            )
        ).scalar_one()
    )
    now = datetime.now(UTC)
    for event in (
        {"type": "dispatched", "responder_id": responder},
        {"type": "referred"},
        {"type": "closed"},
    ):
        response = client.post(
            f"/v1/incidents/{closed['id']}/events", json={**event, "at": now.isoformat()}
        )
        assert response.status_code == 201, response.text
    dispatched = _incident(client, "board-queue-dispatched", 2)
    client.post(
        f"/v1/incidents/{dispatched['id']}/events",
        json={"type": "dispatched", "responder_id": responder + 0, "at": now.isoformat()},
    )
    queue = client.get("/v1/incidents/queue").json()
    ids = [i["id"] for i in queue["incidents"]]
    assert closed["id"] not in ids
    assert ids.index(older["id"]) < ids.index(dispatched["id"]) < ids.index(newer["id"])
    reported = [i["reported_at"] for i in queue["incidents"]]
    assert reported == sorted(reported)
    item = queue["incidents"][ids.index(older["id"])]
    assert item["top"]["responder_id"] == older["recommendation"]["responders"][0]["responder_id"]
    assert item["grid"]["code"] == older["grid"]["code"]
    assert queue["total"] >= 3


def test_queue_limit_is_bounded(client: TestClient) -> None:
    assert client.get("/v1/incidents/queue", params={"limit": 0}).status_code == 422
    assert client.get("/v1/incidents/queue", params={"limit": 501}).status_code == 422


# -- responders in view ----------------------------------------------------------------------------
def test_responders_in_view_are_placed_as_dispatch_would(
    client: TestClient, conn: Connection, api_keys: dict[str, str]
) -> None:
    row = conn.execute(
        text(
            "SELECT id, ST_X(home) AS lon, ST_Y(home) AS lat FROM responders "
            "WHERE role = 'grid_worker' ORDER BY id LIMIT 1"
        )
    ).one()
    box = f"{row.lon - 0.01},{row.lat - 0.01},{row.lon + 0.01},{row.lat + 0.01}"
    found = client.get("/v1/responders/in-view", params={"bbox": box}).json()
    by_id = {r["id"]: r for r in found["responders"]}
    assert by_id[row.id]["position"]["source"] == "home"
    for r in found["responders"]:
        assert row.lon - 0.01 <= r["position"]["lon"] <= row.lon + 0.01
    # A fresh live fix far away moves the responder out of this view and into that one.
    moved = client.put(
        f"/v1/responders/{row.id}/position",
        json={"lon": 117.80, "lat": 24.60, "recorded_at": datetime.now(UTC).isoformat()},
        headers={"X-API-Key": api_keys["system"]},
    )
    assert moved.status_code in (200, 204), moved.text
    again = client.get("/v1/responders/in-view", params={"bbox": box}).json()
    assert row.id not in {r["id"] for r in again["responders"]}
    there = client.get(
        "/v1/responders/in-view",
        params={"bbox": "117.79,24.59,117.81,24.61", "roles": "grid_worker"},
    ).json()
    live = {r["id"]: r for r in there["responders"]}[row.id]
    assert live["position"]["source"] == "live"
    assert {r["role"] for r in there["responders"]} == {"grid_worker"}


def test_responders_in_view_truncate_and_filter(client: TestClient) -> None:
    box = "117.55,24.45,117.75,24.60"
    one = client.get("/v1/responders/in-view", params={"bbox": box, "limit": 1}).json()
    assert len(one["responders"]) == 1 and one["truncated"] is True
    busy = client.get("/v1/responders/in-view", params={"bbox": box, "status": "busy"}).json()
    assert all(r["status"] == "busy" for r in busy["responders"])
    bad = client.get("/v1/responders/in-view", params={"bbox": box, "status": "asleep"})
    assert bad.status_code == 422 and bad.json()["field"] == "status"
    assert client.get("/v1/responders/in-view", params={"bbox": "0,0"}).status_code == 422
    unknown = client.get("/v1/responders/in-view", params={"bbox": box, "roles": "wizard"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "roles"


def test_queue_times_are_rfc3339_utc(client: TestClient) -> None:
    _incident(client, "board-queue-times", 2)
    item = client.get("/v1/incidents/queue").json()["incidents"][0]
    for name in ("reported_at", "received_at", "updated_at"):
        assert item[name].endswith("Z"), item[name]


# -- permissions and documentation ---------------------------------------------------------------
READS = [
    ("/v1/areas/search", {"q": "芗城"}),
    ("/v1/areas/outlines", {"level": "county", "zoom": 9}),
    ("/v1/summary", {}),
    ("/v1/incidents/queue", {}),
    ("/v1/responders/in-view", {"bbox": "117.6,24.5,117.7,24.6"}),
]


@pytest.mark.parametrize(("path", "params"), READS)
def test_board_reads_need_a_key_and_any_role_may_read(
    client: TestClient, api_keys: dict[str, str], path: str, params: dict
) -> None:
    assert client.get(path, params=params, headers={"X-API-Key": ""}).status_code == 401
    for role in ("planner", "dispatcher", "system"):
        response = client.get(path, params=params, headers={"X-API-Key": api_keys[role]})
        assert response.status_code == 200, (role, response.text)


def test_stream_needs_a_key_and_an_event_stream_client(
    client: TestClient, api_keys: dict[str, str]
) -> None:
    assert client.get("/v1/stream", headers={"X-API-Key": ""}).status_code == 401
    # A client that would wait for the end of the endless body is told what to send.
    plain = client.get("/v1/stream", headers={"X-API-Key": api_keys["planner"]})
    assert plain.status_code == 422 and plain.json()["field"] == "Accept"


def test_board_routes_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, _ in READS:
        assert "get" in paths[path]
    assert "text/event-stream" in json.dumps(paths["/v1/stream"])
