"""The H3 cells of a boundary generation: each cell belongs to the grid holding its centre.

Population model: a grid's population is spread over the cells assigned to it in proportion
to each cell's area (uniform density within a grid). Cell areas come from H3 (m² on the
sphere); so every grid's cells carry exactly its population, and sums are preserved up the
hierarchy. A grid too small to contain any cell centre at the chosen resolution gets one
extra row: the cell under its point-on-surface, with the grid's own area as weight, so no
grid and no person is dropped (that cell then appears once per grid that uses it).
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import h3.api.basic_int as h3
import numpy as np
import numpy.typing as npt
import pyproj
import shapely

from gridgis.crs import METRIC_EPSG, to_metric
from gridgis.dispatch.eta import setting_of_kind

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MIN_RESOLUTION = 5
MAX_RESOLUTION = 10
_CACHE_SIZE = 4


@dataclass(frozen=True)
class Grids:
    """The grids of a generation, ordered by code (the order `CellSet.grid` indexes)."""

    codes: list[str]
    kinds: list[str]
    populations: FloatArray
    geometries: npt.NDArray[Any]
    area_m2: FloatArray
    inner_lon: FloatArray
    inner_lat: FloatArray

    @property
    def urban(self) -> npt.NDArray[np.bool_]:
        """Grids whose calls use the urban ETA parameters."""
        return np.array([setting_of_kind(k) == "urban" for k in self.kinds], dtype=bool)

    def fingerprint(self) -> str:
        """Changes whenever a code or a geometry changes (the cell cache key)."""
        digest = hashlib.sha256()
        for code, geom in zip(self.codes, self.geometries, strict=True):
            digest.update(code.encode())
            digest.update(shapely.to_wkb(geom))
        return digest.hexdigest()


def grids_from_rows(rows: Sequence[dict[str, Any]]) -> Grids:
    """Build `Grids` from `coverage.sql.generation_areas` rows (grid rows only used)."""
    grid_rows = sorted((r for r in rows if r["level"] == "grid"), key=lambda r: r["code"])
    return Grids(
        codes=[r["code"] for r in grid_rows],
        kinds=[r["kind"] for r in grid_rows],
        populations=np.array([float(r["population"]) for r in grid_rows], dtype=np.float64),
        geometries=shapely.from_wkb([bytes(r["wkb"]) for r in grid_rows]),
        area_m2=np.array([float(r["area_m2"] or 0.0) for r in grid_rows], dtype=np.float64),
        inner_lon=np.array([float(r["inner_lon"]) for r in grid_rows], dtype=np.float64),
        inner_lat=np.array([float(r["inner_lat"]) for r in grid_rows], dtype=np.float64),
    )


@dataclass(frozen=True)
class CellSet:
    """Cells of one generation at one resolution, sorted by (H3 index, grid)."""

    resolution: int
    h3: IntArray
    grid: IntArray
    lon: FloatArray
    lat: FloatArray
    x: FloatArray
    y: FloatArray
    # EPSG:4548 point scale factor at each centre: projected length / true length.
    scale: FloatArray
    area_m2: FloatArray
    # True on the extra rows of grids that hold no cell centre (see the module docstring).
    extra: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.h3)

    @property
    def grids_without_cells(self) -> int:
        """How many grids are represented by an extra row only."""
        return int(self.extra.sum())

    def populations(self, grids: Grids) -> FloatArray:
        """Each cell's share of its grid's population (by area)."""
        grid_area = np.bincount(self.grid, weights=self.area_m2, minlength=len(grids.codes))
        share = self.area_m2 / np.where(grid_area > 0, grid_area, 1.0)[self.grid]
        result: FloatArray = grids.populations[self.grid] * share
        return result

    def owner_of(self, cells: IntArray) -> IntArray:
        """The grid index owning each given H3 cell (-1 outside every grid).

        A cell shared with a tiny grid's extra row belongs to the grid holding its centre."""
        own_h3, own_grid = self.h3[~self.extra], self.grid[~self.extra]
        if len(own_h3) == 0:
            return np.full(len(cells), -1, dtype=np.int64)
        at = np.clip(np.searchsorted(own_h3, cells), 0, len(own_h3) - 1)
        owners: IntArray = np.where(own_h3[at] == cells, own_grid[at], -1).astype(np.int64)
        return owners


