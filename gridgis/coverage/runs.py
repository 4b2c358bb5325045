"""Coverage runs: validate, fetch once, compute in bulk, store set-wise, and read back."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from gridgis import audit
from gridgis.boundaries import sql as boundaries_sql
from gridgis.coverage import cells as cells_mod
from gridgis.coverage import sql as coverage_sql
from gridgis.coverage.cells import CellSet, Grids, cell_set, grids_from_rows
from gridgis.coverage.compute import (
    CellEtas,
    area_statistics,
    cell_etas,
    hierarchy_from_rows,
    responder_cells,
    responder_tree,
)
from gridgis.coverage.sql import RunRow
from gridgis.db import Executor
from gridgis.dispatch.eta import DistanceEtaModel
from gridgis.dispatch.sql import responders as responders_sql
from gridgis.errors import InvalidInput, NotFound
from gridgis.roads.model import RoadEta
from gridgis.times import rfc3339
from gridgis.validation import check_limit
from gridgis.vocabulary import AREA_LEVELS, AVAILABLE, RESPONDER_STATUSES

Progress = Callable[[str, int, int], None]
CoverageRun = RunRow

MAX_K = 10
MAX_TARGET_S = 86_400.0
MAX_CELL_PAGE = 5_000
POPULATION_MODEL = (
    "each grid's population spread uniformly over its area: H3 cells are assigned to the grid "
    "holding their centre and get population in proportion to their area; a grid holding no "
    "cell centre keeps its population in the cell under its point-on-surface"
)
ETA_AGGREGATION = (
    "population-weighted (area-weighted where an area has no population); p90 is the smallest "
    "ETA met by at least 90% of the weight; distances are straight lines in EPSG:4548"
)


@dataclass(frozen=True)
class CoverageRequest:
    """What a coverage run counts and measures."""

    roles: tuple[str, ...] | None = None
    statuses: tuple[str, ...] = (AVAILABLE,)
    target_s: float | None = None
    k: int = 1
    resolution: int = 9
    generation_id: int | None = None


def validate_request(
    db: Executor, request: CoverageRequest, model: DistanceEtaModel | RoadEta
) -> CoverageRequest:
    """The request with defaults filled in; InvalidInput naming the first bad field."""
    roles = request.roles
    if roles is not None:
        roles = tuple(dict.fromkeys(r.strip() for r in roles if r and r.strip()))
        known = responders_sql.known_roles(db)
        unknown = sorted(set(roles) - known)
        if unknown:
            raise InvalidInput(
                f"unknown roles: {', '.join(unknown)}; "
                f"expected some of {', '.join(sorted(known))}.",
                field="roles",
            )
        roles = roles or None
    statuses = tuple(dict.fromkeys(request.statuses))
    bad = [s for s in statuses if s not in RESPONDER_STATUSES]
    if bad or not statuses:
        raise InvalidInput(
            f"statuses must be some of {', '.join(RESPONDER_STATUSES)}; "
            f"got {', '.join(bad) or 'none'}.",
            field="statuses",
        )
    target = model.target_s if request.target_s is None else request.target_s
    if isinstance(target, bool) or not isinstance(target, int | float):
        raise InvalidInput("target_s must be a number of seconds.", field="target_s")
    if not (math.isfinite(target) and 0 < target <= MAX_TARGET_S):
        raise InvalidInput(
            f"target_s must be a positive number of seconds up to {MAX_TARGET_S:g}.",
            field="target_s",
        )
    if isinstance(request.k, bool) or not isinstance(request.k, int) or not 1 <= request.k <= MAX_K:
        raise InvalidInput(f"k must be an integer between 1 and {MAX_K}.", field="k")
    resolution = request.resolution
    if (
        isinstance(resolution, bool)
        or not isinstance(resolution, int)
        or not cells_mod.MIN_RESOLUTION <= resolution <= cells_mod.MAX_RESOLUTION
    ):
        raise InvalidInput(
            f"resolution must be an H3 resolution between {cells_mod.MIN_RESOLUTION} and "
            f"{cells_mod.MAX_RESOLUTION} (9 is about 0.1 km² per cell).",
            field="resolution",
        )
    generation_id = boundaries_sql.resolve_generation_id(db, request.generation_id)
    return CoverageRequest(
        roles=roles,
        statuses=statuses,
        target_s=float(target),
        k=request.k,
        resolution=resolution,
        generation_id=generation_id,
    )


def _noop(stage: str, done: int, total: int) -> None:
    return None


def run_coverage(
    db: Executor,
    model: DistanceEtaModel | RoadEta,
    request: CoverageRequest,
    *,
    stale_after_s: float = 900.0,
    now: datetime | None = None,
    progress: Progress | None = None,
    release_reads: Callable[[], None] | None = None,
) -> CoverageRun:
    """Compute a coverage run and store it (the caller commits); returns the stored run.

    `release_reads` is called once the inputs are read, before the computation: a caller
    that owns the transaction ends it there (a session's rollback), so no connection sits idle
    in a transaction for the seconds the cells take; the writes then start a new one."""
    step = progress or _noop
    total_steps = 6
    started = time.perf_counter()
    request = validate_request(db, request, model)
    assert request.target_s is not None and request.generation_id is not None
    now = now or datetime.now(UTC)
    fresh_since = now - timedelta(seconds=stale_after_s)

    step("boundaries", 0, total_steps)
    rows = coverage_sql.generation_areas(db, request.generation_id)
    step("responders", 1, total_steps)
    lon, lat = coverage_sql.placed_positions(
        db, roles=request.roles, statuses=request.statuses, fresh_since=fresh_since
    )
    if release_reads is not None:
        release_reads()
    fetched = time.perf_counter()

    step("cells", 2, total_steps)
    grids = grids_from_rows(rows)
    if not grids.codes:
        raise NotFound(f"Generation {request.generation_id} has no grids.", field="generation")
    hierarchy = hierarchy_from_rows(rows, grids)
    cells = cell_set(grids, request.resolution)
    step("distances", 3, total_steps)
    if isinstance(model, RoadEta):
        from gridgis.roads.coverage import road_cell_etas

        etas = road_cell_etas(
            cells, grids.urban[cells.grid], lon, lat, model, target_s=request.target_s, k=request.k
        )
    else:
        tree = responder_tree(lon, lat)
        etas = cell_etas(
            cells, grids.urban[cells.grid], tree, model, target_s=request.target_s, k=request.k
        )
    step("aggregating", 4, total_steps)
    population = cells.populations(grids)
    stats = area_statistics(
        cells,
        grids,
        hierarchy,
        etas,
        population,
        responder_cells(lon, lat, request.resolution),
        k=request.k,
    )
    computed = time.perf_counter()

    step("storing", 5, total_steps)
    parameters = {
        "roles": list(request.roles) if request.roles else None,
        "statuses": list(request.statuses),
        "target_s": request.target_s,
        "k": request.k,
        "resolution": request.resolution,
        "generation_id": request.generation_id,
        "stale_after_s": stale_after_s,
        "as_of": rfc3339(now),
        "eta_model": model.parameters(),
        "population_model": POPULATION_MODEL,
        "eta_aggregation": ETA_AGGREGATION,
    }
    run_id, _ = coverage_sql.insert_run(db, request.generation_id, parameters)
    coverage_sql.copy_cells(db, run_id, _cell_columns(cells, grids, population, etas))
    coverage_sql.insert_area_stats(db, run_id, stats)
    stored = time.perf_counter()
    city = next((row for row in stats if row["level"] == "city"), None)
    summary: dict[str, Any] = {
        **(public_area(city) if city else {}),
        "responders_counted": len(lon),
        "cells": len(cells),
        "grids_without_cells": cells.grids_without_cells,
        "timings_s": {
            "fetch": round(fetched - started, 3),
            "compute": round(computed - fetched, 3),
            "store": round(stored - computed, 3),
        },
    }
    duration = time.perf_counter() - started
    coverage_sql.finish_run(db, run_id, summary=summary, duration_s=duration, cell_count=len(cells))
    step("done", total_steps, total_steps)
    return coverage_sql.get_run(db, run_id)


def _cell_columns(
    cells: CellSet, grids: Grids, population: np.ndarray[Any, Any], etas: CellEtas
) -> dict[str, np.ndarray[Any, Any]]:
    codes = np.asarray(grids.codes, dtype=object)
    return {
        "seq": np.arange(1, len(cells) + 1, dtype=np.int64),
        "h3": cells.h3,
        "grid_code": codes[cells.grid],
        "lon": np.round(cells.lon, 7),
        "lat": np.round(cells.lat, 7),
        "area_m2": np.round(cells.area_m2, 2),
        "population": population,
        "eta_s": np.round(etas.eta_s, 2),
        "eta_k_s": np.round(etas.eta_k_s, 2),
        "responders_within_target": etas.within_target,
    }


def _rounded(value: Any, digits: int) -> Any:
    return None if value is None else round(float(value), digits)


def public_area(row: dict[str, Any]) -> dict[str, Any]:
    """One area's statistics as the API and CLI show them."""
    return {
        "code": row["code"],
        "level": row["level"],
        "name": row["name"],
        "parent_code": row["parent_code"],
        "population": _rounded(row["population"], 1),
        "population_within_target": _rounded(row["population_within_target"], 1),
        "population_share_within_target": _rounded(row["population_share_within_target"], 6),
        "area_km2": _rounded(row["area_m2"] / 1e6, 4),
        "area_share_within_target": _rounded(row["area_share_within_target"], 6),
        "eta_mean_s": _rounded(row["eta_mean_s"], 1),
        "eta_p90_s": _rounded(row["eta_p90_s"], 1),
        "eta_k_mean_s": _rounded(row["eta_k_mean_s"], 1),
        "eta_k_p90_s": _rounded(row["eta_k_p90_s"], 1),
        "responders": int(row["responders"]),
        "responders_per_10k": _rounded(row["responders_per_10k"], 3),
        "cells": int(row["cells"]),
    }


# The actor of expiries by the retention period.
RETENTION_ACTOR = "retention"


def delete_run(db: Executor, run_id: int, *, actor: str) -> None:
    """Delete a run with its cells and statistics (NotFound if it does not exist); audited."""
    _delete_audited(db, run_id, actor=actor, action="coverage_run.delete")


def _delete_audited(db: Executor, run_id: int, *, actor: str, action: str, **noted: Any) -> None:
    """Delete a run, recording what it was (and `noted`) in the audit trail."""
    run = coverage_sql.get_run(db, run_id)
    coverage_sql.delete_run(db, run_id)
    audit.record(
        db,
        actor=actor,
        action=action,
        entity="coverage_run",
        entity_id=str(run_id),
        before={**_audited(run), **noted},
    )


def expire_runs(db: Executor, *, retention_days: int, now: datetime | None = None) -> list[int]:
    """Delete runs created more than `retention_days` ago (0: none); returns their ids. Each
    expiry is audited with the actor "retention"."""
    if retention_days <= 0:
        return []
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    ids = coverage_sql.runs_created_before(db, cutoff)
    for run_id in ids:
        _delete_audited(
            db,
            run_id,
            actor=RETENTION_ACTOR,
            action="coverage_run.expire",
            retention_days=retention_days,
        )
    return ids


def _audited(run: CoverageRun) -> dict[str, Any]:
    return {
        "created_at": run.created_at,
        "status": run.status,
        "generation": run.generation_id,
        "cell_count": run.cell_count,
        "parameters": {k: run.parameters.get(k) for k in ("roles", "k", "resolution", "target_s")},
    }


def get_run(db: Executor, run_id: int) -> CoverageRun:
    """One stored run (NotFound when absent)."""
    return coverage_sql.get_run(db, run_id)


def list_runs(db: Executor, *, before: int | None = None, limit: int = 50) -> list[CoverageRun]:
    """Stored runs, newest first."""
    check_limit(limit, 500)
    return coverage_sql.list_runs(db, before=before, limit=limit)


def area_summary(db: Executor, run_id: int, level: str = "city") -> list[dict[str, Any]]:
    """A run's statistics for every area of one level."""
    if level not in AREA_LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(AREA_LEVELS)}.", field="level")
    coverage_sql.get_run(db, run_id)
    return [public_area(r) for r in coverage_sql.area_stats(db, run_id, level)]


