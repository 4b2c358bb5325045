"""What a dispatch board shows at a glance: the open-incident queue (oldest first), counts of
open incidents and of responders by role and status, and the responders inside a map view."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from gridgis.errors import InvalidInput

Executor = Session | Connection

MAX_QUEUE = 500
MAX_IN_VIEW = 5000
RESPONDER_STATUSES = ("available", "busy", "off_duty")

_OPEN_BY_STATUS = text(
    "SELECT status, count(*) AS n FROM incidents WHERE status <> 'closed' GROUP BY status"
)
_RESPONDERS_BY_ROLE = text(
    """
    SELECT w.code AS role, w.name_zh, w.name_en, r.status, count(r.id) AS n
    FROM roles w LEFT JOIN responders r ON r.role = w.code
    GROUP BY w.code, w.name_zh, w.name_en, w.lane, r.status
    ORDER BY w.lane, r.status
    """
)

# Every incident not yet closed, oldest report first; the responders it holds (dispatched
# and not released) come from its timeline.
_QUEUE = text(
    """
    SELECT i.id, i.external_id, i.category, c.name_zh AS category_name_zh,
           c.name_en AS category_name_en, c.police_matter, i.description, i.reported_at,
           i.received_at, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat, i.grid_code,
           a.name AS grid_name, i.grid_kind, i.status, i.source, i.updated_at,
           i.recommendation -> 'responders' -> 0 AS top,
           COALESCE((SELECT array_agg(DISTINCT e.responder_id)
                     FROM incident_events e
                     WHERE e.incident_id = i.id AND e.type = 'dispatched'), '{}') AS dispatched
    FROM incidents i
    JOIN incident_categories c ON c.code = i.category
    LEFT JOIN areas a ON a.generation_id = i.generation_id AND a.code = i.grid_code
    WHERE i.status <> 'closed'
    ORDER BY i.reported_at, i.id
    LIMIT :limit
    """
)
_QUEUE_TOTAL = text("SELECT count(*) FROM incidents WHERE status <> 'closed'")

# Per wanted role, a lane-plane GiST walk (migration 0009) over live fixes and one over home
# bases, each limited to the view; a home base counts only for responders without a fresh fix.
# The index compares single-precision boxes, coarse so far east (~12 m at lane 4): the exact
# test on the untranslated point keeps the view's edge exact.
_IN_VIEW = text(
    """
    WITH view AS (SELECT ST_MakeEnvelope(:west, :south, :east, :north, 4326) AS box),
    wanted AS (
        SELECT lane FROM roles
        WHERE CAST(:roles AS varchar[]) IS NULL OR code = ANY(CAST(:roles AS varchar[]))
    ),
    placed AS (
        SELECT p.responder_id AS id, p.position AS geom, 'live' AS source, p.recorded_at
        FROM wanted w CROSS JOIN view v
        JOIN responder_positions p
          ON gridgis_lane_plane(p.position, p.lane) && ST_Translate(v.box, w.lane * 360, 0)
         AND p.lane = w.lane AND p.recorded_at >= :fresh_since
         AND ST_Intersects(p.position, v.box)
        UNION ALL
        SELECT r.id, r.home, 'home', NULL::timestamptz
        FROM wanted w CROSS JOIN view v
        JOIN responders r
          ON gridgis_lane_plane(r.home, r.lane) && ST_Translate(v.box, w.lane * 360, 0)
         AND r.lane = w.lane
         AND ST_Intersects(r.home, v.box)
        WHERE NOT EXISTS (SELECT 1 FROM responder_positions f
                          WHERE f.responder_id = r.id AND f.recorded_at >= :fresh_since)
    )
    SELECT r.id, r.name, r.role, r.status, r.home_grid_code, s.source, s.recorded_at,
           ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat
    FROM placed s JOIN responders r ON r.id = s.id
    WHERE CAST(:statuses AS varchar[]) IS NULL OR r.status = ANY(CAST(:statuses AS varchar[]))
    ORDER BY r.id
    LIMIT :limit
    """
)


def summary(db: Executor) -> dict[str, Any]:
    """Open incidents by status and responders by role and status (every role listed)."""
    open_by_status = {r.status: int(r.n) for r in db.execute(_OPEN_BY_STATUS)}
    roles: dict[str, dict[str, Any]] = {}
    for r in db.execute(_RESPONDERS_BY_ROLE):
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
    for row in db.execute(_QUEUE, {"limit": limit}):
        m = row._mapping
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
    total = int(db.execute(_QUEUE_TOTAL).scalar_one())
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
    rows = db.execute(
        _IN_VIEW,
        {
            "west": west,
            "south": south,
            "east": east,
            "north": north,
            "roles": roles or None,
            "statuses": statuses or None,
            "fresh_since": fresh_since,
            "limit": limit + 1,
        },
    ).all()
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
