"""A finished coverage run's cells gathered to each H3 resolution the map draws, kept in the
process (a finished run never changes): the first view of a run reads its cells once, every
later view of it filters the kept hexagons by the bounding box in memory."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import numpy as np

from gridgis.coverage import sql as coverage_sql
from gridgis.db import Executor

DEFAULT_CACHE_BYTES = 128 * 1024 * 1024


def parent_bits(resolution: int) -> tuple[int, int]:
    """(mask clearing the resolution field, bits to OR in) that turn any finer H3 cell index
    into its parent at `resolution`: the resolution field set and the finer digits set to 7
    (unused), exactly what h3's cell_to_parent does."""
    clear = ~(0xF << 52) & ((1 << 63) - 1)
    unused = 0
    for r in range(resolution + 1, 16):
        unused |= 7 << ((15 - r) * 3)
    return clear, (resolution << 52) | unused


@dataclass
class HexagonTable:
    """One row per hexagon at `resolution`, with sums that stay sums when gathered further:
    people, people within target, people-weighted ETA parts, the plain ETA mean's parts, the
    fastest and slowest ETA, the run's cells in it, and the extent of their centres. `grid`
    indexes `codes` (the smallest grid code with people in the cell) at the run's resolution
    only. `encoded` keeps hexagons already sent as JSON (the run never changes), up to as
    many bytes as the arrays take."""

    resolution: int
    cell: np.ndarray
    population: np.ndarray
    covered: np.ndarray
    people_eta: np.ndarray
    people_with_eta: np.ndarray
    eta_sum: np.ndarray
    eta_count: np.ndarray
    eta_min: np.ndarray
    eta_max: np.ndarray
    cells: np.ndarray
    min_lon: np.ndarray
    min_lat: np.ndarray
    max_lon: np.ndarray
    max_lat: np.ndarray
    grid: np.ndarray | None
    codes: tuple[str, ...]
    encoded: dict[int, str] = field(default_factory=dict)
    encoded_bytes: int = 0

    @property
    def array_bytes(self) -> int:
        return sum(
            getattr(self, f.name).nbytes
            for f in fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        )

    @property
    def nbytes(self) -> int:
        """What the table may take: its arrays and codes, and as much again for `encoded`."""
        return 2 * self.array_bytes + sum(len(c) + 50 for c in self.codes)

    def remember(self, index: int, encoded: str) -> None:
        """Keep a hexagon's JSON while the budget allows (an approximate count under
        concurrent requests; a hexagon encoded twice is the same text)."""
        size = len(encoded) + 100
        if self.encoded_bytes + size <= self.array_bytes:
            self.encoded[index] = encoded
            self.encoded_bytes += size

    def in_view(self, bbox: tuple[float, float, float, float]) -> np.ndarray:
        """Indexes of the hexagons with cells in `bbox` (their centres' extent meets it)."""
        min_lon, min_lat, max_lon, max_lat = bbox
        inside = (
            (self.max_lon >= min_lon)
            & (self.min_lon <= max_lon)
            & (self.max_lat >= min_lat)
            & (self.min_lat <= max_lat)
        )
        return np.flatnonzero(inside)


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order sorting `keys`, start of each group in that order, each group's key)."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(keys) else order
    return order, starts, ordered[starts] if len(keys) else ordered