_cache: OrderedDict[tuple[str, int], CellSet] = OrderedDict()


def cell_set(grids: Grids, resolution: int) -> CellSet:
    """The cells of `grids` at `resolution` (cached per boundary fingerprint and resolution)."""
    key = (grids.fingerprint(), resolution)
    cached = _cache.get(key)
    if cached is not None:
        _cache.move_to_end(key)
        return cached
    built = _build_cell_set(grids, resolution)
    _cache[key] = built
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return built


def _build_cell_set(grids: Grids, resolution: int) -> CellSet:
    per_grid = [h3.geo_to_cells(geom, resolution) for geom in grids.geometries]
    counts = np.array([len(c) for c in per_grid], dtype=np.int64)
    cells = np.fromiter((c for cs in per_grid for c in cs), dtype=np.int64, count=int(counts.sum()))
    owner = np.repeat(np.arange(len(per_grid), dtype=np.int64), counts)
    # A centre on a shared edge can land in two grids; like `locate`, the lower code wins.
    order = np.lexsort((owner, cells))
    cells, owner = cells[order], owner[order]
    first = np.ones(len(cells), dtype=bool)
    first[1:] = cells[1:] != cells[:-1]
    cells, owner = cells[first], owner[first]
    area = np.array([h3.cell_area(int(c), "m^2") for c in cells], dtype=np.float64)

    extra = np.zeros(len(cells), dtype=bool)
    empty = np.flatnonzero(np.bincount(owner, minlength=len(per_grid)) == 0)
    if len(empty):
        extra_cells = np.array(
            [
                h3.latlng_to_cell(float(grids.inner_lat[g]), float(grids.inner_lon[g]), resolution)
                for g in empty
            ],
            dtype=np.int64,
        )
        cells = np.concatenate([cells, extra_cells])
        owner = np.concatenate([owner, empty.astype(np.int64)])
        area = np.concatenate([area, grids.area_m2[empty]])
        extra = np.concatenate([extra, np.ones(len(empty), dtype=bool)])
        order = np.lexsort((owner, cells))
        cells, owner, area, extra = cells[order], owner[order], area[order], extra[order]

    centres = np.array([h3.cell_to_latlng(int(c)) for c in cells], dtype=np.float64).reshape(-1, 2)
    lat, lon = centres[:, 0].copy(), centres[:, 1].copy()
    x, y = to_metric(lon, lat)
    return CellSet(
        resolution=resolution,
        h3=cells,
        grid=owner,
        lon=lon,
        lat=lat,
        x=np.asarray(x, dtype=np.float64),
        y=np.asarray(y, dtype=np.float64),
        scale=metric_scale(lon, lat),
        area_m2=area,
        extra=extra,
    )


@functools.cache
def _metric_projection() -> pyproj.Proj:
    return pyproj.Proj(f"EPSG:{METRIC_EPSG}")


def metric_scale(lon: FloatArray, lat: FloatArray) -> FloatArray:
    """The EPSG:4548 point scale factor (conformal: the same in every direction).

    Projected distances are up to 2.2e-4 longer than true ones at Zhangzhou's eastern edge;
    dividing by the factor at one end leaves < 3e-6 (6 mm over 2 km)."""
    if len(lon) == 0:
        return np.zeros(0)
    factors = _metric_projection().get_factors(lon, lat)
    return np.asarray(factors.meridional_scale, dtype=np.float64)


def cells_of_points(lon: FloatArray, lat: FloatArray, resolution: int) -> IntArray:
    """The H3 cell of each point."""
    return np.fromiter(
        (
            h3.latlng_to_cell(b, a, resolution)
            for a, b in zip(lon.tolist(), lat.tolist(), strict=True)
        ),
        dtype=np.int64,
        count=len(lon),
    )


def cell_boundary(cell: int) -> list[list[float]]:
    """The hexagon (or pentagon) of a cell as a closed GeoJSON ring of [lon, lat]."""
    ring = [[round(lng, 7), round(lat, 7)] for lat, lng in h3.cell_to_boundary(cell)]
    ring.append(ring[0])
    return ring


def cell_token(cell: int) -> str:
    """The usual hexadecimal spelling of an H3 index."""
    return h3.int_to_str(cell)
