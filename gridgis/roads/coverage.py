"""Coverage by road: per-cell ETAs of the nearest and k-th nearest responder, and how many
reach the cell within the target, priced by `road_v1` as dispatch would price a call there.

A cell and a responder that both join the network are priced by road; any other pair by the
straight-line model (as `RoadEta.etas_to` does). The k nearest by road come from k
multi-source searches over the network from every counted responder at once
(`multisource.k_nearest_sources`), not from one search per cell. Counting the responders
within the target needs every responder, not only the k best: the cells are searched a tile
at a time, each tile in one bounded search from all its cells on the reversed network, and
the responders met are counted in bulk (`multisource.count_within`), not one search per
responder. The straight-line pairs are found with a KD-tree and decided by geodesic distance.
Cells' joining points are kept per network and cell set (they change with neither).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pyproj import Geod
from scipy.spatial import cKDTree

from gridgis.coverage.cells import CellSet
from gridgis.coverage.compute import CellEtas
from gridgis.dispatch.eta import FloatArray, Setting
from gridgis.roads.engine import RoadEngine, Snap
from gridgis.roads.model import RoadEta
from gridgis.roads.multisource import concatenated_ranges, count_within, k_nearest_sources

IntArray = npt.NDArray[np.int64]

_GEOD = Geod(ellps="WGS84")
# The engine's projection errs far below this within a province (see RoadEngine.to_metric).
_SCALE_MARGIN = 0.01
_CELL_SNAPS: dict[tuple[Any, ...], tuple[RoadEngine, Snap]] = {}
_CELL_SNAPS_LOCK = threading.Lock()


def _cell_snap(engine: RoadEngine, cells: CellSet, max_snap_m: float) -> Snap:
    """The cells' joining points, computed once per engine and cell set (the last one kept)."""
    digest = hashlib.blake2b(cells.lon.tobytes() + cells.lat.tobytes()).hexdigest()
    key = (engine.network_id, max_snap_m, len(cells), digest)
    with _CELL_SNAPS_LOCK:
        found = _CELL_SNAPS.get(key)
    if found is not None and found[0] is engine:
        return found[1]
    snap = engine.snap(cells.lon, cells.lat, max_snap_m)
    with _CELL_SNAPS_LOCK:
        _CELL_SNAPS.clear()
        _CELL_SNAPS[key] = (engine, snap)
    return snap


