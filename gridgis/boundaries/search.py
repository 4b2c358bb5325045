"""Find areas by code or Chinese name, and area outlines simplified for a map's zoom level."""

from __future__ import annotations

import json
import math
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from gridgis.errors import InvalidInput, NotFound

Executor = Session | Connection

AREA_LEVELS = ("city", "county", "township", "grid")
MAX_RESULTS = 50
MAX_QUERY = 50
MIN_ZOOM, MAX_ZOOM = 0, 20

_GENERATION = text(
    """
    SELECT id FROM generations
    WHERE CASE WHEN CAST(:generation_id AS integer) IS NULL THEN active
               ELSE id = :generation_id END
    """
)

# Exact code or name first, then prefixes, then substrings; within a rank bigger areas first
# (a county before the township and grids named after it), then shorter names, then code.
_SEARCH = text(
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
             array_position(ARRAY['city','county','township','grid']::varchar[], a.level),
             char_length(a.name), a.code
    LIMIT :limit
    """
)

_OUTLINES = text(
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


def _generation(db: Executor, generation_id: int | None) -> int:
    found = db.execute(_GENERATION, {"generation_id": generation_id}).scalar()
    if found is None:
        if generation_id is None:
            raise NotFound("No boundary generation is active.", field="generation")
        raise NotFound(f"No boundary generation {generation_id}.", field="generation")
    return int(found)


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_areas(
    db: Executor,
    q: str,
    *,
    level: str | None = None,
    limit: int = 10,
    generation_id: int | None = None,
) -> list[dict[str, Any]]:
    """Areas whose code starts with `q` or whose name contains it, best matches first."""
    q = q.strip()
    if not q:
        raise InvalidInput("q must not be empty.", field="q")
    if len(q) > MAX_QUERY:
        raise InvalidInput(f"q must be at most {MAX_QUERY} characters.", field="q")
    if level is not None and level not in AREA_LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(AREA_LEVELS)}.", field="level")
    if not 1 <= limit <= MAX_RESULTS:
        raise InvalidInput(f"limit must be between 1 and {MAX_RESULTS}.", field="limit")
    escaped = _like_escape(q)
    rows = db.execute(
        _SEARCH,
        {
            "generation_id": _generation(db, generation_id),
            "q": q,
            "prefix": escaped + "%",
            "substring": "%" + escaped + "%",
            "level": level,
            "limit": limit,
        },
    )
    results = []
    for row in rows:
        m = row._mapping
        results.append(
            {
                "code": m["code"],
                "name": m["name"],
                "level": m["level"],
                "kind": m["kind"],
                "parent_code": m["parent_code"],
                "parent_name": m["parent_name"],
                "population": int(m["population"]),
                "generation": int(m["generation_id"]),
                "point": {"lon": float(m["lon"]), "lat": float(m["lat"])},
                "bbox": [float(m["west"]), float(m["south"]), float(m["east"]), float(m["north"])],
                "match": ("exact", "prefix", "substring")[int(m["rank"])],
            }
        )
    return results


def tolerance_for_zoom(zoom: int) -> float:
    """Degrees of longitude one 256-pixel web-map tile pixel spans at `zoom`: simplifying by
    less than a pixel changes nothing a dispatcher can see."""
    return 360.0 / (256 * 2**zoom)


def outlines(
    db: Executor,
    level: str,
    zoom: int,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    generation_id: int | None = None,
) -> dict[str, Any]:
    """A FeatureCollection of one level's areas, simplified to a pixel at `zoom` (optionally
    only those meeting `bbox` = west, south, east, north)."""
    if level not in AREA_LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(AREA_LEVELS)}.", field="level")
    if not MIN_ZOOM <= zoom <= MAX_ZOOM:
        raise InvalidInput(f"zoom must be between {MIN_ZOOM} and {MAX_ZOOM}.", field="zoom")
    if bbox is not None and not (
        -180 <= bbox[0] < bbox[2] <= 180
        and -90 <= bbox[1] < bbox[3] <= 90
        and all(math.isfinite(v) for v in bbox)
    ):
        raise InvalidInput(
            "bbox must be west,south,east,north in degrees with west < east and south < north.",
            field="bbox",
        )
    tolerance = tolerance_for_zoom(zoom)
    # Enough decimals to place a vertex within a tenth of the tolerance, never more than 6.
    precision = max(1, min(6, math.ceil(-math.log10(tolerance / 10))))
    generation = _generation(db, generation_id)
    corners: tuple[float | None, ...] = bbox if bbox is not None else (None,) * 4
    rows = db.execute(
        _OUTLINES,
        {
            "generation_id": generation,
            "level": level,
            "tolerance": tolerance,
            "precision": precision,
            "west": corners[0],
            "south": corners[1],
            "east": corners[2],
            "north": corners[3],
        },
    )
    features = [
        {
            "type": "Feature",
            "geometry": json.loads(r.geometry),
            "properties": {
                "code": r.code,
                "name": r.name,
                "level": r.level,
                "kind": r.kind,
                "parent_code": r.parent_code,
            },
        }
        for r in rows
    ]
    return {
        "type": "FeatureCollection",
        "generation": generation,
        "level": level,
        "zoom": zoom,
        "tolerance_deg": tolerance,
        "features": features,
    }
