"""What the planners' console reads from stored runs: hexagons aggregated to the map's zoom,
per-area tables (JSON, CSV, GeoJSON) under a parent, and the comparison of two runs."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np
from sqlalchemy import text

from gridgis.coverage import cells as cells_mod
from gridgis.coverage import hexagons as hexagon_tables
from gridgis.coverage import sql as coverage_sql
from gridgis.coverage.hexagons import HexagonCache, HexagonTable
from gridgis.coverage.runs import public_area
from gridgis.db import Executor
from gridgis.errors import InvalidInput, NotFound
from gridgis.vocabulary import AREA_LEVELS

MAX_HEXAGONS = 20_000
# The H3 resolution drawn at a web-map zoom keeps a hexagon about 10-20 pixels across in
# Zhangzhou (one pixel is ~560 m at zoom 8 and halves with each zoom; an H3 cell's width is
# ~6.5 km at res 6 and shrinks ~2.6x with each resolution): zoom - 2 up to zoom 9, then - 3.
MIN_DRAW_RESOLUTION = 5
AREA_CSV_COLUMNS = (
    "code",
    "level",
    "name",
    "parent_code",
    "population",
    "population_within_target",
    "population_share_within_target",
    "area_km2",
    "area_share_within_target",
    "eta_mean_s",
    "eta_p90_s",
    "eta_k_mean_s",
    "eta_k_p90_s",
    "responders",
    "responders_per_10k",
    "cells",
)
COMPARED = (
    "population_share_within_target",
    "population_within_target",
    "area_share_within_target",
    "eta_mean_s",
    "eta_p90_s",
    "responders",
    "responders_per_10k",
)


def draw_resolution(zoom: int, run_resolution: int) -> int:
    """The H3 resolution whose hexagons are drawn at a web-map zoom (never finer than the run)."""
    wanted = zoom - 2 if zoom <= 9 else zoom - 3
    return max(MIN_DRAW_RESOLUTION, min(run_resolution, wanted))


def _view(
    db: Executor,
    run_id: int,
    bbox: tuple[float, float, float, float],
    zoom: int,
    cache: HexagonCache | None,
) -> tuple[dict[str, Any], HexagonTable, np.ndarray]:
    """(the collection's members but its features, the table drawn, the indexes shown)."""
    if not 0 <= zoom <= 22:
        raise InvalidInput("zoom must be between 0 and 22.", field="zoom")
    run = coverage_sql.get_run(db, run_id)
    run_resolution = int(run.parameters["resolution"])
    k = int(run.parameters.get("k", 1))
    # Only a finished run is immutable; one still being written is gathered for this call.
    tables = cache if cache is not None and run.status == "done" else HexagonCache(0)

    def table_at(resolution: int) -> HexagonTable:
        if resolution == run_resolution:
            return tables.get(
                run_id,
                run.created_at,
                resolution,
                lambda: hexagon_tables.run_table(db, run_id, resolution=resolution, k=k),
            )
        return tables.get(
            run_id,
            run.created_at,
            resolution,
            lambda: hexagon_tables.coarser(table_at(run_resolution), resolution),
        )

    # A big screen at a close zoom may hold more cells than a browser should draw: then the
    # next coarser resolution, until the view fits.
    resolution = draw_resolution(zoom, run_resolution)
    while True:
        table = table_at(resolution)
        shown = table.in_view(bbox)
        if len(shown) <= MAX_HEXAGONS:
            break
        if resolution <= MIN_DRAW_RESOLUTION:
            raise InvalidInput(
                f"More than {MAX_HEXAGONS} hexagons in this view even at H3 resolution "
                f"{resolution}: use a smaller bbox.",
                field="bbox",
            )
        resolution -= 1
    head = {
        "type": "FeatureCollection",
        "run": run_id,
        "zoom": zoom,
        "resolution": resolution,
        "run_resolution": run_resolution,
        "target_s": float(run.parameters["target_s"]),
    }
    return head, table, shown


def hexagons(
    db: Executor,
    run_id: int,
    *,
    bbox: tuple[float, float, float, float],
    zoom: int,
    cache: HexagonCache | None = None,
) -> dict[str, Any]:
    """The run's cells in `bbox` gathered to the resolution drawn at `zoom` (GeoJSON
    hexagons), coarser still when the view would hold more than MAX_HEXAGONS. A hexagon is
    drawn when any of its cells' centres is in the view, and carries all its cells: people
    summed, the people within target (k responders), the population-weighted ETA (mean when
    nobody lives there) and the fastest and slowest ETA; at the run's own resolution it is one
    feature per cell. With `cache`, a finished run's hexagons are gathered once per
    resolution and kept (the run is looked up on every call all the same)."""
    head, table, shown = _view(db, run_id, bbox, zoom, cache)
    run_resolution = int(head["run_resolution"])
    return {**head, "features": [_hexagon(table, int(i), run_resolution) for i in shown]}


def hexagons_json(
    db: Executor,
    run_id: int,
    *,
    bbox: tuple[float, float, float, float],
    zoom: int,
    cache: HexagonCache | None = None,
) -> bytes:
    """hexagons() encoded as compact UTF-8 JSON; with `cache`, each hexagon's JSON is kept
    with its table, so a view seen before is joined, not built again."""
    head, table, shown = _view(db, run_id, bbox, zoom, cache)
    run_resolution = int(head["run_resolution"])
    parts = []
    for index in shown.tolist():
        encoded = table.encoded.get(index)
        if encoded is None:
            encoded = _compact(_hexagon(table, index, run_resolution))
            table.remember(index, encoded)
        parts.append(encoded)
    return (_compact(head)[:-1] + ',"features":[' + ",".join(parts) + "]}").encode("utf-8")


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _figure(value: float, digits: int) -> float | None:
    return None if value != value else round(float(value), digits)  # NaN: no ETA


def _hexagon(table: HexagonTable, i: int, run_resolution: int) -> dict[str, Any]:
    cell = int(table.cell[i])
    if table.people_with_eta[i] > 0:
        eta = table.people_eta[i] / table.people_with_eta[i]
    elif table.eta_count[i] > 0:
        eta = table.eta_sum[i] / table.eta_count[i]
    else:
        eta = float("nan")
    grid_code = (
        table.codes[int(table.grid[i])]
        if table.grid is not None and table.resolution == run_resolution
        else None
    )
    token = cells_mod.cell_token(cell)
    return {
        "type": "Feature",
        "id": token,
        "geometry": {"type": "Polygon", "coordinates": [cells_mod.cell_boundary(cell)]},
        "properties": {
            "h3": token,
            "resolution": table.resolution,
            "cells": int(table.cells[i]),
            "grid_code": grid_code,
            "population": round(float(table.population[i]), 2),
            "population_within_target": round(float(table.covered[i]), 2),
            "eta_s": _figure(eta, 1),
            "eta_min_s": _figure(table.eta_min[i], 1),
            "eta_max_s": _figure(table.eta_max[i], 1),
        },
    }


# -- per-area tables ------------------------------------------------------------------------------
_AREA_GEOMETRY = text(
    """
    SELECT code, ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, :tolerance), 6) AS geometry
    FROM areas
    WHERE generation_id = :generation_id AND code = ANY(:codes)
    """
)
# About 10 m: enough for a choropleth, a fraction of the full outline's size.
SIMPLIFY_DEGREES = 0.0001


def _check_level(level: str) -> None:
    if level not in AREA_LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(AREA_LEVELS)}.", field="level")