def road_cell_etas(
    cells: CellSet,
    urban: npt.NDArray[np.bool_],
    lon: FloatArray,
    lat: FloatArray,
    model: RoadEta,
    *,
    target_s: float,
    k: int,
) -> CellEtas:
    """ETA of the nearest and k-th nearest responder and the count within target, per cell."""
    n = len(cells)
    best = np.full((n, k), np.inf)  # the k smallest ETAs per cell, merged from both models
    within = np.zeros(n, dtype=np.int64)
    if n == 0 or len(lon) == 0:
        return CellEtas(best[:, 0], best[:, k - 1], within)
    engine = model.engine
    cell_snap = _cell_snap(engine, cells, model.max_snap_m)
    responder_snap = engine.snap_bulk(np.asarray(lon), np.asarray(lat), model.max_snap_m)
    road_cells = cell_snap.joined
    road_responders = responder_snap.joined
    fallback = model.fallback
    node_xy: FloatArray | None = None  # the nodes in metres, for the counts' tiles
    for setting, mask in (("urban", urban), ("rural", ~urban)):
        s: Setting = "urban" if setting == "urban" else "rural"
        # Straight-line pairs, cells off the network: with every responder.
        off_road = mask & ~road_cells
        if off_road.any():
            etas, count = _straight_line(cells, off_road, lon, lat, model, s, k, target_s)
            best[off_road] = _merge(best[off_road], etas, k)
            within[off_road] += count
        on_road = np.flatnonzero(mask & road_cells)
        joined = np.flatnonzero(road_responders)
        if len(on_road) and len(joined):
            start = fallback.turnout_s + fallback.leg_s(responder_snap.distance_m, s)
            end = fallback.leg_s(cell_snap.distance_m[on_road], s)
            joins = _Joins(
                *_exits(engine, responder_snap, joined, start),
                *_entries(engine, cell_snap, on_road),
                _same_edge(engine, responder_snap, joined, start, cell_snap, on_road),
            )
            road = _k_nearest_by_road(engine, joins, k)
            best[on_road] = _merge(best[on_road], road + end[:, None], k)
            if node_xy is None:
                node_xy = np.column_stack(engine.to_metric(engine.node_lon, engine.node_lat))
            # From each responder's first exit (its edge's target) back to its second.
            between = engine.edge_reverse_cost[responder_snap.edge[joined]]
            within[on_road] += count_within(
                engine.forward, node_xy, joins.exit_node, joins.exit_s, joins.entry_node,
                joins.entry_s, target_s - end, direct=joins.same_edge, between=between,
            )  # fmt: skip
        # Cells on it, with responders off it: only those that can still matter (sooner than
        # the k-th by road, or within the target) are priced.
        if len(on_road) and not road_responders.all():
            on_mask = np.zeros(n, dtype=np.bool_)
            on_mask[on_road] = True
            bound = np.maximum(best[on_road, k - 1], target_s)
            etas, count = _straight_line(
                cells, on_mask, lon[~road_responders], lat[~road_responders], model, s, k,
                target_s, bound_s=bound,
            )  # fmt: skip
            best[on_road] = _merge(best[on_road], etas, k)
            within[on_road] += count
    return CellEtas(best[:, 0], best[:, k - 1], within)


def _merge(a: FloatArray, b: FloatArray, k: int) -> FloatArray:
    both = np.sort(np.concatenate([a, b], axis=1), axis=1)
    return np.asarray(both[:, :k])


def _straight_line(
    cells: CellSet,
    cell_mask: npt.NDArray[np.bool_],
    lon: FloatArray,
    lat: FloatArray,
    model: RoadEta,
    setting: Setting,
    k: int,
    target_s: float,
    *,
    bound_s: FloatArray | None = None,
) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """The k smallest straight-line ETAs and the count within target, for the masked cells.

    A KD-tree in the engine's projection finds candidates with a margin for its scale error;
    geodesic distances (WGS84) decide, so the answer is the one a brute force would give.
    With `bound_s` (per masked cell), cells whose nearest responder is surely slower than
    their bound get no offers (inf, 0): the caller has k offers at least that good already."""
    engine = model.engine
    fallback = model.fallback
    lon, lat = np.asarray(lon), np.asarray(lat)
    tree = cKDTree(np.column_stack(engine.to_metric(lon, lat)))
    cell_lon, cell_lat = cells.lon[cell_mask], cells.lat[cell_mask]
    points = np.column_stack(engine.to_metric(cell_lon, cell_lat))
    etas = np.full((len(points), k), np.inf)
    asked = min(len(lon), k + 8)
    todo = np.arange(len(points))
    if bound_s is not None:
        nearest, _ = tree.query(points, k=1, workers=-1)
        slowest = np.asarray(nearest) / (1 + _SCALE_MARGIN) - 1.0
        todo = np.flatnonzero(fallback.eta_s(slowest, setting) <= bound_s)
    priced = todo.copy()
    while len(todo):
        found_p, found_i = tree.query(points[todo], k=asked, workers=-1)
        found_p = np.asarray(found_p).reshape(len(todo), -1)
        found_i = np.asarray(found_i).reshape(len(todo), -1)
        metres = _geodesic_rows(cell_lon[todo], cell_lat[todo], lon, lat, found_i)
        metres.sort(axis=1)
        kept = metres[:, :k]
        # Anyone not found is at least this far: exact once that is beyond the k-th kept.
        beyond = found_p[:, -1] / (1 + _SCALE_MARGIN)
        done = (asked >= len(lon)) | (beyond >= kept[:, -1])
        etas[todo[done], : kept.shape[1]] = fallback.eta_s(kept[done], setting)
        todo = todo[~done]
        asked = min(len(lon), asked * 4)
    reach = fallback.max_distance_m(target_s, setting)
    near = tree.query_ball_point(
        points[priced], r=reach * (1 + _SCALE_MARGIN) + 1.0, return_sorted=False
    )
    sizes = np.fromiter((len(found) for found in near), dtype=np.int64, count=len(priced))
    count = np.zeros(len(points), dtype=np.int64)
    if sizes.sum():
        row = np.repeat(priced, sizes)
        responder = np.fromiter(
            (i for found in near for i in found), dtype=np.int64, count=int(sizes.sum())
        )
        _, _, metres = _GEOD.inv(cell_lon[row], cell_lat[row], lon[responder], lat[responder])
        within = fallback.eta_s(np.asarray(metres, dtype=np.float64), setting) <= target_s
        count = np.bincount(row[within], minlength=len(points)).astype(np.int64)
    return etas, count


