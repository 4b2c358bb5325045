"""Faults: the database going away (503 fast, health says so, recovery without a restart) and
writes that fail half way leaving nothing behind."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from api.main import create_app
from gridgis import audit
from gridgis.auth import create_api_key
from gridgis.db.embedded import EmbeddedCluster
from gridgis.db.engine import make_engine
from gridgis.db.migrate import upgrade
from gridgis.dispatch import incidents
from gridgis.dispatch.eta import eta_model_from_settings
from gridgis.settings import Settings, resolve_secret_key
from tests.servers import free_port

# connect_timeout (1 s here) + pool_timeout (2 s here) bound a request when PostGIS is gone;
# a refused connection fails at once, so the real figure is far below this.
BOUND_S = 5.0


@pytest.fixture()
def scratch(settings: Settings, tmp_path: Path) -> Iterator[tuple[EmbeddedCluster, Settings]]:
    """A private cluster (own home and port) with a migrated database, safe to stop."""
    scratch_settings = settings.model_copy(
        update={
            "home": tmp_path / "gridgis-home",
            "embedded_port": free_port(),
            "database_url": None,
            "connect_timeout_s": 1,
            "pool_timeout_s": 2.0,
        }
    )
    cluster = EmbeddedCluster(scratch_settings)
    try:
        cluster.start()
        cluster.ensure_database()
        engine = make_engine(scratch_settings, pool_size=1)
        try:
            with engine.connect() as conn:
                upgrade(conn)
        finally:
            engine.dispose()
        yield cluster, scratch_settings
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(cluster.paths.server, ignore_errors=True)


def _timed(client: TestClient, method: str, path: str, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    response = client.request(method, path, **kwargs)
    return response, time.perf_counter() - started


def test_database_down_is_503_fast_and_recovers_without_restart(
    scratch: tuple[EmbeddedCluster, Settings],
) -> None:
    cluster, scratch_settings = scratch
    secret = resolve_secret_key(scratch_settings)
    engine = make_engine(scratch_settings, pool_size=1)
    with engine.begin() as conn:
        _, admin = create_api_key(conn, secret, name="faults-admin", role="admin")
        _, other = create_api_key(conn, secret, name="faults-other", role="dispatcher")
    engine.dispose()

    responder = {"name": "陈晨", "role": "volunteer", "home": {"lon": 117.65, "lat": 24.51}}
    with TestClient(create_app(scratch_settings), headers={"X-API-Key": admin}) as client:
        assert client.get("/v1/health").json()["database"] == "ok"
        assert client.get("/v1/incident-categories").status_code == 200

        cluster.stop()
        requests: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", "/v1/incident-categories", {}),  # key cached: fails in the route
            ("GET", "/v1/incidents", {"headers": {"X-API-Key": other}}),  # fails in auth
            ("POST", "/v1/responders", {"json": responder}),  # a write
            ("GET", "/v1/incident-categories", {}),  # the pool holds no zombie
        ]
        latencies = []
        for method, path, kwargs in requests:
            response, seconds = _timed(client, method, path, **kwargs)
            latencies.append(seconds)
            assert response.status_code == 503, (path, response.text)
            assert response.json()["error"] == "database_unavailable"
            assert "unreachable" in response.json()["message"]
            assert response.headers["retry-after"] == "5"
            assert seconds < BOUND_S, (path, seconds)
        health, seconds = _timed(client, "GET", "/v1/health")
        assert health.status_code == 503
        assert health.json()["status"] == "degraded"
        assert health.json()["database"] == "unavailable"
        assert seconds < BOUND_S
        print(f"database down: slowest 503 in {max([*latencies, seconds]) * 1000:.0f} ms")

        cluster.start()
        deadline = time.monotonic() + 10
        while client.get("/v1/health").status_code != 200:  # recovers on its own
            assert time.monotonic() < deadline, "the service did not recover"
            time.sleep(0.2)
        assert client.get("/v1/health").json()["database"] == "ok"
        assert client.get("/v1/incident-categories").status_code == 200
        created = client.post("/v1/responders", json=responder)
        assert created.status_code == 201, created.text
        listed = client.get(
            "/v1/responders", params={"format": "json"}, headers={"X-API-Key": other}
        )
        assert [r["responder_id"] for r in listed.json()["responders"]] == [
            created.json()["responder_id"]
        ]


# -- atomic writes (committed data on the shared test database, cleaned up after) -------------
@pytest.fixture()
def committed_incident(engine: Engine, settings: Settings) -> Iterator[dict[str, Any]]:
    """A committed incident and an available responder; removed (and restored) afterwards."""
    now = datetime.now(UTC)
    with engine.begin() as c:
        responder = int(
            c.execute(
                text(
                    "SELECT id FROM responders WHERE role = 'police_unit' "
                    "AND status = 'available' ORDER BY id OFFSET 9 LIMIT 1"
                )
            ).scalar_one()
        )
        incident = incidents.report_incident(
            c,
            incidents.IncidentReport(
                "t-atomic", "theft", 117.65, 24.51, now - timedelta(minutes=30)
            ),
            eta_model_from_settings(settings),
            now=now,
        ).incident
    try:
        yield {"incident": incident["id"], "responder": responder}
    finally:
        with engine.begin() as c:
            c.execute(text("DELETE FROM incidents WHERE id = :id"), {"id": incident["id"]})
            c.execute(
                text("UPDATE responders SET status = 'available' WHERE id = :id"),
                {"id": responder},
            )
            c.execute(
                text(
                    "DELETE FROM audit_log WHERE (entity = 'incident' AND entity_id = :i) "
                    "OR (entity = 'responder' AND entity_id = :r)"
                ),
                {"i": str(incident["id"]), "r": str(responder)},
            )


def _state(engine: Engine, incident_id: int, responder_id: int) -> dict[str, Any]:
    with engine.connect() as c:
        return {
            "events": c.execute(
                text("SELECT COUNT(*) FROM incident_events WHERE incident_id = :i"),
                {"i": incident_id},
            ).scalar_one(),
            "status": c.execute(
                text("SELECT status FROM incidents WHERE id = :i"), {"i": incident_id}
            ).scalar_one(),
            "responder": c.execute(
                text("SELECT status FROM responders WHERE id = :r"), {"r": responder_id}
            ).scalar_one(),
            "audit": c.execute(
                text(
                    "SELECT COUNT(*) FROM audit_log WHERE (entity = 'incident' "
                    "AND entity_id = :i AND action = 'incident.event') "
                    "OR (entity = 'responder' AND entity_id = :r)"
                ),
                {"i": str(incident_id), "r": str(responder_id)},
            ).scalar_one(),
        }


def test_a_dispatch_failing_after_its_writes_leaves_nothing(
    engine: Engine,
    settings: Settings,
    test_database_url: str,
    api_keys: dict[str, str],
    committed_incident: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The event row, the responder's new status and two audit entries are written, then the
    connection dies: the request is a 503 and none of it is kept."""
    incident_id, responder = committed_incident["incident"], committed_incident["responder"]
    before = _state(engine, incident_id, responder)
    real_record = audit.record

    def record_then_die(db: Connection, **entry: Any) -> None:
        real_record(db, **entry)
        if entry["action"] == "incident.event":
            raise OperationalError("INSERT INTO audit_log ...", {}, Exception("connection lost"))

    monkeypatch.setattr(audit, "record", record_then_die)
    app = create_app(settings.model_copy(update={"database_url": test_database_url}))
    with TestClient(app, headers={"X-API-Key": api_keys["dispatcher"]}) as client:
        response = client.post(
            f"/v1/incidents/{incident_id}/events",
            json={
                "type": "dispatched",
                "responder_id": responder,
                "at": (datetime.now(UTC) - timedelta(minutes=20)).isoformat(),
            },
        )
        assert response.status_code == 503, response.text
        assert _state(engine, incident_id, responder) == before
        assert before == {"events": 0, "status": "open", "responder": "available", "audit": 0}

        monkeypatch.undo()
        retry = client.post(
            f"/v1/incidents/{incident_id}/events",
            json={
                "type": "dispatched",
                "responder_id": responder,
                "at": (datetime.now(UTC) - timedelta(minutes=20)).isoformat(),
            },
        )
        assert retry.status_code == 201, retry.text
    assert _state(engine, incident_id, responder) == {
        "events": 1,
        "status": "dispatched",
        "responder": "busy",
        "audit": 2,
    }


