"""Expensive requests are bounded: parameter limits from what the city needs, a concurrency
and rate limit per key (429 with Retry-After), no transaction held open while computing, and
coverage runs that can be deleted (audited) and expire after the retention period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from gridgis.coverage import runs
from gridgis.coverage.runs import CoverageRequest, expire_runs, run_coverage
from gridgis.dispatch.eta import StraightLineEta

MODEL = StraightLineEta()


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/coverage/runs", {"resolution": 10}, "resolution"),
        ("/v1/coverage/runs", {"k": 6}, "k"),
        ("/v1/coverage/plan", {"add": 1, "time_limit_s": 61}, "time_limit_s"),
        ("/v1/coverage/plan", {"add": 1, "candidates": [[117.6, 24.5]] * 5_001}, "candidates"),
        ("/v1/coverage/plan", {"add": 1, "resolution": 10}, "resolution"),
    ],
)
def test_heavy_parameters_are_bounded(
    client: TestClient, path: str, body: dict[str, Any], field: str
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_a_key_runs_one_heavy_request_at_a_time(
    client: TestClient, api_keys: dict[str, str], conn: Connection
) -> None:
    quota = client.app.state.heavy_quota  # type: ignore[attr-defined]
    planner = int(
        conn.execute(text("SELECT id FROM api_keys WHERE name = 'test-planner'")).scalar_one()
    )
    quota.acquire(planner)  # as if one of its runs were still computing
    try:
        response = client.post(
            "/v1/coverage/runs",
            json={"resolution": 7},
            headers={"X-API-Key": api_keys["planner"]},
        )
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) >= 1
        assert response.json()["error"] == "rate_limited"
        # Another key is not held up by it.
        other = client.get("/maps/coverage/999999999.html")
        assert other.status_code == 404
    finally:
        quota.release(planner)


def test_heavy_requests_per_key_are_rate_limited(
    client: TestClient, api_keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    quota = client.app.state.heavy_quota  # type: ignore[attr-defined]
    monkeypatch.setattr(quota, "per_minute", 3)
    headers = {"X-API-Key": api_keys["planner"]}
    statuses = [
        client.get("/maps/coverage/999999999.html", headers=headers).status_code for _ in range(5)
    ]
    assert statuses == [404, 404, 404, 429, 429]
    limited = client.get("/maps/coverage/999999999.html", headers=headers)
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # Cheap routes are not counted.
    assert client.get("/v1/coverage/runs", headers=headers).status_code == 200


def test_no_transaction_is_open_while_a_run_computes(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    compute = runs.cell_etas

    def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append(session.in_transaction())
        return compute(*args, **kwargs)

    monkeypatch.setattr(runs, "cell_etas", watched)
    run = run_coverage(
        session,
        MODEL,
        CoverageRequest(roles=("community_police",), resolution=7),
        release_reads=session.rollback,
    )
    assert seen == [False]
    assert run.status == "done" and run.cell_count > 0


def test_the_api_releases_the_transaction_before_computing(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    released: list[object] = []
    real = runs.run_coverage

    def spy(*args: Any, **kwargs: Any) -> Any:
        released.append(kwargs.get("release_reads"))
        return real(*args, **kwargs)

    monkeypatch.setattr(runs, "run_coverage", spy)
    response = client.post("/v1/coverage/runs", json={"roles": ["police_unit"], "resolution": 7})
    assert response.status_code == 201
    assert released and callable(released[0])


def test_a_planner_deletes_a_run_and_it_is_audited(
    client: TestClient, api_keys: dict[str, str]
) -> None:
    run = client.post("/v1/coverage/runs", json={"roles": ["police_unit"], "resolution": 7})
    run_id = run.json()["id"]
    dispatcher = client.delete(
        f"/v1/coverage/runs/{run_id}", headers={"X-API-Key": api_keys["dispatcher"]}
    )
    assert dispatcher.status_code == 403
    deleted = client.delete(
        f"/v1/coverage/runs/{run_id}", headers={"X-API-Key": api_keys["planner"]}
    )
    assert deleted.status_code == 204
    assert client.get(f"/v1/coverage/runs/{run_id}").status_code == 404
    assert client.delete(f"/v1/coverage/runs/{run_id}").status_code == 404
    entries = client.get(
        "/v1/audit", params={"entity": "coverage_run", "entity_id": str(run_id)}
    ).json()["entries"]
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("coverage_run.delete", "key:test-planner")
    ]
    assert entries[0]["before"]["cell_count"] > 0


def test_old_runs_expire(conn: Connection) -> None:
    old = run_coverage(conn, MODEL, CoverageRequest(roles=("police_unit",), resolution=7))
    new = run_coverage(conn, MODEL, CoverageRequest(roles=("police_unit",), resolution=7))
    conn.execute(
        text("UPDATE coverage_runs SET created_at = :at WHERE id = :id"),
        {"at": datetime.now(UTC) - timedelta(days=40), "id": old.id},
    )
    expired = expire_runs(conn, retention_days=30)
    assert old.id in expired and new.id not in expired
    left = {r[0] for r in conn.execute(text("SELECT id FROM coverage_runs"))}
    assert old.id not in left and new.id in left
    actions = conn.execute(
        text(
            "SELECT actor, action FROM audit_log WHERE entity = 'coverage_run' AND entity_id = :i"
        ),
        {"i": str(old.id)},
    ).all()
    assert [tuple(a) for a in actions] == [("retention", "coverage_run.expire")]
    assert expire_runs(conn, retention_days=0) == []  # 0 keeps runs forever