def _geodesic_rows(
    cell_lon: FloatArray, cell_lat: FloatArray, lon: FloatArray, lat: FloatArray, index: Any
) -> FloatArray:
    """Geodesic metres from each cell to the responders its row of `index` names."""
    index = np.asarray(index, dtype=np.int64)
    rows = np.repeat(np.arange(len(cell_lon)), index.shape[1])
    _, _, metres = _GEOD.inv(cell_lon[rows], cell_lat[rows], lon[index.ravel()], lat[index.ravel()])
    return np.asarray(metres, dtype=np.float64).reshape(index.shape)


@dataclass(frozen=True)
class _Joins:
    """How one setting's responders leave and its cells are entered from the network (both
    the k nearest and the counts search from them)."""

    exit_node: IntArray
    exit_s: FloatArray
    entry_node: IntArray
    entry_s: FloatArray
    same_edge: tuple[IntArray, IntArray, FloatArray]


def _exits(
    engine: RoadEngine, snap: Snap, which: npt.NDArray[np.int64], start: FloatArray
) -> tuple[IntArray, FloatArray]:
    """Per snapped position: the nodes it leaves by (ahead, back; -1 on one-way edges) and
    the seconds to reach them, `start` included (as `RoadEngine.exits` prices them)."""
    edge, t = snap.edge[which], snap.fraction[which]
    reverse = engine.edge_reverse_cost[edge]
    two_way = np.isfinite(reverse)
    nodes = np.column_stack(
        [engine.edge_target[edge], np.where(two_way, engine.edge_source[edge], -1)]
    )
    ahead = start[which] + (1.0 - t) * engine.edge_cost[edge]
    back = np.full(len(which), np.inf)
    back[two_way] = start[which][two_way] + t[two_way] * reverse[two_way]
    return nodes, np.column_stack([ahead, back])


def _entries(
    engine: RoadEngine, snap: Snap, which: npt.NDArray[np.int64]
) -> tuple[IntArray, FloatArray]:
    """Per snapped position: the nodes it is entered from (-1 when none) and the seconds from
    them (as `RoadEngine.entries` prices them)."""
    edge, t = snap.edge[which], snap.fraction[which]
    reverse = engine.edge_reverse_cost[edge]
    two_way = np.isfinite(reverse)
    nodes = np.column_stack(
        [engine.edge_source[edge], np.where(two_way, engine.edge_target[edge], -1)]
    )
    back = np.full(len(which), np.inf)
    back[two_way] = (1.0 - t[two_way]) * reverse[two_way]
    return nodes, np.column_stack([t * engine.edge_cost[edge], back])


