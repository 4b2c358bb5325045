"""The in-process road engine: a directed graph of travel times, snapping, shortest paths.

Shortest paths run scipy's csgraph Dijkstra (C, on a CSR matrix of seconds) with a time limit,
chosen after measuring it beside igraph and networkx on the same graph (docs/PERFORMANCE.md).
Positions join the network at the nearest point of a suitable edge — one of the largest
strongly connected component (so every joined pair has a route) that is not a motorway —
splitting that edge there: the travel time along it is prorated by the projected position, in
each direction the edge allows. The leg between the position and the network is not priced
here; callers price it with the straight-line model.
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Geod, Transformer
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from shapely.ops import substring

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_GEOD = Geod(ellps="WGS84")
# Never joined: a call beside a motorway is not reached by stopping on the motorway.
UNSUITABLE_FOR_SNAPPING = frozenset({"motorway", "motorway_link"})
# Route searches start cut at this many seconds and widen (x8) for origins not yet reached.
_FIRST_ROUTE_HORIZON_S = 900.0
# Positions whose snaps an engine remembers (about 0.4 KiB each).
SNAP_MEMORY = 50_000
# Batches of at least this many positions are snapped on up to _SNAP_THREADS cores.
_PARALLEL_SNAP = 20_000
_SNAP_THREADS = 4


@dataclass(frozen=True)
class Snap:
    """Where positions join the network: per position, the edge, the fraction along it (from
    its source), the joining point and its geodesic distance; edge -1 when none is near."""

    edge: IntArray
    fraction: FloatArray
    lon: FloatArray
    lat: FloatArray
    distance_m: FloatArray

    @property
    def joined(self) -> npt.NDArray[np.bool_]:
        return np.asarray(self.edge >= 0)


# A bulk snap kept for the next: its limit, sorted position keys, their order, the positions
# and the snap itself.
BulkSnap = tuple[float, IntArray, IntArray, FloatArray, FloatArray, Snap]


@dataclass
class RoadEngine:
    """One network's graph, ready to route on (built once per worker and network)."""

    network_id: int
    profile: str
    node_lon: FloatArray
    node_lat: FloatArray
    edge_source: IntArray
    edge_target: IntArray
    edge_cost: FloatArray  # seconds source -> target
    edge_reverse_cost: FloatArray  # seconds target -> source; inf on one-way edges
    edge_length_m: FloatArray
    edge_highway: list[str]
    coords: FloatArray
    offsets: IntArray
    top_speed_kmh: float
    forward: csr_matrix = field(init=False)
    backward: csr_matrix = field(init=False)
    snappable: IntArray = field(init=False)
    _lines: Any = field(init=False)
    _tree: Any = field(init=False)
    _to_metres: Transformer = field(init=False)
    _arcs: dict[tuple[int, int], tuple[int, bool]] | None = field(init=False, default=None)
    node_x: FloatArray = field(init=False)
    node_y: FloatArray = field(init=False)
    node_reach_m: FloatArray = field(init=False)
    # Snaps of positions seen before, per snapping limit: responders' home bases and parked
    # units come back call after call. Bounded; cleared when full.
    _snaps: dict[float, dict[tuple[float, float], tuple[int, float, float, float, float]]] = field(
        init=False, default_factory=dict
    )
    # The last bulk snap (a coverage run's roster), for the next one (`snap_bulk`).
    _bulk: BulkSnap | None = field(init=False, default=None)
    # The graph and the reversed graph, each with one more node whose two arcs are set per
    # search to a position's ways onto the network (the ends of its edge, weighted by the part
    # of the edge to travel): one search from it serves both ways (`times_from_nodes`).
    _started: dict[bool, csr_matrix] = field(init=False)
    _started_lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        n = len(self.node_lon)
        two_way = np.isfinite(self.edge_reverse_cost)
        rows = np.concatenate([self.edge_source, self.edge_target[two_way]])
        cols = np.concatenate([self.edge_target, self.edge_source[two_way]])
        weights = np.concatenate([self.edge_cost, self.edge_reverse_cost[two_way]])
        self.forward = _min_csr(rows, cols, weights, n)
        self.backward = self.forward.transpose().tocsr()
        self._started = {
            False: _with_start_node(self.forward),
            True: _with_start_node(self.backward),
        }
        _, labels = connected_components(self.forward, directed=True, connection="strong")
        main = np.bincount(labels).argmax() if n else 0
        in_main = (labels[self.edge_source] == main) & (labels[self.edge_target] == main)
        suitable = np.asarray([h not in UNSUITABLE_FOR_SNAPPING for h in self.edge_highway])
        self.snappable = np.flatnonzero(in_main & suitable)
        # A transverse Mercator centred on the network: metres within 0.1% across a city.
        lon0 = float(np.median(self.node_lon)) if n else 0.0
        lat0 = float(np.median(self.node_lat)) if n else 0.0
        self._to_metres = Transformer.from_crs(
            "EPSG:4326",
            f"+proj=tmerc +lon_0={lon0} +lat_0={lat0} +ellps=WGS84 +units=m",
            always_xy=True,
        )
        x, y = self._to_metres.transform(self.coords[:, 0], self.coords[:, 1])
        vertex_edge = np.repeat(np.arange(len(self.edge_source)), np.diff(self.offsets))
        self._lines = shapely.linestrings(np.column_stack([x, y]), indices=vertex_edge)
        self._tree = shapely.STRtree(self._lines[self.snappable])
        node_x, node_y = self._to_metres.transform(self.node_lon, self.node_lat)
        self.node_x, self.node_y = np.asarray(node_x), np.asarray(node_y)
        # The longest edge at each node: every point of its edges lies within this of it.
        reach = np.zeros(n)
        np.maximum.at(reach, self.edge_source, self.edge_length_m)
        np.maximum.at(reach, self.edge_target, self.edge_length_m)
        self.node_reach_m = reach

    @property
    def node_count(self) -> int:
        return len(self.node_lon)

    @property
    def edge_count(self) -> int:
        return len(self.edge_source)

    @property
    def projected_lines(self) -> Any:
        """Every edge as a LineString in the engine's metric projection (metres)."""
        return self._lines

    def to_metric(self, lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
        """lon/lat -> the engine's metric projection (metres, within 0.1% across a province)."""
        x, y = self._to_metres.transform(lon, lat)
        return np.asarray(x), np.asarray(y)

    def to_wgs84(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Metric projection -> lon/lat."""
        lon, lat = self._to_metres.transform(x, y, direction="INVERSE")
        return np.asarray(lon), np.asarray(lat)

    @property
    def top_speed_ms(self) -> float:
        return self.top_speed_kmh / 3.6

    def snap_remembered(self, lons: FloatArray, lats: FloatArray, max_distance_m: float) -> Snap:
        """`snap`, answering positions snapped before from memory (the same result)."""
        lons = np.atleast_1d(np.asarray(lons, dtype=np.float64))
        lats = np.atleast_1d(np.asarray(lats, dtype=np.float64))
        memory = self._snaps.setdefault(max_distance_m, {})
        keys = list(zip(lons.tolist(), lats.tolist(), strict=True))
        rows = [memory.get(key) for key in keys]
        missing = [i for i, row in enumerate(rows) if row is None]
        if missing:
            fresh = self.snap(lons[missing], lats[missing], max_distance_m)
            if len(memory) + len(missing) > SNAP_MEMORY:
                memory.clear()
            for k, i in enumerate(missing):
                row = (
                    int(fresh.edge[k]),
                    float(fresh.fraction[k]),
                    float(fresh.lon[k]),
                    float(fresh.lat[k]),
                    float(fresh.distance_m[k]),
                )
                rows[i] = memory[keys[i]] = row
        edge, fraction, snap_lon, snap_lat, distance = (
            (np.array(column, dtype=np.float64) for column in zip(*rows, strict=True))
            if rows
            else (np.zeros(0) for _ in range(5))
        )
        return Snap(edge.astype(np.int64), fraction, snap_lon, snap_lat, distance)

    def snap_bulk(self, lons: FloatArray, lats: FloatArray, max_distance_m: float) -> Snap:
        """`snap` for a whole roster: positions that were in the previous roster snapped this
        way keep their snap (found by sorted keys, no Python loop); the others are snapped."""
        lons = np.atleast_1d(np.asarray(lons, dtype=np.float64))
        lats = np.atleast_1d(np.asarray(lats, dtype=np.float64))
        keys = _position_keys(lons, lats)
        edge = np.full(len(lons), -1, dtype=np.int64)
        fraction = np.zeros(len(lons))
        snap_lon = np.full(len(lons), np.nan)
        snap_lat = np.full(len(lons), np.nan)
        distance = np.full(len(lons), np.inf)
        known = np.zeros(len(lons), dtype=np.bool_)
        bulk = self._bulk
        if bulk is not None and bulk[0] == max_distance_m and len(bulk[1]):
            _, sorted_keys, order, old_lons, old_lats, old = bulk
            place = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
            candidate = order[place]
            # Equal keys of different positions (a collision) are snapped afresh.
            known = (sorted_keys[place] == keys) & (old_lons[candidate] == lons)
            known &= old_lats[candidate] == lats
            source = candidate[known]
            edge[known] = old.edge[source]
            fraction[known] = old.fraction[source]
            snap_lon[known] = old.lon[source]
            snap_lat[known] = old.lat[source]
            distance[known] = old.distance_m[source]
        fresh = np.flatnonzero(~known)
        if len(fresh):
            found = self.snap(lons[fresh], lats[fresh], max_distance_m)
            edge[fresh] = found.edge
            fraction[fresh] = found.fraction
            snap_lon[fresh] = found.lon
            snap_lat[fresh] = found.lat
            distance[fresh] = found.distance_m
        result = Snap(edge, fraction, snap_lon, snap_lat, distance)
        order = np.argsort(keys, kind="stable")
        self._bulk = (max_distance_m, keys[order], order, lons, lats, result)
        return result

    def snap(self, lons: FloatArray, lats: FloatArray, max_distance_m: float) -> Snap:
        """The nearest point of a suitable edge for each position (edge -1 beyond the limit)."""
        lons = np.atleast_1d(np.asarray(lons, dtype=np.float64))
        lats = np.atleast_1d(np.asarray(lats, dtype=np.float64))
        count = len(lons)
        edge = np.full(count, -1, dtype=np.int64)
        fraction = np.zeros(count)
        snap_lon = np.full(count, np.nan)
        snap_lat = np.full(count, np.nan)
        distance = np.full(count, np.inf)
        if count == 0 or len(self.snappable) == 0:
            return Snap(edge, fraction, snap_lon, snap_lat, distance)
        x, y = self._to_metres.transform(lons, lats)
        points = shapely.points(x, y)
        # The projection's scale error stays far below 1%; the margin keeps edges near the limit.
        reach = 1.01 * max_distance_m + 1.0
        threads = min(_SNAP_THREADS, os.cpu_count() or 1)
        if count < _PARALLEL_SNAP or threads < 2:
            position, chosen, along, lengths, px, py = self._snap_planar(points, reach)
        else:
            # A large batch (a coverage run's roster or cells) is split across the cores:
            # shapely releases the GIL while it searches and measures.
            bounds = np.linspace(0, count, threads + 1).astype(np.int64)
            parts = list(itertools.pairwise(bounds.tolist()))
            with ThreadPoolExecutor(threads) as pool:
                done = list(
                    pool.map(lambda ab: self._snap_planar(points[ab[0] : ab[1]], reach), parts)
                )
            position = np.concatenate([d[0] + a for d, (a, _) in zip(done, parts, strict=True)])
            chosen, along, lengths, px, py = (
                np.concatenate([d[i] for d in done]) for i in range(1, 6)
            )
        plon, plat = self._to_metres.transform(px, py, direction="INVERSE")
        _, _, metres = _GEOD.inv(lons[position], lats[position], plon, plat)
        metres = np.asarray(metres, dtype=np.float64)
        keep = metres <= max_distance_m
        position, chosen = position[keep], chosen[keep]
        edge[position] = chosen
        fraction[position] = np.clip(np.where(lengths > 0, along / lengths, 0.0)[keep], 0, 1)
        snap_lon[position] = np.asarray(plon)[keep]
        snap_lat[position] = np.asarray(plat)[keep]
        distance[position] = metres[keep]
        return Snap(edge, fraction, snap_lon, snap_lat, distance)

    def _snap_planar(self, points: npt.NDArray[Any], reach: float) -> tuple[npt.NDArray[Any], ...]:
        """For planar points (metres): which have a snappable edge within `reach`, the nearest
        one (ties: the first), where along it (metres, and its length) and the point there."""
        found = self._tree.query_nearest(points, max_distance=reach)
        # Ties: several edges at the same distance (a point on a shared node) keep the first.
        position, first = np.unique(found[0], return_index=True)
        chosen = self.snappable[found[1][first]]
        lines = self._lines[chosen]
        along = shapely.line_locate_point(lines, points[position])
        on_line = shapely.line_interpolate_point(lines, along)
        return (
            position,
            chosen,
            along,
            shapely.length(lines),
            shapely.get_x(on_line),
            shapely.get_y(on_line),
        )

    def exits(self, snap: Snap, i: int) -> list[tuple[int, float]]:
        """(node, seconds) a traveller at snapped position i reaches first, leaving it."""
        e, t = int(snap.edge[i]), float(snap.fraction[i])
        out = [(int(self.edge_target[e]), (1.0 - t) * float(self.edge_cost[e]))]
        if np.isfinite(self.edge_reverse_cost[e]):
            out.append((int(self.edge_source[e]), t * float(self.edge_reverse_cost[e])))
        return out

    def entries(self, snap: Snap, i: int) -> list[tuple[int, float]]:
        """(node, seconds) from which a traveller reaches snapped position i, entering it."""
        e, t = int(snap.edge[i]), float(snap.fraction[i])
        out = [(int(self.edge_source[e]), t * float(self.edge_cost[e]))]
        if np.isfinite(self.edge_reverse_cost[e]):
            out.append((int(self.edge_target[e]), (1.0 - t) * float(self.edge_reverse_cost[e])))
        return out

    def along_edge_s(self, origins: Snap, i: int, destinations: Snap, j: int) -> float:
        """Seconds from origin i to destination j along their shared edge (inf if not)."""
        e = int(origins.edge[i])
        if e < 0 or e != int(destinations.edge[j]):
            return np.inf
        ti, tj = float(origins.fraction[i]), float(destinations.fraction[j])
        if tj >= ti:
            return (tj - ti) * float(self.edge_cost[e])
        return (ti - tj) * float(self.edge_reverse_cost[e])

    def times_from_nodes(
        self, starts: list[tuple[int, float]], *, reverse: bool = False, limit: float = np.inf
    ) -> FloatArray:
        """Seconds to every node from the cheapest start (node, offset); on the reversed graph,
        seconds from every node to the cheapest start. Nodes beyond `limit` are inf.

        One search from the extra node of the graph, its two arcs set to the starts (a
        position's exits or entries: one or two)."""
        n = self.node_count
        if not starts:
            return np.full(n, np.inf)
        if len(starts) > 2:
            raise ValueError("at most two starts: a position's ways onto the network")
        nodes = [node for node, _ in starts] * (3 - len(starts))
        offsets = [offset for _, offset in starts] * (3 - len(starts))
        graph = self._started[reverse]
        with self._started_lock:
            arcs = slice(graph.indptr[n], graph.indptr[n] + 2)
            graph.indices[arcs] = nodes[:2]
            graph.data[arcs] = offsets[:2]
            found = dijkstra(graph, directed=True, indices=n, limit=limit)
        return np.asarray(found[:n])

    def travel_s(
        self,
        origins: Snap,
        destinations: Snap,
        *,
        limit: float = np.inf,
    ) -> FloatArray:
        """Network seconds from each joined origin to each joined destination (a matrix of
        origins x destinations; inf where either is not joined, or beyond `limit`).

        One reverse search per destination: the cost of many origins to few calls (dispatch)."""
        result = np.full((len(origins.edge), len(destinations.edge)), np.inf)
        for j in np.flatnonzero(destinations.joined).tolist():
            to_dest = self.times_from_nodes(
                self.entries(destinations, j), reverse=True, limit=limit
            )
            result[:, j] = self.network_s(origins, destinations, j, to_dest)
        return result

    def network_s(
        self, origins: Snap, destinations: Snap, j: int, to_dest: FloatArray
    ) -> FloatArray:
        """Network seconds from each origin to joined destination j, given every node's
        seconds to it (`to_dest`, from a reverse search; inf beyond its limit). A result no
        greater than the search's limit is exact; inf where the origin is not joined."""
        result = np.full(len(origins.edge), np.inf)
        joined = np.flatnonzero(origins.joined)
        edge, t = origins.edge[joined], origins.fraction[joined]
        # Leaving a joining point: downstream to the edge's target, upstream (two-way) to its
        # source; the reverse cost is inf on one-way edges.
        ahead_node, ahead_s = self.edge_target[edge], (1.0 - t) * self.edge_cost[edge]
        back_node = self.edge_source[edge]
        with np.errstate(invalid="ignore"):
            back_s = (
                np.where(np.isfinite(self.edge_reverse_cost[edge]), t, 1.0)
                * (self.edge_reverse_cost[edge])
            )
        best = np.minimum(ahead_s + to_dest[ahead_node], back_s + to_dest[back_node])
        for k in np.flatnonzero(edge == destinations.edge[j]).tolist():
            best[k] = min(best[k], self.along_edge_s(origins, int(joined[k]), destinations, j))
        result[joined] = best
        return result

    def route(self, origins: Snap, i: int, destinations: Snap, j: int) -> FloatArray | None:
        """The fastest path's geometry (lon, lat rows) from joined origin i to joined
        destination j, from joining point to joining point; None when either is not joined."""
        keep = np.zeros(len(origins.edge), dtype=np.bool_)
        keep[i] = True
        return self.routes_to(origins, destinations, j, only=keep)[i]

    def routes_to(
        self,
        origins: Snap,
        destinations: Snap,
        j: int,
        *,
        only: npt.NDArray[np.bool_] | None = None,
    ) -> list[FloatArray | None]:
        """The fastest paths' geometries (lon, lat rows) from every joined origin (those in
        `only`, when given) to joined destination j, from joining point to joining point; None
        for the others. One reverse search per way into j serves every origin."""
        wanted = origins.joined if only is None else origins.joined & only
        if not destinations.joined[j] or not wanted.any():
            return [None] * len(origins.edge)
        horizon = _FIRST_ROUTE_HORIZON_S
        while True:
            searches = self._searches_into(destinations, j, horizon)
            found = self._assemble_routes(origins, destinations, j, wanted, searches, horizon)
            if all(found[i] is not None for i in np.flatnonzero(wanted).tolist()):
                return found
            if not np.isfinite(horizon):
                return found  # the rest cannot reach j
            horizon = horizon * 8 if horizon < 86_400 else np.inf

    def _searches_into(
        self, destinations: Snap, j: int, limit: float
    ) -> list[tuple[int, float, FloatArray, IntArray]]:
        """On the reversed graph, one search from each node by which j is entered: every
        node's seconds to it (exact up to `limit`) and, as predecessor, the next node on the
        way there."""
        searches = []
        for entry, more in self.entries(destinations, j):
            seconds, following = dijkstra(
                self.backward, directed=True, indices=entry, return_predecessors=True, limit=limit
            )
            searches.append((entry, more, seconds, following))
        return searches

    def _assemble_routes(
        self,
        origins: Snap,
        destinations: Snap,
        j: int,
        wanted: npt.NDArray[np.bool_],
        searches: list[tuple[int, float, FloatArray, IntArray]],
        horizon: float,
    ) -> list[FloatArray | None]:
        """Paths of the wanted origins whose fastest way is proven within `horizon` (any way
        through a node the searches did not settle takes longer); None for the others."""
        paths: list[FloatArray | None] = [None] * len(origins.edge)
        e_to, t_to = int(destinations.edge[j]), float(destinations.fraction[j])
        for i in np.flatnonzero(wanted).tolist():
            best: tuple[float, int, int, Any] = (
                self.along_edge_s(origins, i, destinations, j),
                -1,
                -1,
                None,
            )
            for node, leaving in self.exits(origins, i):
                for entry, more, seconds, following in searches:
                    total = leaving + float(seconds[node]) + more
                    if total < best[0]:
                        best = (total, node, entry, following)
            if not best[0] <= horizon:
                continue
            e_from, t_from = int(origins.edge[i]), float(origins.fraction[i])
            _, exit_node, entry_node, following = best
            if following is None:  # along the shared edge
                paths[i] = self._piece(e_from, t_from, t_to)
                continue
            nodes = [exit_node]
            while nodes[-1] != entry_node:
                nodes.append(int(following[nodes[-1]]))
            at_target = exit_node == self.edge_target[e_from]
            parts = [self._piece(e_from, t_from, 1.0 if at_target else 0.0)]
            for u, v in itertools.pairwise(nodes):
                edge, forward = self._arc_edges()[(u, v)]
                line = self.edge_geometry(edge)
                parts.append(line if forward else line[::-1])
            at_source = entry_node == self.edge_source[e_to]
            parts.append(self._piece(e_to, 0.0 if at_source else 1.0, t_to))
            paths[i] = np.vstack(parts)
        return paths

    def _piece(self, edge: int, start: float, end: float) -> FloatArray:
        """Part of an edge between two fractions (reversed when end < start), as lon/lat."""
        line = self._lines[edge]
        piece = substring(line, min(start, end), max(start, end), normalized=True)
        x, y = shapely.get_coordinates(piece).T
        lon, lat = self.to_wgs84(x, y)
        coords = np.column_stack([lon, lat])
        return coords if end >= start else coords[::-1]

    def _arc_edges(self) -> dict[tuple[int, int], tuple[int, bool]]:
        """The cheapest edge behind each arc of the graph, and whether it runs forward."""
        if self._arcs is None:
            arcs: dict[tuple[int, int], tuple[float, int, bool]] = {}
            for e in range(self.edge_count):
                s, t = int(self.edge_source[e]), int(self.edge_target[e])
                for key, cost, forward in (
                    ((s, t), float(self.edge_cost[e]), True),
                    ((t, s), float(self.edge_reverse_cost[e]), False),
                ):
                    if np.isfinite(cost) and (key not in arcs or cost < arcs[key][0]):
                        arcs[key] = (cost, e, forward)
            self._arcs = {key: (e, forward) for key, (_, e, forward) in arcs.items()}
        return self._arcs

    def edge_geometry(self, edge: int) -> FloatArray:
        return self.coords[self.offsets[edge] : self.offsets[edge + 1]]


def _position_keys(lons: FloatArray, lats: FloatArray) -> IntArray:
    """One integer per position, equal exactly when both coordinates are (their bit patterns
    mixed; `snap_bulk` compares the coordinates themselves before trusting a match)."""
    lon_bits = np.ascontiguousarray(lons, dtype=np.float64).view(np.int64)
    lat_bits = np.ascontiguousarray(lats, dtype=np.float64).view(np.int64)
    return np.asarray(lon_bits * np.int64(-7046029254386353131) ^ lat_bits)


def _with_start_node(graph: csr_matrix) -> csr_matrix:
    """`graph` with one more node and two arcs out of it (set per search), none into it."""
    n, nnz = graph.shape[0], graph.nnz
    return csr_matrix(
        (
            np.concatenate([graph.data, [0.0, 0.0]]),
            np.concatenate([graph.indices, np.zeros(2, dtype=graph.indices.dtype)]),
            np.concatenate([graph.indptr, [nnz + 2]]),
        ),
        shape=(n + 1, n + 1),
    )


def _min_csr(rows: IntArray, cols: IntArray, weights: FloatArray, n: int) -> csr_matrix:
    """A CSR matrix keeping the cheapest of parallel edges (scipy would add them up)."""
    order = np.lexsort((weights, cols, rows))
    rows, cols, weights = rows[order], cols[order], weights[order]
    first = np.ones(len(rows), dtype=np.bool_)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    return csr_matrix((weights[first], (rows[first], cols[first])), shape=(n, n))


def load_engine(db: Any, network_id: int) -> RoadEngine:
    """The engine of a stored network (nodes and edges as the import wrote them)."""
    from gridgis.errors import NotFound
    from gridgis.roads import sql as roads_sql
    from gridgis.roads.networks import stored_graph

    row = roads_sql.network_row(db, network_id)
    if row is None:
        raise NotFound(f"Road network {network_id} does not exist.", field="network")
    graph, cost_s = stored_graph(db, row)
    return engine_from_graph(graph, cost_s, float(row.top_speed_kmh), network_id)


def engine_from_graph(
    graph: Any, cost_s: FloatArray, top_speed_kmh: float, network_id: int = 0
) -> RoadEngine:
    """An engine over an in-memory `RoadGraph` with its edges' travel times (seconds)."""
    reverse = np.where(graph.edge_oneway, np.inf, cost_s)
    return RoadEngine(
        network_id=network_id,
        profile=graph.profile,
        node_lon=graph.node_lon,
        node_lat=graph.node_lat,
        edge_source=graph.edge_source,
        edge_target=graph.edge_target,
        edge_cost=np.asarray(cost_s, dtype=np.float64),
        edge_reverse_cost=np.asarray(reverse, dtype=np.float64),
        edge_length_m=graph.edge_length_m,
        edge_highway=list(graph.edge_highway),
        coords=graph.coords,
        offsets=graph.offsets,
        top_speed_kmh=top_speed_kmh,
    )
