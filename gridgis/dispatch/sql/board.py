"""Dispatch-board SQL: the open-incident queue, counts for the header, responders in a view."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, text

from gridgis.db import Executor

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


def open_by_status(db: Executor) -> Sequence[Row[Any]]:
    """(status, n) for incidents not yet closed."""
    return db.execute(_OPEN_BY_STATUS).all()


def responders_by_role_and_status(db: Executor) -> Sequence[Row[Any]]:
    """(role, name_zh, name_en, status, n) for every role, in lane order (status null when the
    role has nobody)."""
    return db.execute(_RESPONDERS_BY_ROLE).all()


def open_incidents(db: Executor, limit: int) -> list[dict[str, Any]]:
    """Incidents not yet closed, oldest report first, with their top recommendation and the
    responders dispatched to them."""
    return [dict(r._mapping) for r in db.execute(_QUEUE, {"limit": limit})]


def open_total(db: Executor) -> int:
    """How many incidents are not yet closed."""
    return int(db.execute(_QUEUE_TOTAL).scalar_one())


def responders_in_box(
    db: Executor,
    bbox: tuple[float, float, float, float],
    *,
    roles: Sequence[str] | None,
    statuses: Sequence[str] | None,
    fresh_since: datetime,
    limit: int,
) -> Sequence[Row[Any]]:
    """Responders placed inside `bbox` (west, south, east, north), id order, at most `limit`."""
    west, south, east, north = bbox
    return db.execute(
        _IN_VIEW,
        {
            "west": west,
            "south": south,
            "east": east,
            "north": north,
            "roles": list(roles) if roles else None,
            "statuses": list(statuses) if statuses else None,
            "fresh_since": fresh_since,
            "limit": limit,
        },
    ).all()