def _same_edge(
    engine: RoadEngine,
    responders: Snap,
    joined: npt.NDArray[np.int64],
    start: FloatArray,
    cells: Snap,
    on_road: npt.NDArray[np.int64],
) -> tuple[IntArray, IntArray, FloatArray]:
    """(cell row, joined responder row, seconds) for every responder on a cell's own edge,
    along it (start included; as `RoadEngine.along_edge_s` prices it)."""
    r_edge = responders.edge[joined]
    order = np.argsort(r_edge, kind="stable")
    sorted_edge = r_edge[order]
    c_edge = cells.edge[on_road]
    lo = np.searchsorted(sorted_edge, c_edge, side="left")
    hi = np.searchsorted(sorted_edge, c_edge, side="right")
    cell_row = np.repeat(np.arange(len(on_road)), hi - lo)
    responder_row = order[concatenated_ranges(lo, hi - lo)]
    edge = c_edge[cell_row]
    ti = responders.fraction[joined[responder_row]]
    tj = cells.fraction[on_road[cell_row]]
    with np.errstate(invalid="ignore"):
        along = np.where(
            tj >= ti, (tj - ti) * engine.edge_cost[edge], (ti - tj) * engine.edge_reverse_cost[edge]
        )
    seconds = start[joined[responder_row]] + along
    return cell_row, responder_row, seconds


def _k_nearest_by_road(engine: RoadEngine, joins: _Joins, k: int) -> FloatArray:
    """Seconds (start included) of the k nearest distinct responders to each cell's joining
    point: k multi-source searches from all responders at once (`k_nearest_sources`)."""
    exit_node, exit_s, entry_node, entry_s = (
        joins.exit_node, joins.exit_s, joins.entry_node, joins.entry_s
    )  # fmt: skip
    seeded = exit_node >= 0
    source = np.broadcast_to(np.arange(len(exit_node))[:, None], exit_node.shape)
    dist, owner = k_nearest_sources(
        engine.forward, exit_node[seeded], exit_s[seeded], source[seeded], k
    )
    rows = len(entry_node)
    # Per cell, a row of offers: the k nearest at each of its two entry nodes, and the k
    # nearest of the responders on its own edge.
    seconds = np.full((rows, 3 * k), np.inf)
    sources = np.full((rows, 3 * k), -1, dtype=np.int64)
    for col in range(2):
        has = np.flatnonzero(entry_node[:, col] >= 0)
        node = entry_node[has, col]
        seconds[has, col * k : (col + 1) * k] = dist[node] + entry_s[has, col][:, None]
        sources[has, col * k : (col + 1) * k] = owner[node]
    cell_row, responder_row, along = joins.same_edge
    order = np.lexsort((along, cell_row))  # distinct responders already: one edge each
    cell_row, responder_row, along = cell_row[order], responder_row[order], along[order]
    rank = np.arange(len(cell_row)) - np.searchsorted(cell_row, cell_row, side="left")
    kept = rank < k
    seconds[cell_row[kept], 2 * k + rank[kept]] = along[kept]
    sources[cell_row[kept], 2 * k + rank[kept]] = responder_row[kept]
    return _k_smallest_distinct(seconds, sources, k)


def _k_smallest_distinct(seconds: FloatArray, source: IntArray, k: int) -> FloatArray:
    """Per row of offers (seconds, source), the k smallest of distinct sources (inf where
    fewer; a source < 0 is no offer). Rows are a few offers wide: sorted in place, a
    source's offers after its first (its smallest) are dropped."""
    seconds = np.where((source >= 0) & np.isfinite(seconds), seconds, np.inf)
    order = np.argsort(seconds, axis=1, kind="stable")
    seconds = np.take_along_axis(seconds, order, axis=1)
    source = np.take_along_axis(source, order, axis=1)
    for j in range(1, seconds.shape[1]):
        again = (source[:, :j] == source[:, j : j + 1]).any(axis=1)
        seconds[again, j] = np.inf
    return np.asarray(np.sort(seconds, axis=1)[:, :k])
