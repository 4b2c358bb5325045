"""Live positions: newest fix wins, stale and duplicate fixes are harmless, bad items reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, text

from gridgis import crs
from gridgis.dispatch.positions import MAX_BATCH, PositionFix, ingest, update_position
from gridgis.dispatch.sql.positions import expire_positions
from gridgis.errors import InvalidInput, NotFound

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def _ids(conn: Connection, count: int) -> list[int]:
    return [
        r[0]
        for r in conn.execute(text("SELECT id FROM responders ORDER BY id LIMIT :n"), {"n": count})
    ]


def _stored(conn: Connection, responder_id: int) -> tuple[float, float, datetime]:
    row = conn.execute(
        text(
            "SELECT ST_X(position), ST_Y(position), recorded_at FROM responder_positions "
            "WHERE responder_id = :id"
        ),
        {"id": responder_id},
    ).one()
    return float(row[0]), float(row[1]), row[2]


def test_newer_fix_wins_and_older_is_ignored(conn: Connection) -> None:
    (rid,) = _ids(conn, 1)
    first = ingest(conn, [PositionFix(rid, 117.60, 24.50, T0)], now=T0)
    assert (first.accepted, first.ignored_stale, first.rejected) == (1, 0, [])
    older = ingest(conn, [PositionFix(rid, 117.70, 24.60, T0 - timedelta(minutes=1))], now=T0)
    assert (older.accepted, older.ignored_stale) == (0, 1)
    assert _stored(conn, rid)[:2] == (117.60, 24.50)
    newer = ingest(conn, [PositionFix(rid, 117.61, 24.51, T0 + timedelta(seconds=5))], now=T0)
    assert newer.accepted == 1
    assert _stored(conn, rid) == (117.61, 24.51, T0 + timedelta(seconds=5))


def test_duplicate_delivery_is_harmless(conn: Connection) -> None:
    (rid,) = _ids(conn, 1)
    fix = PositionFix(rid, 117.6, 24.5, T0)
    assert ingest(conn, [fix, fix], now=T0).accepted == 1
    again = ingest(conn, [fix], now=T0)
    assert (again.accepted, again.ignored_stale) == (0, 1)
    assert _stored(conn, rid) == (117.6, 24.5, T0)


def test_out_of_order_within_one_batch_keeps_the_newest(conn: Connection) -> None:
    (rid,) = _ids(conn, 1)
    report = ingest(
        conn,
        [
            PositionFix(rid, 117.63, 24.53, T0 + timedelta(seconds=30)),
            PositionFix(rid, 117.61, 24.51, T0 + timedelta(seconds=10)),
            PositionFix(rid, 117.62, 24.52, T0 + timedelta(seconds=20)),
        ],
        now=T0 + timedelta(minutes=1),
    )
    assert (report.accepted, report.ignored_stale) == (1, 2)
    assert _stored(conn, rid)[:2] == (117.63, 24.53)


def test_bad_items_are_reported_and_the_rest_written(conn: Connection) -> None:
    a, b = _ids(conn, 2)
    fixes = [
        PositionFix(a, 117.6, 24.5, T0),
        PositionFix(987654321, 117.6, 24.5, T0),  # unknown responder
        PositionFix(b, 200.0, 24.5, T0),  # out of range
        PositionFix(b, float("nan"), 24.5, T0),
        PositionFix(b, "117.6", 24.5, T0),  # a string is not a number
        PositionFix(b, 117.6, 24.5, "yesterday"),
        PositionFix(b, 117.6, 24.5, "2026-11-26T08:00:00"),  # no time zone
        PositionFix(b, 117.6, 24.5, T0 + timedelta(days=1)),  # in the future
        PositionFix(b, 117.6, 24.5, T0, crs="epsg:3857"),
        PositionFix("x", 117.6, 24.5, T0),
        PositionFix(b, 117.7, 24.6, "2026-11-26T16:00:00+08:00"),  # = T0, valid
    ]
    report = ingest(conn, fixes, now=T0)
    assert report.accepted == 2
    assert [r["index"] for r in report.rejected] == list(range(1, 10))
    fields = {r["index"]: r["field"] for r in report.rejected}
    assert fields[1] == "responder_id"
    assert fields[2] == "lon" and fields[3] == "lon" and fields[4] == "lon"
    assert fields[5] == fields[6] == fields[7] == "recorded_at"
    assert fields[8] == "crs"
    assert _stored(conn, b) == (117.7, 24.6, T0)


def test_gcj02_fix_is_stored_as_wgs84(conn: Connection) -> None:
    (rid,) = _ids(conn, 1)
    glon, glat = crs.wgs84_to_gcj02(117.65, 24.51)
    ingest(conn, [PositionFix(rid, glon, glat, T0, crs="gcj02")], now=T0)
    lon, lat, _ = _stored(conn, rid)
    assert crs.geodesic_distance_m(lon, lat, 117.65, 24.51) < 2.0


def test_batch_size_cap(conn: Connection) -> None:
    with pytest.raises(InvalidInput, match="at most"):
        ingest(conn, [PositionFix(1, 117.6, 24.5, T0)] * (MAX_BATCH + 1), now=T0)


def test_single_update_for_unknown_responder_is_not_found(conn: Connection) -> None:
    with pytest.raises(NotFound):
        update_position(conn, PositionFix(987654321, 117.6, 24.5, T0), now=T0)


def test_a_full_batch_is_written_in_one_go(conn: Connection) -> None:
    ids = _ids(conn, MAX_BATCH)
    fixes = [PositionFix(i, 117.6 + (i % 100) * 1e-4, 24.5, T0) for i in ids]
    report = ingest(conn, fixes, now=T0)
    assert report.accepted == len(ids)
    written = conn.execute(
        text("SELECT COUNT(*) FROM responder_positions WHERE recorded_at = :t"), {"t": T0}
    ).scalar_one()
    assert written == len(ids)


@pytest.mark.parametrize("has_fix", [False, True], ids=["first-fix", "known-responder"])
def test_concurrent_older_fix_never_overwrites_a_newer_one(engine, has_fix: bool) -> None:  # type: ignore[no-untyped-def]
    """B's older fix waits on A's row lock; after A commits, B re-checks and is ignored. Both
    paths: a responder's first fix (upsert) and a responder who already has one (UPDATE)."""
    import threading

    with engine.begin() as setup:
        rid = setup.execute(
            text(
                "INSERT INTO responders (ref, name, role, skills, status, home) VALUES "
                "('concurrency-test', '并发', 'volunteer', '{}', 'available', "
                "ST_SetSRID(ST_MakePoint(117.6, 24.5), 4326)) RETURNING id"
            )
        ).scalar_one()
        if has_fix:
            ingest(setup, [PositionFix(rid, 117.6, 24.5, T0 - timedelta(seconds=30))], now=T0)
    try:
        results: dict[str, object] = {}
        with engine.connect() as a:
            a.begin()
            results["a"] = ingest(
                a, [PositionFix(rid, 117.7, 24.7, T0 + timedelta(seconds=10))], now=T0
            )

            def older() -> None:
                with engine.connect() as b:
                    b.begin()
                    results["b"] = ingest(b, [PositionFix(rid, 117.5, 24.4, T0)], now=T0)
                    b.commit()

            thread = threading.Thread(target=older)
            thread.start()
            thread.join(timeout=1.0)
            assert thread.is_alive(), "B should wait for A's row lock"
            a.commit()
            thread.join(timeout=10)
        assert results["a"].accepted == 1  # type: ignore[attr-defined]
        assert results["b"].accepted == 0  # type: ignore[attr-defined]
        with engine.connect() as check:
            assert _stored(check, rid) == (117.7, 24.7, T0 + timedelta(seconds=10))
    finally:
        with engine.begin() as cleanup:
            cleanup.execute(text("DELETE FROM responders WHERE id = :id"), {"id": rid})


