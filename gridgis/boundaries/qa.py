"""Topology checks of a staged generation in PostGIS: parents, overlaps, gaps, slivers, overhangs.

Every defect is split into its connected pieces (ST_Dump) and each piece is measured on the
WGS84 ellipsoid (geography). A piece smaller than `tolerance_m2` (default 1 m²) is noise from
floating-point noding and is not reported. A larger piece whose mean width 2·area/perimeter is
below `sliver_width_m` (default 2 m, the digitising accuracy of 1:10,000 boundary maps) is a
*sliver*: a warning, because it cannot hold a meaningful share of anyone's territory. Anything
wider is an error: an `overlap` (two areas of one level claim the same ground), a `gap` (ground
of a parent no child covers) or `outside_parent` (a child reaching beyond its parent).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import text

from gridgis.boundaries.imports import Finding
from gridgis.db import Executor
from gridgis.vocabulary import AREA_LEVELS

DEFAULT_TOLERANCE_M2: Final = 1.0
DEFAULT_SLIVER_WIDTH_M: Final = 2.0
# Coordinates of located geometries: 1e-7 degrees is ~1 cm.
_PRECISION: Final = 7


@dataclass(frozen=True)
class Thresholds:
    """What is noise, what is a sliver."""

    tolerance_m2: float = DEFAULT_TOLERANCE_M2
    sliver_width_m: float = DEFAULT_SLIVER_WIDTH_M


# Each defect query yields (codes, geom) rows; this wrapper measures and locates the pieces.
_MEASURE = """
    SELECT codes, ST_Area(d.geom::geography) AS area_m2,
           ST_Perimeter(d.geom::geography) AS perimeter_m,
           ST_X(ST_PointOnSurface(d.geom)) AS lon, ST_Y(ST_PointOnSurface(d.geom)) AS lat,
           ST_AsGeoJSON(d.geom, :precision) AS geometry
    FROM ({inner}) pieces
    CROSS JOIN LATERAL ST_Dump(ST_CollectionExtract(pieces.geom, 3)) d
    WHERE ST_Area(d.geom::geography) >= :tolerance
    ORDER BY codes, area_m2 DESC
"""

_OVERLAPS = """
    SELECT ARRAY[a.code, b.code]::varchar[] AS codes, ST_Intersection(a.geom, b.geom) AS geom
    FROM areas a
    JOIN areas b ON b.generation_id = a.generation_id AND b.level = a.level
     AND a.code < b.code AND a.geom && b.geom AND ST_Intersects(a.geom, b.geom)
    WHERE a.generation_id = :g AND a.level = :level
"""

_KIDS = """
    WITH kids AS (
        SELECT parent_code, ST_Union(geom) AS geom
        FROM areas WHERE generation_id = :g AND level = :child AND parent_code IS NOT NULL
        GROUP BY parent_code
    )
"""

# A parent without any child is one big gap (only asked when the child level exists).
_GAPS = (
    _KIDS
    + """
    SELECT ARRAY[p.code]::varchar[] AS codes,
           CASE WHEN k.geom IS NULL THEN p.geom ELSE ST_Difference(p.geom, k.geom) END AS geom
    FROM areas p LEFT JOIN kids k ON k.parent_code = p.code
    WHERE p.generation_id = :g AND p.level = :parent
"""
)

_OUTSIDE = (
    _KIDS
    + """
    , overhang AS (
        SELECT p.code AS parent_code, ST_Difference(k.geom, p.geom) AS geom
        FROM kids k JOIN areas p
          ON p.generation_id = :g AND p.level = :parent AND p.code = k.parent_code
    )
    SELECT ARRAY[o.parent_code]::varchar[] AS codes, o.geom FROM overhang o
