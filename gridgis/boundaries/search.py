"""Find areas by code or Chinese name, and area outlines simplified for a map's zoom level."""

from __future__ import annotations

import json
import math
from typing import Any

from gridgis.boundaries import sql
from gridgis.db import Executor
from gridgis.errors import InvalidInput
from gridgis.vocabulary import AREA_LEVELS

MAX_RESULTS = 50
MAX_QUERY = 50
MIN_ZOOM, MAX_ZOOM = 0, 20


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
    if "\x00" in q:
        raise InvalidInput("q may not contain NUL characters.", field="q")
    if len(q) > MAX_QUERY:
        raise InvalidInput(f"q must be at most {MAX_QUERY} characters.", field="q")
    if level is not None and level not in AREA_LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(AREA_LEVELS)}.", field="level")
    if not 1 <= limit <= MAX_RESULTS:
        raise InvalidInput(f"limit must be between 1 and {MAX_RESULTS}.", field="limit")
    escaped = _like_escape(q)
    rows = sql.search_areas(
        db,
        sql.resolve_generation_id(db, generation_id),
        exact=q,
        prefix=escaped + "%",
        substring="%" + escaped + "%",
        level=level,
        limit=limit,
    )
    results = []
    for m in rows:
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
    generation = sql.resolve_generation_id(db, generation_id)
    rows = sql.simplified_outlines(
        db, generation, level, tolerance=tolerance, precision=precision, bbox=bbox
    )
    features = [
        {
            "type": "Feature",
            "geometry": json.loads(r["geometry"]),
            "properties": {
                "code": r["code"],
                "name": r["name"],
                "level": r["level"],
                "kind": r["kind"],
                "parent_code": r["parent_code"],
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
