"""Coverage arithmetic in bulk: KD-tree ETAs per H3 cell, then per-area statistics.

Distances are straight lines in EPSG:4548 metres divided by the projection's scale factor at
the cell centre, which matches geodesic (WGS84) distances to < 3e-6, 6 mm over 2 km (the
raw projected length would be up to 2.2e-4 long). Within one cell the ETA model
is monotone in distance, so the nearest responder by distance is also the soonest; each cell
uses the urban or rural parameters of the grid it belongs to, as dispatch does for a call.

Definitions (per area = grid, township, county or city; a cell counts toward every area that
contains its grid):
- covered: at least `k` counted responders can reach the cell centre within the target
  (`responders_within_target >= k`); k = 1 is plain coverage, k = 2 backup coverage.
- population/area share within target: covered population (area) / total population (area).
- eta_mean_s / eta_p90_s: population-weighted mean and 90th percentile of the ETA of the
  nearest responder (eta_k_* the same for the k-th nearest). People, not land, wait for help,
  so population weights; an area without population falls back to area weights. The p90 is
  the smallest ETA that at least 90% of the weight meets (no interpolation). Where no counted
  responder exists at all the ETA is infinite: the mean is then reported as null.
- responders_per_10k: counted responders placed inside the area (by the H3 cell of their
  position) per 10,000 people.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from gridgis.coverage.cells import CellSet, Grids, cells_of_points
from gridgis.crs import to_metric
from gridgis.dispatch.eta import DistanceEtaModel, Setting
from gridgis.vocabulary import AREA_LEVELS

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

P90 = 0.9


@dataclass(frozen=True)
class CellEtas:
    """Per-cell results of one run."""

    eta_s: FloatArray
    eta_k_s: FloatArray
    within_target: IntArray

    def covered(self, k: int) -> npt.NDArray[np.bool_]:
        """Cells reached by at least `k` counted responders within the target."""
        result: npt.NDArray[np.bool_] = self.within_target >= k
        return result


def responder_tree(lon: FloatArray, lat: FloatArray) -> cKDTree | None:
    """A KD-tree of responder positions in EPSG:4548 metres (None without responders)."""
    if len(lon) == 0:
        return None
    x, y = to_metric(lon, lat)
    return cKDTree(np.column_stack([x, y]))


def cell_etas(
    cells: CellSet,
    urban: npt.NDArray[np.bool_],
    tree: cKDTree | None,
    model: DistanceEtaModel,
    *,
    target_s: float,
    k: int,
) -> CellEtas:
    """ETA of the nearest and k-th nearest responder and the count within target, per cell.

    `urban` says, per cell, which ETA parameters apply (from the cell's grid)."""
    n = len(cells)
    eta = np.full(n, np.inf)
    eta_k = np.full(n, np.inf)
    within = np.zeros(n, dtype=np.int64)
    if tree is None or n == 0:
        return CellEtas(eta, eta_k, within)
    points = np.column_stack([cells.x, cells.y])
    projected, _ = tree.query(points, k=k, workers=-1)
    distances = projected.reshape(n, k) / cells.scale[:, None]
    for setting, mask in (("urban", urban), ("rural", ~urban)):
        if not mask.any():
            continue
        s: Setting = "urban" if setting == "urban" else "rural"
        eta[mask] = model.eta_s(distances[mask, 0], s)
        eta_k[mask] = model.eta_s(distances[mask, k - 1], s)
        # The reach in projected metres: the true reach times the local scale factor.
        radius = model.max_distance_m(target_s, s) * cells.scale[mask]
        within[mask] = tree.query_ball_point(points[mask], r=radius, return_length=True, workers=-1)
    return CellEtas(eta, eta_k, within)


@dataclass(frozen=True)
class Hierarchy:
    """Every area of a generation and, per grid, the index of its area at each level."""

    codes: list[str]
    names: list[str]
    levels: list[str]
    parents: list[str | None]
    # level -> array over grids (Grids order) of indexes into `codes`
    grid_ancestor: dict[str, IntArray]


def hierarchy_from_rows(rows: Sequence[dict[str, Any]], grids: Grids) -> Hierarchy:
    """Map each grid to its township, county and city through parent codes."""
    codes = [r["code"] for r in rows]
    index = {c: i for i, c in enumerate(codes)}
    parent = {r["code"]: r["parent_code"] for r in rows}
    level = {r["code"]: r["level"] for r in rows}
    ancestor: dict[str, list[int]] = {lv: [] for lv in AREA_LEVELS}
    for code in grids.codes:
        found = {"grid": index[code]}
        current = parent.get(code)
        for _ in range(10):
            if current is None or current not in index:
                break
            found.setdefault(level[current], index[current])
            current = parent.get(current)
        for lv in AREA_LEVELS:
            ancestor[lv].append(found.get(lv, -1))
    return Hierarchy(
        codes=codes,
        names=[r["name"] for r in rows],
        levels=[r["level"] for r in rows],
        parents=[r["parent_code"] for r in rows],
        grid_ancestor={lv: np.asarray(v, dtype=np.int64) for lv, v in ancestor.items()},
    )


def _weighted_mean(
    group: IntArray, values: FloatArray, weights: FloatArray, size: int
) -> FloatArray:
    total = np.bincount(group, weights=weights, minlength=size)
    finite = np.isfinite(values)
    weighted = np.bincount(group, weights=np.where(finite, values, 0.0) * weights, minlength=size)
    # A weighted infinite ETA makes the mean infinite (reported as null).
    infinite = np.bincount(group, weights=(~finite) & (weights > 0), minlength=size) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = weighted / total
    mean[infinite] = np.inf
    mean[total <= 0] = np.nan
    result: FloatArray = mean
    return result


def _weighted_quantile(
    group: IntArray, values: FloatArray, weights: FloatArray, size: int, q: float
) -> FloatArray:
    """Per group, the smallest value whose cumulative weight share reaches q."""
    result = np.full(size, np.nan)
    if len(values) == 0:
        return result
    order = np.lexsort((values, group))
    g, v, w = group[order], values[order], weights[order]
    cumulative = np.cumsum(w)
    total = np.bincount(g, weights=w, minlength=size)
    start = np.searchsorted(g, np.arange(size), side="left")
    end = np.searchsorted(g, np.arange(size), side="right")
    before = np.where(start > 0, cumulative[np.maximum(start - 1, 0)], 0.0)
    present = (end > start) & (total > 0)
    # A relative tolerance keeps float round-off from pushing the answer one cell too far.
    goal = before + q * total * (1 - 1e-12)
    at = np.searchsorted(cumulative, goal, side="left")
    at = np.minimum(np.maximum(at, start), np.maximum(end - 1, 0))
    result[present] = v[at[present]]
    return result


def _none_if_not_finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def area_statistics(
    cells: CellSet,
    grids: Grids,
    hierarchy: Hierarchy,
    etas: CellEtas,
    population: FloatArray,
    responder_cells: IntArray,
    *,
    k: int,
) -> list[dict[str, Any]]:
    """One row per area of the hierarchy (city, counties, townships, grids, in that order)."""
    size = len(hierarchy.codes)
    covered = etas.covered(k)
    responder_grid = cells.owner_of(responder_cells)
    placed = responder_grid >= 0
    per_area: dict[str, FloatArray] = {
        "cells": np.zeros(size),
        "population": np.zeros(size),
        "population_within_target": np.zeros(size),
        "area_m2": np.zeros(size),
        "area_within_target_m2": np.zeros(size),
        "eta_mean_s": np.full(size, np.nan),
        "eta_p90_s": np.full(size, np.nan),
        "eta_k_mean_s": np.full(size, np.nan),
        "eta_k_p90_s": np.full(size, np.nan),
        "responders": np.zeros(size),
    }
    for level in AREA_LEVELS:
        area_of_grid = hierarchy.grid_ancestor[level]
        group = area_of_grid[cells.grid]
        keep = group >= 0
        g = group[keep]
        pop, area = population[keep], cells.area_m2[keep]
        sums = {
            "cells": np.bincount(g, minlength=size).astype(np.float64),
            "population": np.bincount(g, weights=pop, minlength=size),
            "population_within_target": np.bincount(g, weights=pop * covered[keep], minlength=size),
            "area_m2": np.bincount(g, weights=area, minlength=size),
            "area_within_target_m2": np.bincount(g, weights=area * covered[keep], minlength=size),
        }
        # Population weights, or area weights for an area without population.
        weights = np.where(sums["population"][g] > 0, pop, area)
        stats = {
            "eta_mean_s": _weighted_mean(g, etas.eta_s[keep], weights, size),
            "eta_p90_s": _weighted_quantile(g, etas.eta_s[keep], weights, size, P90),
        }
        if k == 1:  # the k-th nearest is the nearest
            stats["eta_k_mean_s"], stats["eta_k_p90_s"] = stats["eta_mean_s"], stats["eta_p90_s"]
        else:
            stats["eta_k_mean_s"] = _weighted_mean(g, etas.eta_k_s[keep], weights, size)
            stats["eta_k_p90_s"] = _weighted_quantile(g, etas.eta_k_s[keep], weights, size, P90)
        responder_area = area_of_grid[responder_grid[placed]]
        responders = np.bincount(responder_area[responder_area >= 0], minlength=size).astype(
            np.float64
        )
        mine = np.array([lv == level for lv in hierarchy.levels], dtype=bool)
        for name, values in {**sums, **stats, "responders": responders}.items():
            per_area[name][mine] = values[mine]

    rows = []
    for i, code in enumerate(hierarchy.codes):
        population_i = float(per_area["population"][i])
        area_i = float(per_area["area_m2"][i])
        responders_i = int(per_area["responders"][i])
        rows.append(
            {
                "code": code,
                "level": hierarchy.levels[i],
                "name": hierarchy.names[i],
                "parent_code": hierarchy.parents[i],
                "cells": int(per_area["cells"][i]),
                "population": population_i,
                "population_within_target": float(per_area["population_within_target"][i]),
                "population_share_within_target": (
                    float(per_area["population_within_target"][i]) / population_i
                    if population_i > 0
                    else None
                ),
                "area_m2": area_i,
                "area_within_target_m2": float(per_area["area_within_target_m2"][i]),
                "area_share_within_target": (
                    float(per_area["area_within_target_m2"][i]) / area_i if area_i > 0 else None
                ),
                "eta_mean_s": _none_if_not_finite(float(per_area["eta_mean_s"][i])),
                "eta_p90_s": _none_if_not_finite(float(per_area["eta_p90_s"][i])),
                "eta_k_mean_s": _none_if_not_finite(float(per_area["eta_k_mean_s"][i])),
                "eta_k_p90_s": _none_if_not_finite(float(per_area["eta_k_p90_s"][i])),
                "responders": responders_i,
                "responders_per_10k": (
                    responders_i / population_i * 10_000 if population_i > 0 else None
                ),
            }
        )
    return rows


def responder_cells(lon: FloatArray, lat: FloatArray, resolution: int) -> IntArray:
    """The H3 cell of every responder position (to count responders per area)."""
    return cells_of_points(lon, lat, resolution)
