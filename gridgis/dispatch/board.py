"""What a dispatch board shows at a glance: the open-incident queue (oldest first), counts of
open incidents and of responders by role and status, and the responders inside a map view."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from gridgis.db import Executor
from gridgis.dispatch.sql import board as sql
from gridgis.errors import InvalidInput
from gridgis.vocabulary import RESPONDER_STATUSES

MAX_QUEUE = 500
MAX_IN_VIEW = 5000


def summary(db: Executor) -> dict[str, Any]:
    """Open incidents by status and responders by role and status (every role listed)."""
    open_by_status = {r.status: int(r.n) for r in sql.open_by_status(db)}
    roles: dict[str, dict[str, Any]] = {}
    for r in sql.responders_by_role_and_status(db):
        entry = roles.setdefault(
            r.role,
            {
                "role": r.role,
                "name_zh": r.name_zh,
                "name_en": r.name_en,
                **{status: 0 for status in RESPONDER_STATUSES},
            },
        )
        if r.status is not None:
            entry[r.status] = int(r.n)
    return {
        "open_incidents": sum(open_by_status.values()),
        "open_by_status": open_by_status,
        "responders": list(roles.values()),
    }


def incident_queue(db: Executor, *, limit: int = 200) -> dict[str, Any]:
    """Incidents not yet closed, oldest report first, each with its top recommendation and
    the responders dispatched to it."""
    if not 1 <= limit <= MAX_QUEUE:
        raise InvalidInput(f"limit must be between 1 and {MAX_QUEUE}.", field="limit")
    items = []
    for m in sql.open_incidents(db, limit):
        grid = None
        if m["grid_code"] is not None:
            grid = {"code": m["grid_code"], "name": m["grid_name"], "kind": m["grid_kind"]}
        items.append(
            {
                "id": int(m["id"]),
                "external_id": m["external_id"],
                "category": {
                    "code": m["category"],
                    "name_zh": m["category_name_zh"],
                    "name_en": m["category_name_en"],
                    "police_matter": bool(m["police_matter"]),
                },
                "description": m["description"],
                "reported_at": m["reported_at"],
                "received_at": m["received_at"],
                "lon": float(m["lon"]),
                "lat": float(m["lat"]),
                "grid": grid,
                "status": m["status"],
                "source": m["source"],
                "updated_at": m["updated_at"],
                "top": m["top"],
                "dispatched": sorted(int(x) for x in m["dispatched"] if x is not None),
            }
        )
    total = sql.open_total(db)
    return {"incidents": items, "total": total}


def responders_in_view(
    db: Executor,
    bbox: tuple[float, float, float, float],
    *,
    roles: list[str] | None = None,
    statuses: list[str] | None = None,
    limit: int = 2000,
    stale_after_s: float = 900.0,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Responders placed inside `bbox` (west, south, east, north) where dispatch would place
    them now (a fresh live fix, else home), in id order; `truncated` when more than `limit`."""
    west, south, east, north = bbox
    if not (
        all(math.isfinite(v) for v in bbox)
        and -180 <= west < east <= 180
        and -90 <= south < north <= 90
    ):
        raise InvalidInput(
            "bbox must be west,south,east,north in degrees with west < east and south < north.",
            field="bbox",
        )
    if not 1 <= limit <= MAX_IN_VIEW:
        raise InvalidInput(f"limit must be between 1 and {MAX_IN_VIEW}.", field="limit")
    for status in statuses or ():
        if status not in RESPONDER_STATUSES:
            raise InvalidInput(
                f"status must be one of {', '.join(RESPONDER_STATUSES)}.", field="status"
            )
    fresh_since = (now or datetime.now(UTC)) - timedelta(seconds=stale_after_s)
    rows = sql.responders_in_box(
        db,
        bbox,
        roles=roles or None,
        statuses=statuses or None,
        fresh_since=fresh_since,
        limit=limit + 1,
    )
    responders = [
        {
            "id": int(r.id),
            "name": r.name,
            "role": r.role,
            "status": r.status,
            "home_grid_code": r.home_grid_code,
            "position": {
                "lon": float(r.lon),
                "lat": float(r.lat),
                "source": r.source,
                "recorded_at": r.recorded_at,
            },
        }
        for r in rows[:limit]
    ]
    return {"responders": responders, "truncated": len(rows) > limit}
