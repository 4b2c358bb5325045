"""Patrol figures per grid, township and county and week; leaderboards; hours per grid."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, get_args

from gridgis.db import Executor
from gridgis.errors import InvalidInput
from gridgis.vocabulary import PatrolLevel
from gridgis.workflows import sql

# Grid codes carry their parents' codes as prefixes (GB/T 2260 + township + grid digits).
PREFIX_LENGTH: dict[PatrolLevel, int] = {"county": 6, "township": 9, "grid": 20}
LEVELS: tuple[PatrolLevel, ...] = get_args(PatrolLevel)
MAX_LEADERBOARD = 500


def _window(start: datetime, end: datetime) -> None:
    for name, value in (("from", start), ("to", end)):
        if value.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone offset.", field=name)
    if end <= start:
        raise InvalidInput("to must be after from.", field="to")


def patrol_stats(
    db: Executor, level: str, start: datetime, end: datetime, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Per area of `level` and ISO week (Asia/Shanghai) of tasks starting in [start, end):
    tasks, slots offered and filled, patrol hours, distinct volunteers, no-shows."""
    if level not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}.", field="level")
    _window(start, end)
    rows = db.execute(
        sql.PATROL_STATS,
        {
            "now": now or datetime.now(UTC),
            "from": start,
            "to": end,
            "prefix_len": PREFIX_LENGTH[level],
            "level": level,
        },
    )
    out = []
    for r in rows:
        item = dict(r._mapping)
        iso = item["week"].isocalendar()
        item["week"] = f"{iso.year}-W{iso.week:02d}"
        item["patrol_hours"] = round(float(item["patrol_hours"]), 2)
        for key in ("tasks", "slots_offered", "slots_filled", "volunteers", "no_shows"):
            item[key] = int(item[key])
        offered = int(item["slots_offered"])
        item["fill_rate"] = round(int(item["slots_filled"]) / offered, 4) if offered else None
        out.append(item)
    return out


def leaderboard(
    db: Executor,
    by: Literal["unit", "volunteer"],
    start: datetime,
    end: datetime,
    *,
    limit: int = 20,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Units or volunteers ranked by patrol hours on tasks starting in [start, end)."""
    if by not in ("unit", "volunteer"):
        raise InvalidInput("by must be unit or volunteer.", field="by")
    if not 1 <= limit <= MAX_LEADERBOARD:
        raise InvalidInput(f"limit must be between 1 and {MAX_LEADERBOARD}.", field="limit")
    _window(start, end)
    statement = sql.LEADERBOARD_UNITS if by == "unit" else sql.LEADERBOARD_VOLUNTEERS
    rows = db.execute(
        statement, {"now": now or datetime.now(UTC), "from": start, "to": end, "limit": limit}
    )
    out = []
    for rank, r in enumerate(rows, start=1):
        item = {"rank": rank, **dict(r._mapping)}
        item["patrol_hours"] = round(float(item["patrol_hours"]), 2)
        for key in ("tasks", "volunteers", "no_shows"):
            if key in item:
                item[key] = int(item[key])
        out.append(item)
    return out


def hours_by_grid(
    db: Executor,
    start: datetime,
    end: datetime,
    *,
    simplify_deg: float = 0.0001,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of every grid with its patrol hours (tasks starting in
    [start, end)): the planner's map layer. Polygons are simplified by `simplify_deg`."""
    _window(start, end)
    rows = db.execute(
        sql.HOURS_BY_GRID,
        {"now": now or datetime.now(UTC), "from": start, "to": end, "tolerance": simplify_deg},
    )
    features = [
        {
            "type": "Feature",
            "id": r.code,
            "geometry": r.geometry,
            "properties": {
                "code": r.code,
                "name": r.name,
                "kind": r.kind,
                "patrol_hours": round(float(r.patrol_hours), 2),
                "volunteers": int(r.volunteers),
                "tasks": int(r.tasks),
            },
        }
        for r in rows
    ]
    return {"type": "FeatureCollection", "features": features}
