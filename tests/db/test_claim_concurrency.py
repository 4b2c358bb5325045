"""Slot claims under real concurrency: committed rows, one connection per thread, released
together by a barrier."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from gridgis.errors import Refused
from gridgis.workflows import patrols, service_posts, units
from gridgis.workflows.patrols import PatrolRules, PatrolSpec

NOW = datetime.now(UTC)
RULES = PatrolRules()


@pytest.fixture()
def racers(engine: Engine) -> Iterator[Engine]:
    """An engine without a pool: every thread gets a connection of its own."""
    separate = create_engine(engine.url, poolclass=NullPool)
    yield separate
    separate.dispose()


@pytest.fixture()
def committed(engine: Engine) -> Iterator[dict[str, Any]]:
    """A committed unit, three patrol tasks and a service post; all removed afterwards."""
    with engine.begin() as c:
        code = c.execute(
            text(
                "SELECT a.code FROM areas a JOIN generations g ON g.id = a.generation_id "
                "AND g.active WHERE a.level = 'grid' ORDER BY a.code LIMIT 1"
            )
        ).scalar_one()
        unit = units.create_unit(c, "race unit", "nobody", code, actor="race")
        start = NOW + timedelta(days=2)

        def task(slots: int, hours: float) -> int:
            spec = PatrolSpec(
                unit_id=unit["id"],
                start=start + timedelta(hours=hours),
                end=start + timedelta(hours=hours + 2),
                slots=slots,
                grid_codes=[code],
            )
            return int(patrols.create_patrol(c, spec, RULES, now=NOW)["id"])

        tasks = [task(5, 0), task(10, 1), task(10, 1.5)]
        post = service_posts.create_post(c, code, "race post", actor="race")["id"]
        posts = [
            service_posts.create_post(c, code, f"race post {i}", actor="race")["id"]
            for i in range(4)
        ]
        ids = [
            int(r[0])
            for r in c.execute(
                text("SELECT id FROM responders WHERE role = 'volunteer' ORDER BY id LIMIT 50")
            )
        ]
        cadres = [
            int(r[0])
            for r in c.execute(
                text("SELECT id FROM responders WHERE role = 'party_cadre' ORDER BY id LIMIT 20")
            )
        ]
    try:
        yield {
            "unit": unit["id"],
            "tasks": tasks,
            "post": post,
            "posts": posts,
            "volunteers": ids,
            "cadres": cadres,
        }
    finally:
        with engine.begin() as c:
            c.execute(text("DELETE FROM patrol_tasks WHERE unit_id = :u"), {"u": unit["id"]})
            c.execute(text("DELETE FROM units WHERE id = :u"), {"u": unit["id"]})
            c.execute(
                text("DELETE FROM service_posts WHERE id = ANY(:ids)"), {"ids": [post, *posts]}
            )
            c.execute(text("DELETE FROM audit_log WHERE actor = 'race' OR actor LIKE 'racer-%'"))
            c.execute(
                text(
                    "DELETE FROM audit_log WHERE entity IN ('patrol_task', 'unit', "
                    "'service_post') AND actor = 'library'"
                )
            )


def race(engine: Engine, work: list[Any]) -> list[Any]:
    """Run each callable(connection) in its own thread and connection, all released at once;
    each commits on success. Returns each one's result or exception."""
    barrier = threading.Barrier(len(work))
    results: list[Any] = [None] * len(work)

    def run(index: int) -> None:
        with engine.connect() as conn:
            barrier.wait()
            try:
                results[index] = work[index](conn)
                conn.commit()
            except Exception as exc:
                conn.rollback()
                results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return results


def test_fifty_volunteers_grab_a_five_slot_task_at_once(
    engine: Engine, racers: Engine, committed: dict[str, Any]
) -> None:
    task = committed["tasks"][0]
    work = [
        (lambda conn, v=v: patrols.grab(conn, task, v, acting=patrols.Acting(f"racer-{v}")))
        for v in committed["volunteers"]
    ]
    results = race(racers, work)
    won = [r for r in results if isinstance(r, patrols.ClaimResult)]
    lost = [r for r in results if isinstance(r, Refused)]
    assert len(won) == 5 and all(r.created for r in won)
    assert len(lost) == 45 and {r.code for r in lost} == {"full"}
    assert sorted(r.claim["slot_no"] for r in won) == [1, 2, 3, 4, 5]
    with engine.connect() as c:
        count = c.execute(
            text("SELECT COUNT(*) FROM patrol_claims WHERE task_id = :t AND status = 'active'"),
            {"t": task},
        ).scalar_one()
    assert count == 5


def test_one_volunteer_grabbing_two_overlapping_tasks_at_once_gets_one(
    engine: Engine, racers: Engine, committed: dict[str, Any]
) -> None:
    v = committed["volunteers"][0]
    _, second, third = committed["tasks"]
    # Forty rounds: without the volunteer's lock, the two inserts met in the overlap
    # constraint and one was aborted as a deadlock, a round in a few dozen.
    for _ in range(40):
        results = race(
            racers,
            [lambda conn, t=t: patrols.grab(conn, t, v) for t in (second, third)],
        )
        outcomes = sorted(type(r).__name__ for r in results)
        assert outcomes == ["ClaimResult", "Refused"], results
        refused = next(r for r in results if isinstance(r, Refused))
        assert refused.code == "overlap"
        with engine.begin() as c:
            held = c.execute(
                text(
                    "DELETE FROM patrol_claims WHERE responder_id = :v AND status = 'active' "
                    "RETURNING task_id"
                ),
                {"v": v},
            ).all()
        assert len(held) == 1


def test_the_same_volunteer_twice_at_once_is_one_claim(
    engine: Engine, racers: Engine, committed: dict[str, Any]
) -> None:
    v = committed["volunteers"][0]
    task = committed["tasks"][1]
    results = race(racers, [lambda conn: patrols.grab(conn, task, v) for _ in range(8)])
    assert sorted(r.created for r in results) == [False] * 7 + [True]
    assert len({r.claim["id"] for r in results}) == 1


def test_twenty_cadres_race_for_one_post_and_one_cadre_for_many_posts(
    engine: Engine, racers: Engine, committed: dict[str, Any]
) -> None:
    post = committed["post"]
    # The last cadre stays out of the first race, so that they hold no post when they
    # claim four at once below.
    *racing, cadre = committed["cadres"]
    work = [(lambda conn, c=c: service_posts.claim_post(conn, post, c)) for c in racing]
    results = race(racers, work)
    assert sum(isinstance(r, service_posts.ClaimResult) for r in results) == 1
    assert {r.code for r in results if isinstance(r, Refused)} == {"full"}
    # One cadre claims four posts at once with a limit of two: exactly two succeed.
    results = race(
        racers,
        [
            (lambda conn, p=p: service_posts.claim_post(conn, p, cadre, max_posts=2))
            for p in committed["posts"]
        ],
    )
    assert sum(isinstance(r, service_posts.ClaimResult) for r in results) == 2
    assert {r.code for r in results if isinstance(r, Refused)} == {"limit"}
    with engine.connect() as c:
        held = c.execute(
            text(
                "SELECT COUNT(*) FROM service_post_claims WHERE responder_id = :c "
                "AND status = 'active'"
            ),
            {"c": cadre},
        ).scalar_one()
    assert held == 2
