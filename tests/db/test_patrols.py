"""Patrol tasks on PostGIS: reserving, grabbing, cancelling, checking in and out, figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, text

from gridgis.errors import Forbidden, InvalidInput, NotFound, Refused
from gridgis.workflows import patrols, units
from gridgis.workflows.patrols import Acting, PatrolRules, PatrolSpec

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
RULES = PatrolRules()


def grid_and_centre(conn: Connection, offset: int = 0) -> tuple[str, float, float]:
    row = conn.execute(
        text(
            "SELECT a.code, ST_X(ST_PointOnSurface(a.geom)), ST_Y(ST_PointOnSurface(a.geom)) "
            "FROM areas a JOIN generations g ON g.id = a.generation_id AND g.active "
            "WHERE a.level = 'grid' ORDER BY a.code OFFSET :o LIMIT 1"
        ),
        {"o": offset},
    ).one()
    return str(row[0]), float(row[1]), float(row[2])


def volunteers(conn: Connection, n: int, role: str = "volunteer") -> list[int]:
    rows = conn.execute(
        text("SELECT id FROM responders WHERE role = :role ORDER BY id LIMIT :n"),
        {"role": role, "n": n},
    )
    return [int(r[0]) for r in rows]


@pytest.fixture()
def unit(conn: Connection) -> dict[str, Any]:
    code, _, _ = grid_and_centre(conn)
    return units.create_unit(conn, "test school", "Ms Lin 0596-1234567", code)


def make_task(
    conn: Connection, unit: dict[str, Any], *, hours_ahead: float = 24, length_h: float = 2,
    slots: int = 5, offset: int = 0, **extra: Any,
) -> dict[str, Any]:
    code, _, _ = grid_and_centre(conn, offset)
    start = NOW + timedelta(hours=hours_ahead)
    spec = PatrolSpec(
        unit_id=unit["id"], start=start, end=start + timedelta(hours=length_h), slots=slots,
        grid_codes=extra.pop("grid_codes", [code]), **extra,
    )
    return patrols.create_patrol(conn, spec, RULES, now=NOW)


def test_a_task_on_grids_has_their_area_and_no_claims(conn: Connection, unit: dict[str, Any]) -> None:
    task = make_task(conn, unit)
    assert task["status"] == "open" and task["claims"] == [] and task["claimed"] == 0
    assert task["area"]["type"] == "MultiPolygon"
    assert task["grid_code"] == task["grid_codes"][0]


def test_grab_fills_slots_then_full_and_is_idempotent(conn: Connection, unit: dict[str, Any]) -> None:
    task = make_task(conn, unit, slots=2)
    a, b, c = volunteers(conn, 3)
    first = patrols.grab(conn, task["id"], a, now=NOW)
    assert first.created and first.claim["slot_no"] == 1
    again = patrols.grab(conn, task["id"], a, now=NOW)
    assert not again.created and again.claim["id"] == first.claim["id"]
    assert patrols.grab(conn, task["id"], b, now=NOW).claim["slot_no"] == 2
    with pytest.raises(Refused) as exc:
        patrols.grab(conn, task["id"], c, now=NOW)
    assert exc.value.code == "full"
    assert patrols.get_patrol(conn, task["id"], now=NOW)["status"] == "full"
