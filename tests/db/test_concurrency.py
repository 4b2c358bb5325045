"""Two dispatchers claiming one responder at once: the row lock lets exactly one win (409 else)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text

from api.main import create_app
from gridgis.dispatch.eta import eta_model_from_settings
from gridgis.dispatch.incidents import EventReport, IncidentReport, add_event, report_incident
from gridgis.errors import Conflict
from gridgis.settings import Settings

NOW = datetime.now(UTC)


@pytest.fixture()
def committed(engine: Engine, settings: Settings) -> Iterator[dict[str, Any]]:
    """Two committed incidents and an available responder; all of it removed afterwards."""
    model = eta_model_from_settings(settings)
    with engine.begin() as c:
        responder, status = c.execute(
            text(
                "SELECT id, status FROM responders WHERE role = 'community_police' "
                "AND status = 'available' ORDER BY id OFFSET 7 LIMIT 1"
            )
        ).one()
        incidents = [
            report_incident(
                c,
                IncidentReport(
                    f"t-claim-{i}", "theft", 117.65 + i / 1000, 24.51, NOW - timedelta(minutes=20)
                ),
                model,
                now=NOW,
            ).incident["id"]
            for i in range(2)
        ]
    try:
        yield {"responder": int(responder), "incidents": incidents}
    finally:
        with engine.begin() as c:
            c.execute(text("DELETE FROM incidents WHERE id = ANY(:ids)"), {"ids": incidents})
            c.execute(
                text("UPDATE responders SET status = :s WHERE id = :id"),
                {"s": status, "id": responder},
            )
            c.execute(
                text(
                    "DELETE FROM audit_log WHERE (entity = 'incident' AND entity_id = ANY(:ids)) "
                    "OR (entity = 'responder' AND entity_id = :responder)"
                ),
                {"ids": [str(i) for i in incidents], "responder": str(responder)},
            )


def _dispatched_events(engine: Engine, responder: int) -> list[int]:
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT incident_id FROM incident_events "
                "WHERE responder_id = :r AND type = 'dispatched'"
            ),
            {"r": responder},
        )
        return [int(r[0]) for r in rows]


def test_the_second_claim_waits_for_the_first_and_then_conflicts(
    engine: Engine, committed: dict[str, Any]
) -> None:
    responder = committed["responder"]
    first_incident, second_incident = committed["incidents"]
    event = EventReport("dispatched", NOW - timedelta(minutes=10), responder)
    outcome: dict[str, Any] = {}
    with engine.connect() as first, engine.connect() as second:
        add_event(first, first_incident, event, now=NOW, actor="dispatcher-a")  # holds the lock

        def racer() -> None:
            try:
                add_event(second, second_incident, event, now=NOW, actor="dispatcher-b")
                second.commit()
            except Conflict as exc:
                outcome["conflict"] = exc
                second.rollback()

        thread = threading.Thread(target=racer)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive(), "the second claim waits for the responder's row lock"
        first.commit()
        thread.join(timeout=10)
        assert not thread.is_alive()
    conflict = outcome["conflict"]
    assert conflict.field == "responder_id"
    assert str(responder) in conflict.message and "busy" in conflict.message
    assert _dispatched_events(engine, responder) == [first_incident]
    with engine.connect() as c:
        status = c.execute(
            text("SELECT status FROM responders WHERE id = :id"), {"id": responder}
        ).scalar_one()
        losers = c.execute(
            text("SELECT COUNT(*) FROM audit_log WHERE actor = 'dispatcher-b'")
        ).scalar_one()
    assert status == "busy"
    assert losers == 0  # the loser's transaction left no audit entry


def test_two_dispatchers_over_http_exactly_one_wins(
    engine: Engine,
    settings: Settings,
    test_database_url: str,
    api_keys: dict[str, str],
    committed: dict[str, Any],
) -> None:
    """Real sessions (committed, one connection each), two threads released together."""
    responder = committed["responder"]
    app = create_app(settings.model_copy(update={"database_url": test_database_url}))
    barrier = threading.Barrier(2)
    answers: dict[int, Any] = {}

    with TestClient(app, headers={"X-API-Key": api_keys["dispatcher"]}) as client:
        client.get("/v1/incident-categories")  # authenticate once: both racers skip the lookup

        def dispatch(incident_id: int) -> None:
            barrier.wait()
            answers[incident_id] = client.post(
                f"/v1/incidents/{incident_id}/events",
                json={
                    "type": "dispatched",
                    "responder_id": responder,
                    "at": (NOW - timedelta(minutes=10)).isoformat(),
                },
            )

        threads = [threading.Thread(target=dispatch, args=(i,)) for i in committed["incidents"]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
        assert sorted(r.status_code for r in answers.values()) == [201, 409]
        winner = next(i for i, r in answers.items() if r.status_code == 201)
        loser = next(r for r in answers.values() if r.status_code == 409)
        assert loser.json()["error"] == "conflict"
        assert loser.json()["field"] == "responder_id"
        assert str(responder) in loser.json()["message"]
        assert client.get(f"/v1/responders/{responder}").json()["status"] == "busy"
    assert _dispatched_events(engine, responder) == [winner]


def test_closing_frees_only_the_responders_the_incident_still_holds(
    conn: Connection, settings: Settings
) -> None:
    model = eta_model_from_settings(settings)
    first, second = (
        report_incident(
            conn,
            IncidentReport(f"t-free-{i}", "theft", 117.65, 24.51, NOW - timedelta(minutes=30)),
            model,
            now=NOW,
        ).incident["id"]
        for i in range(2)
    )
    responder = conn.execute(
        text(
            "SELECT id FROM responders WHERE role = 'police_unit' AND status = 'available' "
            "ORDER BY id LIMIT 1"
        )
    ).scalar_one()

    def status() -> str:
        return str(
            conn.execute(
                text("SELECT status FROM responders WHERE id = :id"), {"id": responder}
            ).scalar_one()
        )

    def event(incident: int, type_: str, minutes: int, who: int | None = None) -> None:
        add_event(
            conn, incident, EventReport(type_, NOW - timedelta(minutes=minutes), who), now=NOW
        )

    event(first, "dispatched", 25, responder)
    assert status() == "busy"
    # Someone releases the responder by hand and another incident claims them.
    conn.execute(
        text("UPDATE responders SET status = 'available' WHERE id = :id"), {"id": responder}
    )
    event(second, "dispatched", 24, responder)
    event(first, "referred", 20)
    event(first, "closed", 19)
    assert status() == "busy"  # held by the second incident now
    event(second, "referred", 18)
    event(second, "closed", 17)
    assert status() == "available"
