"""Coverage-run progress is shared by every server process: a run computed by one worker of a
real `gridgis serve --workers 2` is reported by whichever worker answers the console's poll,
with who started it; stale rows of a dead process are neither reported nor kept."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from gridgis.coverage.progress import ProgressWriter, delete_stale, runs_in_progress
from gridgis.settings import Settings, resolve_secret_key
from tests.servers import served

if TYPE_CHECKING:
    from gridgis.demo.generate import DemoData

CLIENT_TOKEN = "console-tab-1"


@pytest.fixture(scope="module")
def two_workers(
    settings: Settings, test_database_url: str, demo: DemoData
) -> Iterator[tuple[str, dict[str, str]]]:
    """`gridgis serve --workers 2` on a database of its own with the demo: (URL, keys)."""
    from gridgis.auth import create_api_key
    from gridgis.db.embedded import ensure_database
    from gridgis.db.engine import make_engine
    from gridgis.db.migrate import upgrade
    from gridgis.demo.load import load_demo

    url = make_url(test_database_url)
    name = f"{url.database}_progress"
    admin = url.set(drivername="postgresql", database="postgres")
    ensure_database(admin.render_as_string(hide_password=False), name, drop_first=True)
    database_url = url.set(database=name).render_as_string(hide_password=False)
    own = settings.model_copy(update={"database_url": database_url})
    engine = make_engine(own, pool_size=1)
    try:
        with engine.connect() as conn:
            upgrade(conn)
            load_demo(conn, demo)
            conn.commit()
        keys = {}
        with engine.begin() as conn:
            for role in ("planner", "admin"):
                _, keys[role] = create_api_key(
                    conn, resolve_secret_key(own), name=f"progress-{role}", role=role
                )
    finally:
        engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDGIS_")}
    env.update(
        GRIDGIS_ENV="test",
        GRIDGIS_DATABASE_URL=database_url,
        GRIDGIS_EXPIRE_POSITIONS_EVERY_S="0",
    )
    with served(env) as base:
        yield base, keys


def _poll(base: str, key: str) -> dict[str, Any]:
    """One poll on a new TCP connection, so the kernel spreads the polls over both workers."""
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, limits=limits) as client:
        response = client.get("/v1/coverage/progress", timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_every_worker_reports_a_run_in_progress(two_workers: tuple[str, dict[str, str]]) -> None:
    base, keys = two_workers
    result: dict[str, Any] = {}

    def start_run() -> None:
        with httpx.Client(base_url=base, headers={"X-API-Key": keys["admin"]}) as client:
            result["response"] = client.post(
                "/v1/coverage/runs",
                json={"resolution": 9, "client_token": CLIENT_TOKEN},
                timeout=120,
            )

    thread = threading.Thread(target=start_run)
    thread.start()
    mine: list[list[dict[str, Any]]] = []  # the starter's polls, in order
    theirs: list[list[dict[str, Any]]] = []  # another key's polls
    while thread.is_alive():
        mine.append(_poll(base, keys["admin"])["runs"])
        theirs.append(_poll(base, keys["planner"])["runs"])
    thread.join()
    assert result["response"].status_code == 201, result["response"].text

    seen = [i for i, runs in enumerate(mine) if runs]
    assert seen, "no poll saw the run"
    window = mine[seen[0] : seen[-1] + 1]
    # Every poll between the first and the last that saw it saw it, whichever worker answered.
    assert len(window) >= 6, f"the run was seen for only {len(window)} polls"
    assert all(len(runs) == 1 for runs in window), [len(r) for r in mine]
    for runs in window:
        [run] = runs
        assert run["mine"] is True and run["client_token"] == CLIENT_TOKEN
        assert run["started_by"].startswith("key:progress-admin")
        assert run["parameters"]["resolution"] == 9 and "client_token" not in run["parameters"]
    stages = {runs[0]["stage"] for runs in window}
    assert stages - {"queued"}, stages
    # Another planner sees the run as someone else's, without its client token.
    other = [runs[0] for runs in theirs if runs]
    assert other and all(r["mine"] is False and r["client_token"] is None for r in other)
    assert other[0]["started_by"] == window[0][0]["started_by"]
    # Finished: nobody reports it any more.
    assert _poll(base, keys["admin"])["runs"] == []


def test_progress_rows_are_throttled_shared_and_expire(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers (as two processes would have) over one database; readers see both."""
    from gridgis.coverage import progress

    # The writers' clock, moved by hand: a slow commit on the machine cannot age a write.
    clock = [1000.0]
    monkeypatch.setattr(progress, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    first = ProgressWriter(engine, write_every_s=0.2)
    second = ProgressWriter(engine, write_every_s=0.2)
    a = first.start(started_by="user:ann", parameters={"k": 1}, client_token="tab-aaaa")
    b = second.start(started_by="user:bob", parameters={"k": 2})
    try:
        clock[0] += 0.15
        assert first.update(a, "cells", 2, 6) is False  # under 0.2 s since the start
        clock[0] += 0.1
        assert first.update(a, "distances", 3, 6) is True
        assert first.update(a, "aggregating", 4, 6) is False
        with engine.connect() as conn:
            found = {r["token"]: r for r in runs_in_progress(conn)}
        assert found[a]["stage"] == "distances" and found[a]["fraction"] == 0.5
        assert found[a]["started_by"] == "user:ann" and found[a]["client_token"] == "tab-aaaa"
        assert found[b]["stage"] == "queued" and found[b]["parameters"] == {"k": 2}
        # The second "process" dies: its row is no longer reported once stale, then deleted.
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE coverage_progress SET updated_at = now() - interval '11 minutes' "
                    "WHERE id = :id"
                ),
                {"id": b},
            )
        with engine.connect() as conn:
            assert [r["token"] for r in runs_in_progress(conn)] == [a]
        with engine.begin() as conn:
            assert delete_stale(conn) == 1
    finally:
        first.finish(a)
        second.finish(b)
    with engine.connect() as conn:
        assert runs_in_progress(conn) == []