def run_areas(
    db: Executor, run_id: int, level: str, parent: str | None = None
) -> list[dict[str, Any]]:
    """A run's statistics for every area of `level` (only the children of `parent` when given;
    NotFound when the run holds no area with that code)."""
    _check_level(level)
    coverage_sql.get_run(db, run_id)
    rows = coverage_sql.area_stats(db, run_id, None if parent else level)
    if parent is not None:
        parents = {r["code"]: r["parent_code"] for r in rows}
        if parent not in parents:
            raise NotFound(f"Run {run_id} has no area {parent}.", field="parent")
        rows = [r for r in rows if r["level"] == level and _under(r["code"], parent, parents)]
    return [public_area(r) for r in rows]


def _under(code: str, parent: str, parents: dict[str, str | None]) -> bool:
    """Whether `parent` is an ancestor of `code` (the hierarchy is at most four deep)."""
    current = parents.get(code)
    for _ in range(len(AREA_LEVELS)):
        if current is None:
            return False
        if current == parent:
            return True
        current = parents.get(current)
    return False


def areas_csv(areas: list[dict[str, Any]]) -> str:
    """Areas as CSV (UTF-8, header row, the columns of AREA_CSV_COLUMNS)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(AREA_CSV_COLUMNS)
    for area in areas:
        writer.writerow(
            ["" if area.get(c) is None else _csv_safe(area[c]) for c in AREA_CSV_COLUMNS]
        )
    return out.getvalue()


def _csv_safe(value: Any) -> Any:
    # A cell starting with = + - @ is a formula in a spreadsheet: quote it as text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def areas_geojson(db: Executor, generation_id: int, areas: list[dict[str, Any]]) -> dict[str, Any]:
    """Areas as a GeoJSON FeatureCollection with their (simplified) outlines."""
    geometries = {
        r.code: json.loads(r.geometry)
        for r in db.execute(
            _AREA_GEOMETRY,
            {
                "generation_id": generation_id,
                "codes": [a["code"] for a in areas],
                "tolerance": SIMPLIFY_DEGREES,
            },
        )
        if r.geometry is not None
    }
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": a["code"],
                "geometry": geometries.get(a["code"]),
                "properties": a,
            }
            for a in areas
        ],
    }


# -- comparing two runs ---------------------------------------------------------------------------
def compare_runs(
    db: Executor, run_a: int, run_b: int, level: str, parent: str | None = None
) -> dict[str, Any]:
    """Per-area differences (b - a) of two runs at one level: each compared figure as a, b and
    difference; areas present in only one run have the other side null."""
    _check_level(level)
    a = {r["code"]: r for r in run_areas(db, run_a, level, parent)}
    b = {r["code"]: r for r in run_areas(db, run_b, level, parent)}
    rows = []
    for code in sorted(a.keys() | b.keys()):
        left, right = a.get(code), b.get(code)
        base = left or right
        assert base is not None
        row: dict[str, Any] = {
            "code": code,
            "level": base["level"],
            "name": base["name"],
            "parent_code": base["parent_code"],
            "population": base["population"],
        }
        for name in COMPARED:
            va = None if left is None else left[name]
            vb = None if right is None else right[name]
            row[f"{name}_a"] = va
            row[f"{name}_b"] = vb
            row[f"{name}_diff"] = (
                None if va is None or vb is None else round(float(vb) - float(va), 6)
            )
        rows.append(row)
    return {"a": run_a, "b": run_b, "level": level, "parent": parent, "areas": rows}