def parse_bbox(value: str | Sequence[float] | None) -> tuple[float, float, float, float] | None:
    """'minlon,minlat,maxlon,maxlat' (WGS84) as four floats; InvalidInput naming `bbox`."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        parts = [float(p) for p in (value.split(",") if isinstance(value, str) else value)]
    except (TypeError, ValueError) as exc:
        raise InvalidInput("bbox must be minlon,minlat,maxlon,maxlat.", field="bbox") from exc
    if len(parts) != 4 or not all(math.isfinite(p) for p in parts):
        raise InvalidInput(
            "bbox must be four finite numbers: minlon,minlat,maxlon,maxlat.", field="bbox"
        )
    min_lon, min_lat, max_lon, max_lat = parts
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise InvalidInput(
            "bbox must have -180 <= minlon <= maxlon <= 180 and -90 <= minlat <= maxlat <= 90.",
            field="bbox",
        )
    return min_lon, min_lat, max_lon, max_lat


@dataclass(frozen=True)
class CellPage:
    """One page of a run's cells as GeoJSON features, and the cursor of the next page."""

    features: list[dict[str, Any]]
    next_after: int | None


def cells_page(
    db: Executor,
    run_id: int,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    after: int = 0,
    limit: int = 1_000,
    per: str = "piece",
) -> CellPage:
    """Cells whose centre lies in `bbox`, as GeoJSON features with the hexagon as geometry.

    A cell's people belong to the grid holding its centre; a grid holding no cell centre
    keeps its people in the cell under its point-on-surface (gridgis.coverage.cells), so that
    cell carries people of several grids. per="piece": one feature per (cell, grid) row, id
    `h3:grid_code`; per="cell": one feature per H3 cell, id `h3`, people summed, `grid_code`
    the grid holding the centre (when one does) and `grid_codes` every grid with people in it.
    """
    check_limit(limit, MAX_CELL_PAGE)
    if after < 0:
        raise InvalidInput("after must be >= 0.", field="after")
    if per not in ("piece", "cell"):
        raise InvalidInput("per must be piece or cell.", field="per")
    coverage_sql.get_run(db, run_id)
    query = coverage_sql.cells_page_per_cell if per == "cell" else coverage_sql.cells_page
    rows = query(db, run_id, bbox=bbox, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    features = []
    for r in rows:
        token = cells_mod.cell_token(int(r["h3"]))
        grid_codes = r["grid_codes"] if per == "cell" else [r["grid_code"]]
        features.append(
            {
                "type": "Feature",
                "id": token if per == "cell" else f"{token}:{r['grid_code']}",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [cells_mod.cell_boundary(int(r["h3"]))],
                },
                "properties": {
                    "h3": token,
                    "grid_code": grid_codes[0],
                    "grid_codes": list(grid_codes),
                    "eta_s": _rounded(r["eta_s"], 1),
                    "eta_k_s": _rounded(r["eta_k_s"], 1),
                    "responders_within_target": int(r["responders_within_target"]),
                    "population": _rounded(r["population"], 2),
                },
            }
        )
    return CellPage(features=features, next_after=int(rows[-1]["seq"]) if more else None)
