"""HTTP: POST/GET /v1/incidents/{id}/follow-up, mediation events, and the rates in /v1/kpis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

START = datetime.now(UTC) - timedelta(hours=2)


def _closed_dispute(client: TestClient, conn: Connection, external_id: str) -> int:
    mediator = int(
        conn.execute(
            text(
                "SELECT id FROM responders WHERE role = 'mediator' AND status = 'available' "
                "ORDER BY id LIMIT 1"
            )
        ).scalar_one()
    )
    incident = client.post(
        "/v1/incidents",
        json={
            "external_id": external_id,
            "category": "neighbour_dispute",
            "lon": 117.65,
            "lat": 24.51,
            "reported_at": START.isoformat(),
        },
    ).json()
    for minutes, event in enumerate(
        (
            {"type": "dispatched", "responder_id": mediator},
            {"type": "arrived", "responder_id": mediator},
            {"type": "mediated_success", "note": "双方和解"},
            {"type": "closed"},
        ),
        start=1,
    ):
        at = (START + timedelta(minutes=minutes)).isoformat()
        response = client.post(f"/v1/incidents/{incident['id']}/events", json=event | {"at": at})
        assert response.status_code == 201, response.text
    return int(incident["id"])


def test_follow_up_once_after_closing(client: TestClient, conn: Connection) -> None:
    incident_id = _closed_dispute(client, conn, "fu-1")
    body = {"reached": True, "satisfied": True, "note": "满意"}
    created = client.post(f"/v1/incidents/{incident_id}/follow-up", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["recorded_by"] == "key:test-admin"
    again = client.post(f"/v1/incidents/{incident_id}/follow-up", json=body)
    assert again.status_code == 409 and again.json()["field"] == "id"
    fetched = client.get(f"/v1/incidents/{incident_id}/follow-up").json()
    assert (fetched["reached"], fetched["satisfied"], fetched["note"]) == (True, True, "满意")

    kpis = client.get("/v1/kpis", params={"from": START.isoformat(), "area": "350602"}).json()
    county = next(r for r in kpis["areas"] if r["code"] == "350602")
    assert county["mediation_success_rate"] == 1.0
    assert county["settled_on_spot_rate"] == 1.0
    assert county["follow_up_reach_rate"] == 1.0
    assert county["follow_up_satisfaction_rate"] == 1.0
    assert kpis["published"]["mediation_success_rate"]["rate"] == 0.8
    assert kpis["published"]["settled_on_spot_rate"]["rate"] == 0.932


def test_follow_up_input_and_state_errors(client: TestClient, conn: Connection) -> None:
    open_one = client.post(
        "/v1/incidents",
        json={
            "external_id": "fu-open",
            "category": "noise",
            "lon": 117.65,
            "lat": 24.51,
            "reported_at": START.isoformat(),
        },
    ).json()["id"]
    not_closed = client.post(f"/v1/incidents/{open_one}/follow-up", json={"reached": False})
    assert not_closed.status_code == 409
    closed = _closed_dispute(client, conn, "fu-2")
    bad = client.post(
        f"/v1/incidents/{closed}/follow-up", json={"reached": False, "satisfied": True}
    )
    assert bad.status_code == 422 and bad.json()["field"] == "satisfied"
    missing = client.post(f"/v1/incidents/{closed}/follow-up", json={"satisfied": True})
    assert missing.status_code == 422 and missing.json()["field"] == "reached"
    assert (
        client.post("/v1/incidents/999999999/follow-up", json={"reached": True}).status_code == 404
    )
    # Nothing was written by the refused calls.
    assert client.get(f"/v1/incidents/{closed}/follow-up").status_code == 404


def test_follow_up_needs_the_dispatch_permission(
    client: TestClient, conn: Connection, api_keys: dict[str, str]
) -> None:
    incident_id = _closed_dispute(client, conn, "fu-3")
    planner = client.post(
        f"/v1/incidents/{incident_id}/follow-up",
        json={"reached": True},
        headers={"X-API-Key": api_keys["planner"]},
    )
    assert planner.status_code == 403