def test_batches_are_applied_one_at_a_time(engine) -> None:  # type: ignore[no-untyped-def]
    """A batch waits for the batch before it to commit, even with no responder in common (the
    ingest advisory lock): concurrent batches can then never deadlock, whatever they share."""
    import threading

    with engine.connect() as c:
        first, second = _ids(c, 2)
    results: dict[str, object] = {}
    with engine.connect() as a:
        a.begin()
        results["a"] = ingest(a, [PositionFix(first, 117.61, 24.51, T0)], now=T0)

        def other() -> None:
            with engine.connect() as b:
                b.begin()
                results["b"] = ingest(b, [PositionFix(second, 117.62, 24.52, T0)], now=T0)
                b.rollback()

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive(), "the second batch should wait for the first to finish"
        a.rollback()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert results["b"].accepted == 1  # type: ignore[attr-defined]


def test_a_first_fix_is_filed_under_its_roles_lane(conn: Connection) -> None:
    """Ingest supplies the lane of a first fix itself (no trigger call per row); it must be the
    lane of the responder's role, or the KNN index would file the fix under another role."""
    ids = [
        r[0]
        for r in conn.execute(
            text(
                "SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY role ORDER BY id) AS k "
                "FROM responders) AS per_role WHERE k <= 5"
            )
        )
    ]
    assert len(ids) >= 20  # five of each role
    conn.execute(
        text("DELETE FROM responder_positions WHERE responder_id = ANY(:ids)"), {"ids": ids}
    )
    report = ingest(conn, [PositionFix(rid, 117.6, 24.5, T0) for rid in ids], now=T0)
    assert report.accepted == len(ids)
    wrong = conn.execute(
        text(
            "SELECT COUNT(*) FROM responder_positions p JOIN responders r ON r.id = p.responder_id "
            "JOIN roles ro ON ro.code = r.role "
            "WHERE p.responder_id = ANY(:ids) AND (p.lane <> ro.lane OR p.role <> r.role)"
        ),
        {"ids": ids},
    ).scalar_one()
    assert wrong == 0


