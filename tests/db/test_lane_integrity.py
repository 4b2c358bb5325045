"""The per-role KNN index cannot lie: a row's lane is its role's (database keys), the nearest
walks re-check the role, and the nearest statement walks the lane-plane indexes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from gridgis.dispatch.sql import nearest as queries

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
SPOT = (117.65, 24.51)


def _lane(conn: Connection, role: str) -> int:
    lane = conn.execute(text("SELECT lane FROM roles WHERE code = :r"), {"r": role})
    return int(lane.scalar_one())


def _assert_refused(conn: Connection, constraint: str, sql: str, params: dict[str, Any]) -> None:
    """The statement fails on `constraint` (in a savepoint: the test goes on)."""
    with pytest.raises(IntegrityError, match=constraint), conn.begin_nested():
        conn.execute(text(sql), params)


def _volunteer(conn: Connection) -> int:
    return int(
        conn.execute(
            text("SELECT id FROM responders WHERE role = 'volunteer' ORDER BY id LIMIT 1")
        ).scalar_one()
    )


def test_a_responder_with_another_roles_lane_is_refused(conn: Connection) -> None:
    _assert_refused(
        conn,
        "fk_responders_role_lane",
        "INSERT INTO responders (ref, name, role, lane, skills, status, home) VALUES "
        "('t-lane', 't', 'volunteer', :lane, '{}', 'available', "
        "ST_SetSRID(ST_MakePoint(117.65, 24.51), 4326))",
        {"lane": _lane(conn, "mediator")},
    )
    _assert_refused(
        conn,
        "fk_responders_role_lane",
        "UPDATE responders SET lane = :lane WHERE id = :id",
        {"lane": _lane(conn, "mediator"), "id": _volunteer(conn)},
    )


def test_a_live_fix_with_another_roles_lane_is_refused(conn: Connection) -> None:
    volunteer = _volunteer(conn)
    _assert_refused(
        conn,
        "fk_responder_positions_role_lane",
        "INSERT INTO responder_positions (responder_id, role, lane, position, recorded_at) "
        "VALUES (:id, 'volunteer', :lane, ST_SetSRID(ST_MakePoint(117.65, 24.51), 4326), now())",
        {"id": volunteer, "lane": _lane(conn, "mediator")},
    )
    conn.execute(
        text(
            "INSERT INTO responder_positions (responder_id, role, position, recorded_at) "
            "VALUES (:id, 'volunteer', ST_SetSRID(ST_MakePoint(117.65, 24.51), 4326), now()) "
            "ON CONFLICT (responder_id) DO NOTHING"
        ),
        {"id": volunteer},
    )
    _assert_refused(
        conn,
        "fk_responder_positions_role_lane",
        "UPDATE responder_positions SET lane = :lane WHERE responder_id = :id",
        {"lane": _lane(conn, "mediator"), "id": volunteer},
    )


def test_a_roles_new_lane_cascades_and_a_change_of_role_follows(conn: Connection) -> None:
    volunteer = _volunteer(conn)
    conn.execute(
        text(
            "INSERT INTO responder_positions (responder_id, role, position, recorded_at) "
            "VALUES (:id, 'volunteer', ST_SetSRID(ST_MakePoint(117.65, 24.51), 4326), now()) "
            "ON CONFLICT (responder_id) DO NOTHING"
        ),
        {"id": volunteer},
    )
    conn.execute(text("UPDATE roles SET lane = 99 WHERE code = 'mediator'"))
    lanes = conn.execute(
        text(
            "SELECT DISTINCT lane FROM responders WHERE role = 'mediator' UNION "
            "SELECT DISTINCT lane FROM responder_positions WHERE role = 'mediator'"
        )
    ).scalars()
    assert set(lanes) == {99}
    conn.execute(text("UPDATE responders SET role = 'mediator' WHERE id = :id"), {"id": volunteer})
    row = conn.execute(
        text(
            "SELECT r.lane, p.role, p.lane AS p_lane FROM responders r "
            "JOIN responder_positions p ON p.responder_id = r.id WHERE r.id = :id"
        ),
        {"id": volunteer},
    ).one()
    assert (row.lane, row.role, row.p_lane) == (99, "mediator", 99)


def _mediators_near(conn: Connection) -> set[str]:
    shortlist = queries.nearest_shortlist(
        conn,
        *SPOT,
        roles=["mediator"],
        statuses=["available", "busy", "off_duty"],
        fresh_since=NOW - timedelta(days=3650),
        shortlist=50,
    )
    return {c.role for c in shortlist.candidates}


def test_nearest_rechecks_the_role_when_a_lane_is_wrong(conn: Connection) -> None:
    """Should a wrong lane ever get in (here: the keys dropped inside the rolled-back
    transaction), the walks still return only the role asked for."""
    assert _mediators_near(conn) == {"mediator"}
    conn.execute(text("ALTER TABLE responders DROP CONSTRAINT fk_responders_role_lane"))
    conn.execute(
        text("ALTER TABLE responder_positions DROP CONSTRAINT fk_responder_positions_role_lane")
    )
    mediator_lane = _lane(conn, "mediator")
    # The volunteers nearest the spot move into the mediators' lane, at home and live.
    conn.execute(
        text(
            """
            WITH near AS (
                SELECT id FROM responders WHERE role = 'volunteer'
                ORDER BY home <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) LIMIT 100
            ), moved AS (
                UPDATE responders r SET lane = :lane FROM near WHERE r.id = near.id
                RETURNING r.id, r.home
            )
            INSERT INTO responder_positions (responder_id, role, lane, position, recorded_at)
            SELECT id, 'volunteer', :lane, home, :at FROM moved
            ON CONFLICT (responder_id) DO UPDATE SET lane = EXCLUDED.lane,
                position = EXCLUDED.position, recorded_at = EXCLUDED.recorded_at
            """
        ),
        {"lon": SPOT[0], "lat": SPOT[1], "lane": mediator_lane, "at": NOW},
    )
    assert _mediators_near(conn) == {"mediator"}


def _plan(conn: Connection, params: dict[str, Any]) -> str:
    rows = conn.execute(text("EXPLAIN " + queries._NEAREST_BY_ROLE.text), params).scalars()
    return "\n".join(rows)


def test_nearest_walks_the_lane_plane_indexes(conn: Connection) -> None:
    """No sequential scan of the roster or the live fixes: each walk is an index scan."""
    conn.execute(
        text(
            "INSERT INTO responder_positions (responder_id, role, position, recorded_at) "
            "SELECT id, role, home, :at FROM responders ON CONFLICT (responder_id) DO NOTHING"
        ),
        {"at": NOW},
    )
    conn.execute(text("ANALYZE responder_positions"))
    plan = _plan(
        conn,
        {
            "lon": SPOT[0],
            "lat": SPOT[1],
            "roles": ["community_police", "grid_worker"],
            "statuses": ["available"],
            "fresh_since": NOW - timedelta(minutes=15),
            "shortlist": 14,
            "home_shortlist": 14,
            "generation_id": None,
            **queries.SOURCE_PARAMS,
        },
    )
    assert not re.search(r"Seq Scan on (responders|responder_positions)\b", plan), plan
    assert "ix_responders_lane_plane" in plan, plan
    assert "ix_responder_positions_lane_plane" in plan, plan


def _lane_scans(node: dict[str, Any]) -> list[dict[str, Any]]:
    """Every index scan on a lane-plane index in an EXPLAIN (FORMAT JSON) plan tree."""
    found = [node] if "lane_plane" in str(node.get("Index Name", "")) else []
    for child in node.get("Plans", []):
        found.extend(_lane_scans(child))
    return found


def test_a_walk_longer_than_its_role_stops_at_the_role(conn: Connection) -> None:
    """A walk that meets every mediator ends there: it does not go on through the strips of
    the other roles (tens of thousands of volunteers) filtering each one out."""
    conn.execute(
        text(
            "INSERT INTO responder_positions (responder_id, role, position, recorded_at) "
            "SELECT id, role, home, :at FROM responders ON CONFLICT (responder_id) DO NOTHING"
        ),
        {"at": NOW},
    )
    conn.execute(text("ANALYZE responder_positions"))
    rows = conn.execute(text("SELECT role, COUNT(*) FROM responders GROUP BY role")).all()
    counts = {role: int(count) for role, count in rows}
    mediators, everyone = counts["mediator"], sum(counts.values())
    assert everyone > 20 * mediators  # the walk could otherwise meet thousands of others
    walk = 4 * mediators  # longer than the role
    plan = conn.execute(
        text("EXPLAIN (ANALYZE, FORMAT JSON) " + queries._NEAREST_BY_ROLE.text),
        {
            "lon": SPOT[0],
            "lat": SPOT[1],
            "roles": ["mediator"],
            "statuses": ["available"],
            "fresh_since": NOW - timedelta(minutes=15),
            "shortlist": walk,
            "home_shortlist": walk,
            "generation_id": None,
            **queries.SOURCE_PARAMS,
        },
    ).scalar_one()
    scans = _lane_scans(plan[0]["Plan"])
    assert len(scans) == 2, scans  # the live walk and the home walk
    for scan in scans:
        met = scan["Actual Rows"] + scan.get("Rows Removed by Filter", 0)
        assert met <= mediators, (scan["Index Name"], met, mediators)
