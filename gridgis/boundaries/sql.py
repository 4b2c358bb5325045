"""Boundary SQL: locate on subdivided pieces, the hierarchy, a grid's team, areas, tiling."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CursorResult, text

from gridgis.db import Executor
from gridgis.errors import NotFound
from gridgis.vocabulary import AREA_LEVELS

# Point-in-polygon on the subdivided pieces: the GiST index narrows to a few small boxes, then
# ST_Intersects (boundary included) decides. Several grids may answer for a point on a shared
# edge or vertex; callers order them by code. With no generation given, the active one is
# found in the same round trip (locate and dispatch are hot paths).
LOCATE_GRIDS = text(
    """
    SELECT DISTINCT a.id, a.code, a.name, a.level, a.kind, a.parent_code, a.population,
           a.generation_id
    FROM area_pieces p
    JOIN areas a ON a.id = p.area_id
    WHERE p.generation_id = COALESCE(
            CAST(:generation_id AS bigint), (SELECT id FROM generations WHERE active))
      AND ST_Intersects(p.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
    ORDER BY a.code
    """
)

_ANCESTORS = text(
    """
    WITH RECURSIVE chain AS (
        SELECT code, name, level, parent_code, 0 AS depth
        FROM areas WHERE generation_id = :generation_id AND code = :code
        UNION ALL
        SELECT a.code, a.name, a.level, a.parent_code, chain.depth + 1
        FROM areas a JOIN chain ON a.code = chain.parent_code
        WHERE a.generation_id = :generation_id AND chain.depth < 10
    )
    SELECT code, name, level FROM chain ORDER BY depth DESC
    """
)

_TEAM = text(
    """
    SELECT r.id AS responder_id, r.name, r.role, asg.duty, r.status
    FROM assignments asg
    JOIN responders r ON r.id = asg.responder_id
    JOIN roles ro ON ro.code = asg.duty
    WHERE asg.grid_code = :code
    ORDER BY ro.team_order, r.name, r.id
    """
)

_ACTIVE_GENERATION = text("SELECT id FROM generations WHERE active")

_GENERATION_BY_ID = text("SELECT id FROM generations WHERE id = :generation_id")


@dataclass(frozen=True)
class AreaRow:
    """One area as lookups return it."""

    code: str
    name: str
    level: str
    kind: str
    parent_code: str | None
    population: int
    generation_id: int


def find_active_generation_id(db: Executor) -> int | None:
    """The generation lookups use; None before any boundaries are loaded."""
    found = db.execute(_ACTIVE_GENERATION).scalar()
    return None if found is None else int(found)


def active_generation_id(db: Executor) -> int:
    """The generation lookups use; NotFound when no boundaries have been loaded."""
    found = find_active_generation_id(db)
    if found is None:
        raise NotFound(
            "No boundary generation is active: load the demo or import boundaries first."
        )
    return found


def resolve_generation_id(db: Executor, generation_id: int | None) -> int:
    """The generation asked for, or the active one."""
    if generation_id is None:
        return active_generation_id(db)
    if db.execute(_GENERATION_BY_ID, {"generation_id": generation_id}).first() is None:
        raise NotFound(f"Generation {generation_id} does not exist.", field="generation")
    return generation_id


def grids_at_point(
    db: Executor, generation_id: int | None, lon: float, lat: float
) -> list[AreaRow]:
    """Every grid whose polygon (boundary included) contains the point, ordered by code, in
    `generation_id` or (None) the active generation. Empty outside every grid."""
    rows = db.execute(LOCATE_GRIDS, {"generation_id": generation_id, "lon": lon, "lat": lat})
    return [
        AreaRow(r.code, r.name, r.level, r.kind, r.parent_code, int(r.population), r.generation_id)
        for r in rows
    ]


def ancestors(db: Executor, generation_id: int, code: str) -> list[dict[str, str]]:
    """The chain city -> ... -> the area itself."""
    rows = db.execute(_ANCESTORS, {"generation_id": generation_id, "code": code})
    return [{"code": r.code, "name": r.name, "level": r.level} for r in rows]


def grid_team(db: Executor, code: str) -> list[dict[str, Any]]:
    """The grid's "2+N" team: its assigned responders with their duty."""
    rows = db.execute(_TEAM, {"code": code})
    return [
        {
            "responder_id": int(r.responder_id),
            "name": r.name,
            "role": r.role,
            "duty": r.duty,
            "status": r.status,
        }
        for r in rows
    ]


_AREA_PROPERTIES = "a.code, a.name, a.level, a.parent_code, a.kind, a.population, a.generation_id"
_AREA_COLUMNS = _AREA_PROPERTIES + ", ST_AsGeoJSON(a.geom, :precision) AS geometry"


def list_areas(
    db: Executor,
    generation_id: int,
    *,
    level: str | None = None,
    parent_code: str | None = None,
    with_geometry: bool = True,
    precision: int = 6,
) -> list[dict[str, Any]]:
    """Areas of a generation, optionally filtered by level and parent, ordered by code."""
    columns = _AREA_COLUMNS if with_geometry else _AREA_PROPERTIES
    statement = text(
        f"""
        SELECT {columns}
        FROM areas a
        WHERE a.generation_id = :generation_id
          AND (CAST(:level AS varchar) IS NULL OR a.level = :level)
          AND (CAST(:parent_code AS varchar) IS NULL OR a.parent_code = :parent_code)
        ORDER BY array_position(CAST(:levels AS varchar[]), a.level::varchar),
                 a.code
        """
    )
    rows = db.execute(
        statement,
        {
            "generation_id": generation_id,
            "level": level,
            "parent_code": parent_code,
            "precision": precision,
            "levels": list(AREA_LEVELS),
        },
    )
    return [_area_dict(r._mapping) for r in rows]


def get_area(db: Executor, generation_id: int, code: str, *, precision: int = 6) -> dict[str, Any]:
    """One area with its geometry and its children's codes."""
    statement = text(
        f"""
        SELECT {_AREA_COLUMNS},
               ARRAY(SELECT c.code FROM areas c
                     WHERE c.generation_id = a.generation_id AND c.parent_code = a.code
                     ORDER BY c.code) AS children
        FROM areas a
        WHERE a.generation_id = :generation_id AND a.code = :code
        """
    )
    row = db.execute(
        statement, {"generation_id": generation_id, "code": code, "precision": precision}
    ).first()
    if row is None:
        raise NotFound(f"No area with code {code!r} in generation {generation_id}.", field="code")
    area = _area_dict(row._mapping)
    area["children"] = list(row.children)
    return area


def _area_dict(mapping: Any) -> dict[str, Any]:
    area = {
        "code": mapping["code"],
        "name": mapping["name"],
        "level": mapping["level"],
        "parent_code": mapping["parent_code"],
        "kind": mapping["kind"],
        "population": int(mapping["population"]),
        "generation": int(mapping["generation_id"]),
    }
    if "geometry" in mapping:
        area["geometry"] = json.loads(mapping["geometry"])
    return area


def rebuild_area_pieces(db: Executor, generation_id: int, max_vertices: int = 64) -> int:
    """Refresh the subdivided copy of a generation's grid polygons; returns the piece count."""
    db.execute(text("DELETE FROM area_pieces WHERE generation_id = :g"), {"g": generation_id})
    result: CursorResult[Any] = db.execute(  # type: ignore[assignment]
        text(
            """
            INSERT INTO area_pieces (area_id, generation_id, geom)
            SELECT id, generation_id, ST_Subdivide(geom, :max_vertices)
            FROM areas WHERE generation_id = :g AND level = :grid
            """
        ),
        {"g": generation_id, "max_vertices": max_vertices, "grid": "grid"},
    )
    return int(result.rowcount or 0)


def tiling_defects(
    db: Executor, generation_id: int, child_level: str, parent_level: str | None = None
) -> dict[str, float]:
    """Overlap between siblings and gap/overhang against their parent, in square metres.

    Measured on the WGS84 ellipsoid (geography). With parent_level None, siblings are all areas
    of child_level and the 'parent' is their union (used for counties vs the city outline).
    """
    overlap = db.execute(
        text(
            """
            SELECT COALESCE(SUM(ST_Area(ST_Intersection(a.geom, b.geom)::geography)), 0)
            FROM areas a JOIN areas b
              ON a.generation_id = b.generation_id AND a.id < b.id
             AND a.parent_code IS NOT DISTINCT FROM b.parent_code
             AND ST_Intersects(a.geom, b.geom)
            WHERE a.generation_id = :g AND a.level = :child AND b.level = :child
            """
        ),
        {"g": generation_id, "child": child_level},
    ).scalar_one()
    result = {"overlap_m2": float(overlap)}
    if parent_level is not None:
        row = db.execute(
            text(
                """
                WITH kids AS (
                    SELECT parent_code, ST_Union(geom) AS geom
                    FROM areas WHERE generation_id = :g AND level = :child
                    GROUP BY parent_code
                )
                SELECT
                  COALESCE(SUM(ST_Area(ST_Difference(p.geom, k.geom)::geography)), 0) AS gap,
                  COALESCE(SUM(ST_Area(ST_Difference(k.geom, p.geom)::geography)), 0) AS outside,
                  COUNT(*) FILTER (WHERE k.geom IS NULL) AS childless
                FROM areas p LEFT JOIN kids k ON k.parent_code = p.code
                WHERE p.generation_id = :g AND p.level = :parent
                """
            ),
            {"g": generation_id, "child": child_level, "parent": parent_level},
        ).one()
        result.update(
            gap_m2=float(row.gap), outside_m2=float(row.outside), childless=float(row.childless)
        )
    return result


def counts_by_level(db: Executor, generation_id: int) -> dict[str, int]:
    """How many areas of each level a generation has."""
    rows = db.execute(
        text("SELECT level, COUNT(*) FROM areas WHERE generation_id = :g GROUP BY level"),
        {"g": generation_id},
    )
    return {r[0]: int(r[1]) for r in rows}


def area_codes(db: Executor, generation_id: int, level: str) -> Sequence[str]:
    """Codes of one level, sorted."""
    rows = db.execute(
        text("SELECT code FROM areas WHERE generation_id = :g AND level = :level ORDER BY code"),
        {"g": generation_id, "level": level},
    )
    return [r[0] for r in rows]


# -- search and drawing ----------------------------------------------------------------------
# Exact code or name first, then prefixes, then substrings; within a rank bigger areas first
# (a county before the township and grids named after it), then shorter names, then code.
_SEARCH_AREAS = text(
    """
    SELECT a.code, a.name, a.level, a.kind, a.parent_code, p.name AS parent_name,
           a.population, a.generation_id,
           ST_X(c.point) AS lon, ST_Y(c.point) AS lat,
           ST_XMin(a.geom) AS west, ST_YMin(a.geom) AS south,
           ST_XMax(a.geom) AS east, ST_YMax(a.geom) AS north,
           CASE WHEN a.code = :q OR a.name = :q THEN 0
                WHEN a.code LIKE :prefix ESCAPE '\\' OR a.name LIKE :prefix ESCAPE '\\' THEN 1
                ELSE 2 END AS rank
    FROM areas a
    LEFT JOIN areas p ON p.generation_id = a.generation_id AND p.code = a.parent_code
    CROSS JOIN LATERAL (SELECT ST_PointOnSurface(a.geom) AS point) c
    WHERE a.generation_id = :generation_id
      AND (CAST(:level AS varchar) IS NULL OR a.level = :level)
      AND (a.code LIKE :prefix ESCAPE '\\' OR a.name LIKE :substring ESCAPE '\\')
    ORDER BY rank,
             array_position(CAST(:levels AS varchar[]), a.level),
             char_length(a.name), a.code
    LIMIT :limit
    """
)

_SIMPLIFIED_OUTLINES = text(
    """
    SELECT a.code, a.name, a.level, a.kind, a.parent_code,
           ST_AsGeoJSON(ST_SimplifyPreserveTopology(a.geom, :tolerance), :precision)
               AS geometry
    FROM areas a
    WHERE a.generation_id = :generation_id
      AND a.level = :level
      AND (CAST(:west AS double precision) IS NULL
           OR a.geom && ST_MakeEnvelope(:west, :south, :east, :north, 4326))
    ORDER BY a.code
    """
)


def search_areas(
    db: Executor,
    generation_id: int,
    *,
    exact: str,
    prefix: str,
    substring: str,
    level: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Areas matching a code prefix or a name substring (LIKE patterns, escaped by the caller),
    ranked: exact, prefix, substring."""
    rows = db.execute(
        _SEARCH_AREAS,
        {
            "generation_id": generation_id,
            "q": exact,
            "prefix": prefix,
            "substring": substring,
            "level": level,
            "limit": limit,
            "levels": list(AREA_LEVELS),
        },
    )
    return [dict(r._mapping) for r in rows]


def simplified_outlines(
    db: Executor,
    generation_id: int,
    level: str,
    *,
    tolerance: float,
    precision: int,
    bbox: tuple[float, float, float, float] | None,
) -> list[dict[str, Any]]:
    """One level's areas with their outlines simplified by `tolerance` degrees (GeoJSON text),
    all of them or only those meeting `bbox` (west, south, east, north)."""
    corners: tuple[float | None, ...] = bbox if bbox is not None else (None,) * 4
    rows = db.execute(
        _SIMPLIFIED_OUTLINES,
        {
            "generation_id": generation_id,
            "level": level,
            "tolerance": tolerance,
            "precision": precision,
            "west": corners[0],
            "south": corners[1],
            "east": corners[2],
            "north": corners[3],
        },
    )
    return [dict(r._mapping) for r in rows]
