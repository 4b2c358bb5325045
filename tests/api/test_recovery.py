"""Recovery after a database restart, as an operator sees it: a real server with two worker
processes, PostgreSQL stopped and started under it; once one request has seen the database
back, no later request fails on a connection that died in the outage."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import text

from gridgis.auth import create_api_key
from gridgis.db.embedded import EmbeddedCluster
from gridgis.db.engine import make_engine
from gridgis.db.migrate import upgrade
from gridgis.settings import Settings, resolve_secret_key
from tests.servers import free_port, served

if TYPE_CHECKING:
    from gridgis.demo.generate import DemoData

CALL = {"lon": 117.65, "lat": 24.51}


@pytest.fixture()
def cluster(
    settings: Settings, demo: DemoData, tmp_path: Path
) -> Iterator[tuple[EmbeddedCluster, Settings]]:
    """A private cluster (own home and port, safe to stop) with the small demo loaded."""
    from gridgis.demo.load import load_demo

    own = settings.model_copy(
        update={
            "home": tmp_path / "gridgis-home",
            "embedded_port": free_port(),
            "database_url": None,
            "connect_timeout_s": 1,
            "pool_timeout_s": 2.0,
        }
    )
    cluster = EmbeddedCluster(own)
    try:
        cluster.start()
        cluster.ensure_database()
        engine = make_engine(own, pool_size=1, bulk=True)
        try:
            with engine.connect() as conn:
                upgrade(conn)
                load_demo(conn, demo)
                conn.commit()
        finally:
            engine.dispose()
        yield cluster, own
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(cluster.paths.server, ignore_errors=True)


@pytest.fixture()
def server(cluster: tuple[EmbeddedCluster, Settings]) -> Iterator[tuple[str, str, list[int]]]:
    """`gridgis serve --workers 2` on the private cluster: (base URL, API key, responder ids)."""
    _, own = cluster
    engine = make_engine(own, pool_size=1)
    with engine.begin() as conn:
        _, key = create_api_key(conn, resolve_secret_key(own), name="recovery", role="admin")
        responders = list(
            conn.execute(
                text("SELECT id FROM responders WHERE role = 'volunteer' ORDER BY id LIMIT 50")
            ).scalars()
        )
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDGIS_")}
    env.update(
        GRIDGIS_ENV="test",
        GRIDGIS_HOME=str(own.home),
        GRIDGIS_EMBEDDED_PORT=str(own.embedded_port),
        GRIDGIS_CONNECT_TIMEOUT_S="1",
        GRIDGIS_POOL_TIMEOUT_S="2",
        GRIDGIS_EXPIRE_POSITIONS_EVERY_S="0",
    )
    with served(env) as base:
        yield base, key, responders


def _mixed_requests(responders: list[int], tag: str, count: int) -> list[tuple[str, str, Any]]:
    """Reads, incident intake, position batches and status changes, interleaved."""
    now = datetime.now(UTC)
    requests: list[tuple[str, str, Any]] = []
    for i in range(count):
        responder = responders[i % len(responders)]
        kind = i % 6
        if kind == 0:
            requests.append(("GET", "/v1/locate", {"params": CALL}))
        elif kind == 1:
            requests.append(("GET", "/v1/responders/nearest", {"params": CALL}))
        elif kind == 2:
            body = {
                "external_id": f"recovery-{tag}-{i}",
                "category": "theft",
                **CALL,
                "reported_at": (now - timedelta(minutes=1)).isoformat(),
            }
            requests.append(("POST", "/v1/incidents", {"json": body}))
        elif kind == 3:
            fix = {
                "responder_id": responder,
                "lon": 117.65 + i * 1e-4,
                "lat": 24.51,
                "recorded_at": (now + timedelta(seconds=i)).isoformat(),
            }
            requests.append(("POST", "/v1/positions/batch", {"json": {"positions": [fix]}}))
        elif kind == 4:
            status = "busy" if i % 12 == 4 else "available"
            requests.append(("PATCH", f"/v1/responders/{responder}", {"json": {"status": status}}))
        else:
            requests.append(("GET", "/v1/incidents", {}))
    return requests


def _send(base: str, key: str, requests: list[tuple[str, str, Any]]) -> list[str]:
    """Each request on a new TCP connection, so the kernel spreads them over both workers."""
    failures = []
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, limits=limits) as client:
        for method, path, kwargs in requests:
            response = client.request(method, path, timeout=10, **kwargs)
            if response.status_code >= 300:
                failures.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
    return failures


def test_no_request_fails_once_the_database_is_back(
    cluster: tuple[EmbeddedCluster, Settings], server: tuple[str, str, list[int]]
) -> None:
    embedded, _ = cluster
    base, key, responders = server
    # Every pool of both workers holds connections from before the outage.
    assert _send(base, key, _mixed_requests(responders, "before", 60)) == []

    embedded.stop()
    embedded.start()
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=base, headers={"X-API-Key": key}) as client:
        while client.get("/v1/locate", params=CALL, timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "locate did not come back"
            time.sleep(0.2)

    assert _send(base, key, _mixed_requests(responders, "after", 50)) == []


def test_a_read_on_a_connection_killed_under_it_is_retried_once(
    settings: Settings,
    test_database_url: str,
    api_keys: dict[str, str],
    engine: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A dispatch read whose pooled connection died without the pool knowing (here: its
    backend terminated, and no ping before use) runs again on a fresh connection."""
    from fastapi.testclient import TestClient

    import gridgis.db.engine as engine_module
    from api.main import create_app

    monkeypatch.setattr(engine_module, "PING_IF_IDLE_S", 3600.0)
    app = create_app(settings.model_copy(update={"database_url": test_database_url}))
    with TestClient(app, headers={"X-API-Key": api_keys["dispatcher"]}) as client:
        assert client.get("/v1/locate", params=CALL).status_code == 200
        pooled = app.state.read_engine.raw_connection()  # the one locate used, back in the pool
        backend = pooled.driver_connection.info.backend_pid
        pooled.close()
        with engine.connect() as conn:
            killed = conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
            assert killed.scalar_one() is True
        response = client.get("/v1/locate", params=CALL)
        assert response.status_code == 200, response.text