"""
)

_MISSING_PARENTS = text(
    """
    SELECT c.code, c.parent_code, ST_Area(c.geom::geography) AS area_m2,
           ST_X(ST_PointOnSurface(c.geom)) AS lon, ST_Y(ST_PointOnSurface(c.geom)) AS lat,
           ST_AsGeoJSON(c.geom, :precision) AS geometry
    FROM areas c
    WHERE c.generation_id = :g AND c.level = :child
      AND (c.parent_code IS NOT NULL OR :parent_level_present)
      AND NOT EXISTS (SELECT 1 FROM areas p WHERE p.generation_id = :g AND p.level = :parent
                      AND p.code = c.parent_code)
    ORDER BY c.code
    """
)

# Which children of an overhang piece reach out there (its point lies in at least one).
_CHILDREN_AT = text(
    """
    SELECT code FROM areas
    WHERE generation_id = :g AND level = :child AND parent_code = :parent
      AND ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
    ORDER BY code
    """
)


def _levels_present(db: Executor, generation_id: int) -> set[str]:
    rows = db.execute(
        text("SELECT DISTINCT level FROM areas WHERE generation_id = :g"), {"g": generation_id}
    )
    return {r[0] for r in rows}


def _pieces(db: Executor, inner: str, params: dict[str, Any]) -> list[Any]:
    return list(db.execute(text(_MEASURE.format(inner=inner)), params))


def _classify(
    rows: list[Any],
    check: str,
    describe: str,
    thresholds: Thresholds,
    errors: list[Finding],
    warnings: list[Finding],
) -> None:
    for row in rows:
        area = float(row.area_m2)
        perimeter = float(row.perimeter_m) or 1.0
        width = 2.0 * area / perimeter
        codes = list(row.codes)
        located = {
            "area_m2": area,
            "point": [round(float(row.lon), _PRECISION), round(float(row.lat), _PRECISION)],
            "geometry": json.loads(row.geometry),
        }
        if width < thresholds.sliver_width_m:
            warnings.append(
                Finding(
                    "sliver",
                    codes,
                    f"Thin {describe} {', '.join(codes)}: {area:,.1f} m², mean width "
                    f"{width:.2f} m (< {thresholds.sliver_width_m:g} m).",
                    **located,
                )
            )
        else:
            errors.append(
                Finding(
                    check,
                    codes,
                    f"{describe.capitalize()} {', '.join(codes)}: {area:,.1f} m², mean width "
                    f"{width:,.1f} m.",
                    **located,
                )
            )


def check_generation(
    db: Executor, generation_id: int, level: str, thresholds: Thresholds | None = None
) -> tuple[list[Finding], list[Finding]]:
    """(errors, warnings) of the imported `level` against its parent and its children."""
    thresholds = thresholds or Thresholds()
    errors: list[Finding] = []
    warnings: list[Finding] = []
    present = _levels_present(db, generation_id)
    depth = AREA_LEVELS.index(level)
    params = {
        "g": generation_id,
        "precision": _PRECISION,
        "tolerance": thresholds.tolerance_m2,
    }
    overlaps = _pieces(db, _OVERLAPS, {**params, "level": level})
    _classify(overlaps, "overlap", "overlap between", thresholds, errors, warnings)
    # The imported level is a child of the level above and a parent of the level below.
    pairs: list[tuple[str, str]] = []
    if depth > 0:
        pairs.append((AREA_LEVELS[depth - 1], level))
    if depth + 1 < len(AREA_LEVELS) and AREA_LEVELS[depth + 1] in present:
        pairs.append((level, AREA_LEVELS[depth + 1]))
    for parent, child in pairs:
        if child not in present:
            continue
        for row in db.execute(
            _MISSING_PARENTS,
            {
                **params,
                "child": child,
                "parent": parent,
                "parent_level_present": parent in present,
            },
        ):
            what = "no parent code" if row.parent_code is None else f"parent {row.parent_code}"
            errors.append(
                Finding(
                    "missing_parent",
                    [row.code],
                    f"{child} {row.code} has {what}, which is not a {parent} of this generation.",
                    float(row.area_m2),
                    [round(float(row.lon), _PRECISION), round(float(row.lat), _PRECISION)],
                    json.loads(row.geometry),
                )
            )
        if parent not in present:
            continue
        pair = {**params, "child": child, "parent": parent}
        gaps = _pieces(db, _GAPS, pair)
        _classify(gaps, "gap", f"gap (no {child}) in", thresholds, errors, warnings)
        before = len(errors), len(warnings)
        outside = _pieces(db, _OUTSIDE, pair)
        _classify(
            outside,
            "outside_parent",
            f"overhang ({child} beyond its {parent}) of",
            thresholds,
            errors,
            warnings,
        )
        # Name the children that reach out, not only the parent they leave.
        for findings, start in ((errors, before[0]), (warnings, before[1])):
            for index in range(start, len(findings)):
                finding = findings[index]
                assert finding.point is not None
                kids = [
                    r[0]
                    for r in db.execute(
                        _CHILDREN_AT,
                        {
                            "g": generation_id,
                            "child": child,
                            "parent": finding.codes[0],
                            "lon": finding.point[0],
                            "lat": finding.point[1],
                        },
                    )
                ]
                findings[index] = Finding(
                    finding.check,
                    [*finding.codes, *kids],
                    finding.message + (f" Reaching out: {', '.join(kids)}." if kids else ""),
                    finding.area_m2,
                    finding.point,
                    finding.geometry,
                )
    return errors, warnings
