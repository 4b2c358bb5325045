"""Map SQL: simplified boundaries, facilities, placed responders, incident density, outlines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text

from gridgis.db import Executor
from gridgis.dispatch.sql.nearest import FRESH_FIX_JOIN


def boundaries_geojson(
    db: Executor, generation_id: int, level: str, *, tolerance_deg: float, precision: int = 5
) -> list[dict[str, Any]]:
    """Areas of one level as GeoJSON features (simplified for display, topology kept)."""
    rows = db.execute(
        text(
            """
            SELECT code, name, kind, parent_code, population,
                   ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, :tolerance), :precision) AS g
            FROM areas
            WHERE generation_id = :generation_id AND level = :level
            ORDER BY code
            """
        ),
        {
            "generation_id": generation_id,
            "level": level,
            "tolerance": tolerance_deg,
            "precision": precision,
        },
    )
    return [
        {
            "type": "Feature",
            "geometry": json.loads(r.g),
            "properties": {
                "code": r.code,
                "name": r.name,
                "kind": r.kind,
                "parent_code": r.parent_code,
                "population": int(r.population),
            },
        }
        for r in rows
    ]


def facilities_of_type(db: Executor, facility_type: str) -> list[dict[str, Any]]:
    """Facilities of one type with their position."""
    rows = db.execute(
        text(
            """
            SELECT code, name, area_code, ST_X(geom) AS lon, ST_Y(geom) AS lat
            FROM facilities WHERE type = :type ORDER BY code
            """
        ),
        {"type": facility_type},
    )
    return [dict(r._mapping) for r in rows]


def placed_responders_for_map(
    db: Executor,
    *,
    roles: Sequence[str] | None,
    statuses: Sequence[str],
    fresh_since: datetime,
    per_role_limit: int,
    seed: float,
) -> list[dict[str, Any]]:
    """Responders by role, placed as dispatch would, at most `per_role_limit` of each role.

    A role with more members is sampled uniformly at random (repeatably: `seed`), so a
    300,000-strong volunteer force becomes a map-sized, still representative, layer."""
    db.execute(text("SELECT setseed(:seed)"), {"seed": seed})
    rows = db.execute(
        text(
            """
            WITH placed AS (
                SELECT r.id, r.name, r.role, r.status,
                       COALESCE(p.position, r.home) AS geom,
                       row_number() OVER (PARTITION BY r.role ORDER BY random()) AS pick,
                       count(*) OVER (PARTITION BY r.role) AS role_total
                FROM responders r
                """
            + FRESH_FIX_JOIN
            + """
                WHERE (CAST(:roles AS varchar[]) IS NULL OR r.role = ANY(CAST(:roles AS varchar[])))
                  AND r.status = ANY(CAST(:statuses AS varchar[]))
            )
            SELECT id, name, role, status, role_total, ST_X(geom) AS lon, ST_Y(geom) AS lat
            FROM placed WHERE pick <= :per_role_limit
            ORDER BY role, id
            """
        ),
        {
            "roles": list(roles) if roles else None,
            "statuses": list(statuses),
            "fresh_since": fresh_since,
            "per_role_limit": per_role_limit,
        },
    )
    return [dict(r._mapping) for r in rows]


def incident_density(
    db: Executor, *, cell_deg: float, limit: int
) -> list[tuple[float, float, int]]:
    """Incident counts on a lon/lat lattice (bin centre, count); empty without an incidents
    table (maps come before or without the incidents feature)."""
    exists = db.execute(text("SELECT to_regclass('public.incidents') IS NOT NULL")).scalar_one()
    if not exists:
        return []
    rows = db.execute(
        text(
            """
            SELECT (floor(ST_X(geom) / :cell) + 0.5) * :cell AS lon,
                   (floor(ST_Y(geom) / :cell) + 0.5) * :cell AS lat,
                   count(*) AS n
            FROM incidents
            GROUP BY 1, 2
            ORDER BY n DESC
            LIMIT :limit
            """
        ),
        {"cell": cell_deg, "limit": limit},
    )
    return [(float(r.lon), float(r.lat), int(r.n)) for r in rows]


def grid_outline_geojson(db: Executor, generation_id: int, code: str) -> dict[str, Any] | None:
    """One grid's outline as a GeoJSON feature (None when unknown)."""
    row = db.execute(
        text(
            """
            SELECT code, name, kind, ST_AsGeoJSON(geom, 6) AS g FROM areas
            WHERE generation_id = :generation_id AND code = :code
            """
        ),
        {"generation_id": generation_id, "code": code},
    ).first()
    if row is None:
        return None
    return {
        "type": "Feature",
        "geometry": json.loads(row.g),
        "properties": {"code": row.code, "name": row.name, "kind": row.kind},
    }