def test_a_fix_that_arrives_expired_is_ignored_and_not_stored(conn: Connection) -> None:
    (rid,) = _ids(conn, 1)
    conn.execute(text("DELETE FROM responder_positions WHERE responder_id = :id"), {"id": rid})
    old = T0 - timedelta(seconds=901)
    report = ingest(conn, [PositionFix(rid, 117.6, 24.5, old)], now=T0, stale_after_s=900)
    assert (report.accepted, report.ignored_stale, report.rejected) == (0, 1, [])
    stored = conn.execute(
        text("SELECT COUNT(*) FROM responder_positions WHERE responder_id = :id"), {"id": rid}
    ).scalar_one()
    assert stored == 0
    fresh = ingest(conn, [PositionFix(rid, 117.6, 24.5, T0 - timedelta(seconds=899))], now=T0)
    assert fresh.accepted == 1


def test_expired_fixes_are_deleted_and_fresh_ones_kept(conn: Connection) -> None:
    a, b = _ids(conn, 2)
    ingest(
        conn,
        [PositionFix(a, 117.6, 24.5, T0 - timedelta(minutes=20))],
        now=T0 - timedelta(minutes=20),
    )
    ingest(conn, [PositionFix(b, 117.6, 24.5, T0 - timedelta(minutes=5))], now=T0)
    deleted = expire_positions(conn, T0 - timedelta(minutes=15))
    assert deleted >= 1
    left = {
        r[0]
        for r in conn.execute(
            text("SELECT responder_id FROM responder_positions WHERE responder_id IN (:a, :b)"),
            {"a": a, "b": b},
        )
    }
    assert left == {b}
    # With the expired fix gone, an even older one still cannot come back.
    late = ingest(conn, [PositionFix(a, 117.7, 24.6, T0 - timedelta(minutes=30))], now=T0)
    assert (late.accepted, late.ignored_stale) == (0, 1)


def test_expiry_runs_when_due_or_forced(conn: Connection) -> None:
    from gridgis.dispatch.positions import expire_due

    (rid,) = _ids(conn, 1)
    ingest(conn, [PositionFix(rid, 117.6, 24.5, T0)], now=T0)
    assert expire_due(conn, T0 + timedelta(hours=1), force=True) >= 1  # type: ignore[operator]
    assert expire_due(conn, T0 + timedelta(hours=1)) is None  # just ran: not due again
    left = conn.execute(
        text("SELECT COUNT(*) FROM responder_positions WHERE responder_id = :id"), {"id": rid}
    ).scalar_one()
    assert left == 0