def _sum(values: np.ndarray, order: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.add.reduceat(values[order], starts) if len(starts) else values[:0]


def _min(values: np.ndarray, order: np.ndarray, starts: np.ndarray) -> np.ndarray:
    # fmin/fmax skip NaN (no ETA) unless the whole group has none, as SQL's min/max skip NULL.
    return np.fmin.reduceat(values[order], starts) if len(starts) else values[:0]


def _max(values: np.ndarray, order: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.fmax.reduceat(values[order], starts) if len(starts) else values[:0]


def run_table(db: Executor, run_id: int, *, resolution: int, k: int) -> HexagonTable:
    """The run's cells (one row per distinct H3 cell; a cell shared by a tiny grid's people
    has its pieces summed) at the run's own resolution."""
    columns = coverage_sql.cell_columns(db, run_id)
    population = columns["population"]
    eta = columns["eta_s"]
    lon, lat = columns["lon"], columns["lat"]
    covered = columns["responders_within_target"] >= k
    codes, grid_of_row = np.unique(columns["grid_code"], return_inverse=True)
    has_eta = ~np.isnan(eta)
    order, starts, cell = _groups(columns["h3"])
    return HexagonTable(
        resolution=resolution,
        cell=cell,
        population=_sum(population, order, starts),
        covered=_sum(np.where(covered, population, 0.0), order, starts),
        people_eta=_sum(np.where(has_eta, population * np.nan_to_num(eta), 0.0), order, starts),
        people_with_eta=_sum(np.where(has_eta, population, 0.0), order, starts),
        eta_sum=_sum(np.nan_to_num(eta), order, starts),
        eta_count=_sum(has_eta.astype(np.int64), order, starts),
        eta_min=_min(eta, order, starts),
        eta_max=_max(eta, order, starts),
        cells=np.ones(len(cell), dtype=np.int64),
        min_lon=_min(lon, order, starts),
        min_lat=_min(lat, order, starts),
        max_lon=_max(lon, order, starts),
        max_lat=_max(lat, order, starts),
        # The codes are sorted, so the smallest index is the smallest code.
        grid=np.minimum.reduceat(grid_of_row[order], starts).astype(np.int32)
        if len(starts)
        else np.zeros(0, dtype=np.int32),
        codes=tuple(c.decode("ascii") for c in codes),
    )


def coarser(table: HexagonTable, resolution: int) -> HexagonTable:
    """`table` gathered to the coarser `resolution` (parents by bit arithmetic)."""
    clear, set_bits = parent_bits(resolution)
    order, starts, cell = _groups((table.cell & clear) | set_bits)
    return HexagonTable(
        resolution=resolution,
        cell=cell,
        population=_sum(table.population, order, starts),
        covered=_sum(table.covered, order, starts),
        people_eta=_sum(table.people_eta, order, starts),
        people_with_eta=_sum(table.people_with_eta, order, starts),
        eta_sum=_sum(table.eta_sum, order, starts),
        eta_count=_sum(table.eta_count, order, starts),
        eta_min=_min(table.eta_min, order, starts),
        eta_max=_max(table.eta_max, order, starts),
        cells=_sum(table.cells, order, starts),
        min_lon=_min(table.min_lon, order, starts),
        min_lat=_min(table.min_lat, order, starts),
        max_lon=_max(table.max_lon, order, starts),
        max_lat=_max(table.max_lat, order, starts),
        grid=None,
        codes=(),
    )


class HexagonCache:
    """Hexagon tables of finished runs by (run, its creation time, resolution), least recently
    used dropped first beyond `max_bytes`. The creation time in the key means a run deleted
    (and an id ever reused) is never served from here; callers look the run up first anyway.
    A table being built is built once: other requests for it wait."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.built = 0
        self._lock = threading.Lock()
        self._tables: OrderedDict[Hashable, HexagonTable] = OrderedDict()
        self._building: dict[Hashable, threading.Lock] = {}

    def __len__(self) -> int:
        return len(self._tables)

    def get(
        self, run_id: int, created_at: datetime, resolution: int, build: Callable[[], Any]
    ) -> HexagonTable:
        """The table for (run, resolution), made by `build` unless kept."""
        key = (run_id, created_at, resolution)
        with self._lock:
            found = self._tables.get(key)
            if found is not None:
                self._tables.move_to_end(key)
                return found
            flight = self._building.setdefault(key, threading.Lock())
        with flight:
            with self._lock:
                found = self._tables.get(key)
                if found is not None:
                    return found
            try:
                table: HexagonTable = build()
            finally:
                with self._lock:
                    self._building.pop(key, None)
            with self._lock:
                self.built += 1
                if table.nbytes <= self.max_bytes:
                    self._tables[key] = table
                    self.bytes += table.nbytes
                    while self.bytes > self.max_bytes:
                        _, dropped = self._tables.popitem(last=False)
                        self.bytes -= dropped.nbytes
        return table

    def discard(self, run_id: int) -> None:
        """Forget every table of a run (it was deleted)."""
        with self._lock:
            for key in [key for key in self._tables if key[0] == run_id]:  # type: ignore[index]
                self.bytes -= self._tables.pop(key).nbytes
