"""Coverage by road: per-cell ETAs of the nearest and k-th nearest responder, and how many
reach the cell within the target, priced by `road_v1` as dispatch would price a call there.

A cell and a responder that both join the network are priced by road; any other pair by the
straight-line model (as `RoadEta.etas_to` does). The k nearest by road come from one
multi-source search over the network from every counted responder at once (each node keeps
the k best labels of distinct responders), not from one search per cell. Counting the
responders within the target needs every responder, not only the k best: each joined
responder gets one search cut at the target (cheap: five minutes of road is a small part of
a city). The straight-line pairs are found with a KD-tree and decided by geodesic distance.
"""

from __future__ import annotations

import heapq
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

_GEOD = Geod(ellps="WGS84")
# The engine's projection errs far below this within a province (see RoadEngine.to_metric).
_SCALE_MARGIN = 0.01


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
    cell_snap = engine.snap(cells.lon, cells.lat, model.max_snap_m)
    responder_snap = engine.snap(np.asarray(lon), np.asarray(lat), model.max_snap_m)
    road_cells = cell_snap.joined
    road_responders = responder_snap.joined
    fallback = model.fallback
    for setting, mask in (("urban", urban), ("rural", ~urban)):
        s: Setting = "urban" if setting == "urban" else "rural"
        # Straight-line pairs: every responder for cells off the network, and responders
        # off the network for cells on it.
        for cell_mask, responder_mask in (
            (mask & ~road_cells, np.ones(len(lon), dtype=np.bool_)),
            (mask & road_cells, ~road_responders),
        ):
            if cell_mask.any() and responder_mask.any():
                etas, count = _straight_line(
                    cells, cell_mask, lon[responder_mask], lat[responder_mask], model, s, k,
                    target_s,
                )  # fmt: skip
                best[cell_mask] = _merge(best[cell_mask], etas, k)
                within[cell_mask] += count
        on_road = np.flatnonzero(mask & road_cells)
        joined = np.flatnonzero(road_responders)
        if len(on_road) == 0 or len(joined) == 0:
            continue
        start = fallback.turnout_s + fallback.leg_s(responder_snap.distance_m, s)
        end = fallback.leg_s(cell_snap.distance_m[on_road], s)
        road = _k_nearest_by_road(engine, responder_snap, joined, start, cell_snap, on_road, k)
        best[on_road] = _merge(best[on_road], road + end[:, None], k)
        within[on_road] += _count_within(
            engine, responder_snap, joined, start, cell_snap, on_road, end, target_s
        )
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
) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """The k smallest straight-line ETAs and the count within target, for the masked cells.

    A KD-tree in the engine's projection finds candidates with a margin for its scale error;
    geodesic distances (WGS84) decide, so the answer is the one a brute force would give."""
    engine = model.engine
    fallback = model.fallback
    lon, lat = np.asarray(lon), np.asarray(lat)
    tree = cKDTree(np.column_stack(engine.to_metric(lon, lat)))
    cell_lon, cell_lat = cells.lon[cell_mask], cells.lat[cell_mask]
    points = np.column_stack(engine.to_metric(cell_lon, cell_lat))
    etas = np.full((len(points), k), np.inf)
    asked = min(len(lon), k + 8)
    todo = np.arange(len(points))
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
    count = np.zeros(len(points), dtype=np.int64)
    for i, near in enumerate(tree.query_ball_point(points, r=reach * (1 + _SCALE_MARGIN) + 1.0)):
        if near:
            metres = _geodesic_rows(cell_lon[i : i + 1], cell_lat[i : i + 1], lon, lat, [near])
            count[i] = int((fallback.eta_s(metres[0], setting) <= target_s).sum())
    return etas, count


def _geodesic_rows(
    cell_lon: FloatArray, cell_lat: FloatArray, lon: FloatArray, lat: FloatArray, index: Any
) -> FloatArray:
    """Geodesic metres from each cell to the responders its row of `index` names."""
    index = np.asarray(index, dtype=np.int64)
    rows = np.repeat(np.arange(len(cell_lon)), index.shape[1])
    _, _, metres = _GEOD.inv(cell_lon[rows], cell_lat[rows], lon[index.ravel()], lat[index.ravel()])
    return np.asarray(metres, dtype=np.float64).reshape(index.shape)


def _k_nearest_by_road(
    engine: RoadEngine,
    responders: Snap,
    joined: npt.NDArray[np.int64],
    start: FloatArray,
    cells: Snap,
    on_road: npt.NDArray[np.int64],
    k: int,
) -> FloatArray:
    """Seconds (start included) of the k nearest distinct responders to each cell's joining
    point: one label-setting search from all responders, k labels of distinct ones per node."""
    graph = engine.forward
    indptr, indices, weights = graph.indptr, graph.indices, graph.data
    labels: list[list[tuple[float, int]]] = [[] for _ in range(engine.node_count)]
    heap: list[tuple[float, int, int]] = []
    for r in joined.tolist():
        for node, seconds in engine.exits(responders, r):
            heap.append((float(start[r]) + seconds, node, r))
    heapq.heapify(heap)
    while heap:
        d, v, r = heapq.heappop(heap)
        here = labels[v]
        if len(here) >= k or any(src == r for _, src in here):
            continue
        here.append((d, r))
        for a in range(indptr[v], indptr[v + 1]):
            w = int(indices[a])
            there = labels[w]
            if len(there) < k and not any(src == r for _, src in there):
                heapq.heappush(heap, (d + float(weights[a]), w, r))
    # Responders on a cell's own edge reach it along the edge too.
    on_edge: dict[int, list[int]] = {}
    for r in joined.tolist():
        on_edge.setdefault(int(responders.edge[r]), []).append(r)
    result = np.full((len(on_road), k), np.inf)
    for row, c in enumerate(on_road.tolist()):
        offers: dict[int, float] = {}
        for node, seconds in engine.entries(cells, c):
            for d, r in labels[node]:
                offers[r] = min(offers.get(r, np.inf), d + seconds)
        for r in on_edge.get(int(cells.edge[c]), []):
            along = engine.along_edge_s(responders, r, cells, c)
            offers[r] = min(offers.get(r, np.inf), float(start[r]) + along)
        kept = sorted(offers.values())[:k]
        result[row, : len(kept)] = kept
    return result


def _count_within(
    engine: RoadEngine,
    responders: Snap,
    joined: npt.NDArray[np.int64],
    start: FloatArray,
    cells: Snap,
    on_road: npt.NDArray[np.int64],
    end: FloatArray,
    target_s: float,
) -> npt.NDArray[np.int64]:
    """How many joined responders reach each cell by road within the target."""
    count = np.zeros(len(on_road), dtype=np.int64)
    edge, t = cells.edge[on_road], cells.fraction[on_road]
    source, target = engine.edge_source[edge], engine.edge_target[edge]
    into_forward = t * engine.edge_cost[edge]
    into_backward = (1.0 - t) * engine.edge_reverse_cost[edge]  # inf on one-way edges
    for r in joined.tolist():
        budget = target_s - float(start[r])
        if budget < 0:
            continue
        times = engine.times_from_nodes(engine.exits(responders, r), limit=budget)
        arrive = np.minimum(times[source] + into_forward, times[target] + into_backward)
        same = np.flatnonzero(edge == responders.edge[r])
        for i in same.tolist():
            arrive[i] = min(arrive[i], engine.along_edge_s(responders, r, cells, int(on_road[i])))
        count += (float(start[r]) + arrive + end <= target_s).astype(np.int64)
    return count
