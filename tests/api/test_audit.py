"""The audit trail: incidents, events and responder changes recorded with actor and values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

CENTRAL = {"lon": 117.65, "lat": 24.51}  # central 芗城区, a community grid


def _ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


def _available(conn: Connection, role: str, offset: int = 0) -> int:
    return int(
        conn.execute(
            text(
                "SELECT id FROM responders WHERE role = :r AND status = 'available' "
                "ORDER BY id OFFSET :o LIMIT 1"
            ),
            {"r": role, "o": offset},
        ).scalar_one()
    )


def _incident(client: TestClient, external_id: str, key: str, **changes: Any) -> dict[str, Any]:
    body = {
        "external_id": external_id,
        "category": "theft",
        **CENTRAL,
        "reported_at": _ago(minutes=50),
        "description": "电动车被盗",
        **changes,
    }
    response = client.post("/v1/incidents", json=body, headers={"X-API-Key": key})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _all_entries(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    """Every entry matching `params`, following `next` through small pages."""
    entries: list[dict[str, Any]] = []
    response = client.get("/v1/audit", params={**params, "limit": 2})
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        entries += page["entries"]
        if page["next"] is None:
            return entries
        response = client.get(page["next"])


def test_incident_timeline_is_reconstructable_from_the_audit_log(
    client: TestClient, conn: Connection, api_keys: dict[str, str]
) -> None:
    dispatcher = api_keys["dispatcher"]
    incident = _incident(client, "audit-flow", dispatcher)
    officer = _available(conn, "community_police")
    unit = _available(conn, "police_unit")
    url = f"/v1/incidents/{incident['id']}/events"
    events = [
        {"type": "dispatched", "responder_id": officer, "at": _ago(minutes=49)},
        {"type": "dispatched", "responder_id": unit, "at": _ago(minutes=48), "note": "增援"},
        {"type": "arrived", "responder_id": officer, "at": _ago(minutes=45)},
        {"type": "resolved", "responder_id": officer, "at": _ago(minutes=20)},
        {"type": "closed", "at": _ago(minutes=10), "note": "办结"},
    ]
    for event in events:
        response = client.post(url, json=event, headers={"X-API-Key": dispatcher})
        assert response.status_code == 201, response.text
    # A rejected event is not part of the history and leaves no trace.
    late = {"type": "referred", "at": _ago(minutes=5)}
    assert client.post(url, json=late, headers={"X-API-Key": dispatcher}).status_code == 409

    entries = _all_entries(client, entity="incident", entity_id=str(incident["id"]))
    assert [e["action"] for e in entries] == ["incident.create"] + ["incident.event"] * 5
    assert {e["actor"] for e in entries} == {"key:test-dispatcher"}
    created = entries[0]["after"]
    assert created["external_id"] == "audit-flow" and created["category"] == "theft"
    assert created["grid"]["code"] == incident["grid"]["code"]
    assert entries[0]["before"] is None

    # Rebuild the timeline and the status history from the audit entries alone.
    rebuilt = [e["after"]["event"] for e in entries[1:]]
    statuses = [created["status"]] + [e["after"]["status"] for e in entries[1:]]
    for previous, entry in zip(statuses, entries[1:], strict=False):
        assert entry["before"]["status"] == previous
    detail = client.get(f"/v1/incidents/{incident['id']}").json()
    expected = [
        {k: e[k] for k in ("seq", "type", "responder_id", "responder_role", "note")}
        for e in detail["timeline"]
    ]
    assert [
        {k: e[k] for k in ("seq", "type", "responder_id", "responder_role", "note")}
        for e in rebuilt
    ] == expected
    for entry, event in zip(entries[1:], detail["timeline"], strict=True):
        assert datetime.fromisoformat(entry["after"]["event"]["at"]) == datetime.fromisoformat(
            event["at"]
        )
        # The entry is written in the event's transaction: the same commit time.
        assert datetime.fromisoformat(entry["at"]) == datetime.fromisoformat(event["recorded_at"])
    assert statuses == ["open", "dispatched", "dispatched", "on_scene", "resolved", "closed"]
    assert statuses[-1] == detail["status"]


def test_dispatch_and_closing_record_the_responders_status(
    client: TestClient, conn: Connection, api_keys: dict[str, str]
) -> None:
    incident = _incident(client, "audit-claim", api_keys["system"])
    officer = _available(conn, "community_police")
    url = f"/v1/incidents/{incident['id']}/events"
    headers = {"X-API-Key": api_keys["system"]}
    for event in (
        {"type": "dispatched", "responder_id": officer, "at": _ago(minutes=40)},
        {"type": "referred", "at": _ago(minutes=30)},
    ):
        assert client.post(url, json=event, headers=headers).status_code == 201
    assert client.get(f"/v1/responders/{officer}").json()["status"] == "busy"
    closing = client.post(url, json={"type": "closed", "at": _ago(minutes=20)}, headers=headers)
    assert closing.status_code == 201, closing.text
    assert client.get(f"/v1/responders/{officer}").json()["status"] == "available"

    entries = _all_entries(client, entity="responder", entity_id=str(officer))
    assert [(e["action"], e["actor"], e["before"], e["after"]) for e in entries] == [
        (
            "responder.status",
            "key:test-system",
            {"status": "available"},
            {"status": "busy", "incident_id": incident["id"]},
        ),
        (
            "responder.status",
            "key:test-system",
            {"status": "busy", "incident_id": incident["id"]},
            {"status": "available"},
        ),
    ]


def test_responder_changes_record_before_and_after(client: TestClient) -> None:
    created = client.post(
        "/v1/responders",
        json={
            "name": "林晓",
            "role": "volunteer",
            "home": CENTRAL,
            "skills": ["first_aid"],
            "ref": "audit-r1",
        },
    )
    assert created.status_code == 201, created.text
    responder_id = created.json()["responder_id"]
    url = f"/v1/responders/{responder_id}"
    assert client.patch(url, json={"status": "off_duty", "skills": ["cpr"]}).status_code == 200
    assert client.patch(url, json={"status": "off_duty"}).status_code == 200  # no change
    assert client.patch(url, json={"name": "林晓燕"}).status_code == 200

    entries = _all_entries(client, entity="responder", entity_id=str(responder_id))
    assert [e["action"] for e in entries] == [
        "responder.create",
        "responder.update",
        "responder.update",
    ]
    assert {e["actor"] for e in entries} == {"key:test-admin"}
    assert entries[0]["after"]["ref"] == "audit-r1"
    assert entries[0]["after"]["status"] == "available"
    assert entries[0]["after"]["home_grid_code"] is not None
    assert entries[1]["before"] == {"status": "available", "skills": ["first_aid"]}
    assert entries[1]["after"] == {"status": "off_duty", "skills": ["cpr"]}
    assert (entries[2]["before"], entries[2]["after"]) == ({"name": "林晓"}, {"name": "林晓燕"})


def test_audit_filters_by_time_and_pages(client: TestClient, conn: Connection) -> None:
    incident = _incident(client, "audit-window", client.headers["X-API-Key"])
    entries = _all_entries(client, entity="incident", entity_id=str(incident["id"]))
    assert len(entries) == 1
    at = datetime.fromisoformat(entries[0]["at"])
    window = {"entity": "incident", "entity_id": str(incident["id"])}
    inside = {"from": at.isoformat(), "to": (at + timedelta(microseconds=1)).isoformat()}
    assert len(_all_entries(client, **window, **inside)) == 1
    assert _all_entries(client, **window, **{"from": (at + timedelta(seconds=1)).isoformat()}) == []
    assert _all_entries(client, **window, to=at.isoformat()) == []
    # Pages follow each other without gaps or repeats.
    everything = _all_entries(client)
    ids = [e["id"] for e in everything]
    assert ids == sorted(set(ids)) and len(ids) >= 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"after": -1}, "after"),
        ({"from": "2026-11-26T08:00:00"}, "from"),  # no time zone
        ({"to": "yesterday"}, "to"),
        ({"entity": "incident'; DROP TABLE audit_log; --"}, "entity"),
        ({"entity_id": "x" * 65}, "entity_id"),
    ],
)
def test_bad_audit_queries_are_422(client: TestClient, params: dict[str, Any], field: str) -> None:
    response = client.get("/v1/audit", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_only_admins_read_the_audit_log(client: TestClient, api_keys: dict[str, str]) -> None:
    for role in ("dispatcher", "system", "planner"):
        response = client.get("/v1/audit", headers={"X-API-Key": api_keys[role]})
        assert response.status_code == 403
    assert client.get("/v1/audit", headers={"X-API-Key": api_keys["admin"]}).status_code == 200