def test_a_rejected_event_leaves_no_event_and_no_audit_entry(
    engine: Engine,
    settings: Settings,
    test_database_url: str,
    api_keys: dict[str, str],
    committed_incident: dict[str, Any],
) -> None:
    incident_id, responder = committed_incident["incident"], committed_incident["responder"]
    with engine.begin() as c:  # someone else holds the responder
        c.execute(text("UPDATE responders SET status = 'busy' WHERE id = :r"), {"r": responder})
    app = create_app(settings.model_copy(update={"database_url": test_database_url}))
    with TestClient(app, headers={"X-API-Key": api_keys["dispatcher"]}) as client:
        response = client.post(
            f"/v1/incidents/{incident_id}/events",
            json={
                "type": "dispatched",
                "responder_id": responder,
                "at": (datetime.now(UTC) - timedelta(minutes=20)).isoformat(),
            },
        )
    assert response.status_code == 409
    assert response.json()["field"] == "responder_id"
    assert _state(engine, incident_id, responder) == {
        "events": 0,
        "status": "open",
        "responder": "busy",
        "audit": 0,
    }


def test_a_failed_commit_is_an_error_not_a_success(
    engine: Engine,
    settings: Settings,
    test_database_url: str,
    api_keys: dict[str, str],
    committed_incident: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The commit runs before the response is sent: when it fails the client is told."""
    incident_id, responder = committed_incident["incident"], committed_incident["responder"]
    before = _state(engine, incident_id, responder)

    def commit_fails(self: Session) -> None:
        raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    app = create_app(settings.model_copy(update={"database_url": test_database_url}))
    with TestClient(app, headers={"X-API-Key": api_keys["dispatcher"]}) as client:
        client.get("/v1/incident-categories")  # authenticate (and commit) before the fault
        monkeypatch.setattr(Session, "commit", commit_fails)
        response = client.post(
            f"/v1/incidents/{incident_id}/events",
            json={
                "type": "dispatched",
                "responder_id": responder,
                "at": (datetime.now(UTC) - timedelta(minutes=20)).isoformat(),
            },
        )
    assert response.status_code == 503, response.text
    assert _state(engine, incident_id, responder) == before
