"""The road engine against an independent shortest-path computation (networkx) on Helsinki."""

from __future__ import annotations

import itertools
import math

import networkx as nx
import numpy as np
import pytest
import shapely
from pyproj import Geod

from gridgis.roads.engine import RoadEngine, Snap
from tests.roads_data import helsinki_engine

GEOD = Geod(ellps="WGS84")
BOX = (24.936, 60.165, 24.953, 60.178)


@pytest.fixture(scope="module")
def engine() -> RoadEngine:
    return helsinki_engine()


def random_points(seed: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(BOX[0], BOX[2], count), rng.uniform(BOX[1], BOX[3], count)


def reference_graph(engine: RoadEngine) -> nx.DiGraph:
    """The network as networkx sees it: one arc per allowed direction, cheapest of parallels."""
    g = nx.DiGraph()
    for e in range(engine.edge_count):
        s, t = int(engine.edge_source[e]), int(engine.edge_target[e])
        arcs = [(s, t, float(engine.edge_cost[e]))]
        if math.isfinite(engine.edge_reverse_cost[e]):
            arcs.append((t, s, float(engine.edge_reverse_cost[e])))
        for a, b, w in arcs:
            if not g.has_edge(a, b) or g[a][b]["weight"] > w:
                g.add_edge(a, b, weight=w)
    return g


def add_snapped(
    g: nx.DiGraph, engine: RoadEngine, snap: Snap, i: int, name: str, leaving: bool
) -> None:
    """Split the snapped edge at the joining point, as its own node, in each allowed direction."""
    e, t = int(snap.edge[i]), float(snap.fraction[i])
    s, u = int(engine.edge_source[e]), int(engine.edge_target[e])
    fwd, rev = float(engine.edge_cost[e]), float(engine.edge_reverse_cost[e])
    if leaving:
        g.add_edge(name, u, weight=(1 - t) * fwd)
        if math.isfinite(rev):
            g.add_edge(name, s, weight=t * rev)
    else:
        g.add_edge(s, name, weight=t * fwd)
        if math.isfinite(rev):
            g.add_edge(u, name, weight=(1 - t) * rev)


def test_travel_times_equal_networkx_dijkstra(engine: RoadEngine) -> None:
    for seed in range(4):
        olon, olat = random_points(seed, 25)
        dlon, dlat = random_points(100 + seed, 3)
        origins = engine.snap(olon, olat, 300.0)
        destinations = engine.snap(dlon, dlat, 300.0)
        assert origins.joined.sum() >= 20 and destinations.joined.sum() >= 2
        times = engine.travel_s(origins, destinations)
        # A position too far from every road has no network time (the model falls back).
        assert (
            np.isinf(times[~origins.joined]).all()
            and np.isinf(times[:, ~destinations.joined]).all()
        )
        for j in np.flatnonzero(destinations.joined).tolist():
            g = reference_graph(engine)
            add_snapped(g, engine, destinations, j, "call", leaving=False)
            for i in np.flatnonzero(origins.joined).tolist():
                h = g.copy()
                add_snapped(h, engine, origins, i, "responder", leaving=True)
                if origins.edge[i] == destinations.edge[j]:
                    direct = engine.along_edge_s(origins, i, destinations, j)
                    if math.isfinite(direct):
                        h.add_edge("responder", "call", weight=direct)
                expected = nx.dijkstra_path_length(h, "responder", "call")
                assert times[i, j] == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_one_way_streets_are_respected(engine: RoadEngine) -> None:
    one_way = np.flatnonzero(~np.isfinite(engine.edge_reverse_cost))
    snappable = set(engine.snappable.tolist())
    e = next(int(x) for x in one_way if int(x) in snappable and engine.edge_length_m[x] > 60)
    line = engine.edge_geometry(e)
    lon, lat = np.asarray(line[:, 0]), np.asarray(line[:, 1])
    # Two points on the edge: a quarter and three quarters of the way along it.
    geometry = shapely.LineString(line)
    a, b = (geometry.interpolate(f, normalized=True) for f in (0.25, 0.75))
    snaps = engine.snap(np.array([a.x, b.x]), np.array([a.y, b.y]), 50.0)
    assert snaps.edge.tolist() == [e, e], (lon, lat)
    first = Snap(
        snaps.edge[:1], snaps.fraction[:1], snaps.lon[:1], snaps.lat[:1], snaps.distance_m[:1]
    )
    second = Snap(
        snaps.edge[1:], snaps.fraction[1:], snaps.lon[1:], snaps.lat[1:], snaps.distance_m[1:]
    )
    downstream = engine.travel_s(first, second)[0, 0]
    upstream = engine.travel_s(second, first)[0, 0]
    along = (snaps.fraction[1] - snaps.fraction[0]) * engine.edge_cost[e]
    assert downstream == pytest.approx(along)
    assert upstream > along  # against the one-way direction the car must go round


def test_snapping_finds_the_nearest_point_of_a_suitable_edge(engine: RoadEngine) -> None:
    lons, lats = random_points(7, 60)
    snap = engine.snap(lons, lats, 400.0)
    assert snap.joined.sum() > 50
    for i in np.flatnonzero(snap.joined).tolist():
        # Brute force over every suitable edge: the geodesic distance to its nearest point.
        best = math.inf
        for e in engine.snappable.tolist():
            line = shapely.LineString(engine.edge_geometry(e))
            lon, lat = line.interpolate(line.project(shapely.Point(lons[i], lats[i]))).coords[0]
            best = min(best, GEOD.inv(lons[i], lats[i], lon, lat)[2])
        assert snap.distance_m[i] <= best * 1.02 + 0.5
        # The joining point lies on its edge at the fraction given.
        line = shapely.LineString(engine.edge_geometry(int(snap.edge[i])))
        assert line.distance(shapely.Point(snap.lon[i], snap.lat[i])) < 1e-7
    far = engine.snap(np.array([25.2]), np.array([60.3]), 400.0)
    assert not far.joined.any() and far.edge[0] == -1


def test_unreachable_components_are_never_joined(engine: RoadEngine) -> None:
    from scipy.sparse.csgraph import connected_components

    _, labels = connected_components(engine.forward, directed=True, connection="strong")
    main = np.bincount(labels).argmax()
    outside = [
        e for e in range(engine.edge_count)
        if labels[engine.edge_source[e]] != main or labels[engine.edge_target[e]] != main
    ]  # fmt: skip
    assert outside, "the extract's edge cuts some streets off"
    e = outside[0]
    mid = shapely.LineString(engine.edge_geometry(e)).interpolate(0.5, normalized=True)
    snap = engine.snap(np.array([mid.x]), np.array([mid.y]), 1000.0)
    assert snap.joined.all() and int(snap.edge[0]) != e
    assert int(snap.edge[0]) in set(engine.snappable.tolist())
    # Every joined pair has a finite travel time.
    lons, lats = random_points(11, 20)
    snaps = engine.snap(lons, lats, 1000.0)
    assert snaps.joined.all()
    assert np.isfinite(engine.travel_s(snaps, snaps)).all()


def test_limit_cuts_the_search(engine: RoadEngine) -> None:
    lons, lats = random_points(3, 30)
    origins = engine.snap(lons, lats, 1000.0)
    call = engine.snap(lons[:1], lats[:1], 1000.0)
    full = engine.travel_s(origins, call)[:, 0]
    limited = engine.travel_s(origins, call, limit=60.0)[:, 0]
    near = full <= 60.0 - 1e-9
    assert near.any() and (~near).any()
    # Within the limit the answers agree; beyond it they are unknown (inf) or no shorter.
    assert np.allclose(limited[near], full[near])
    assert (limited[~near] >= full[~near] - 1e-9).all()


def test_routes_follow_the_shortest_path(engine: RoadEngine) -> None:
    """The drawn route is as long as networkx's shortest path, joining point to joining point."""
    lons, lats = random_points(21, 12)
    snaps = engine.snap(lons, lats, 300.0)
    joined = np.flatnonzero(snaps.joined).tolist()
    lengths = {}
    for e in range(engine.edge_count):
        s, t = int(engine.edge_source[e]), int(engine.edge_target[e])
        for a, b, w in ((s, t, engine.edge_cost[e]), (t, s, engine.edge_reverse_cost[e])):
            if math.isfinite(w) and ((a, b) not in lengths or w < lengths[(a, b)][0]):
                lengths[(a, b)] = (float(w), float(engine.edge_length_m[e]))
    for i, j in itertools.pairwise(joined):
        path = engine.route(snaps, i, snaps, j)
        assert path is not None
        assert np.allclose(path[0], [snaps.lon[i], snaps.lat[i]], atol=1e-7)
        assert np.allclose(path[-1], [snaps.lon[j], snaps.lat[j]], atol=1e-7)
        drawn = GEOD.line_length(path[:, 0], path[:, 1])
        g = reference_graph(engine)
        add_snapped(g, engine, snaps, i, "from", leaving=True)
        add_snapped(g, engine, snaps, j, "to", leaving=False)
        if snaps.edge[i] == snaps.edge[j]:
            direct = engine.along_edge_s(snaps, i, snaps, j)
            if math.isfinite(direct):
                g.add_edge("from", "to", weight=direct)
        nodes = nx.dijkstra_path(g, "from", "to")
        metres = 0.0
        if len(nodes) == 2:  # along one edge
            e = int(snaps.edge[i])
            metres = abs(snaps.fraction[j] - snaps.fraction[i]) * engine.edge_length_m[e]
        else:
            ei, ej = int(snaps.edge[i]), int(snaps.edge[j])
            first, last = nodes[1], nodes[-2]
            ti, tj = snaps.fraction[i], snaps.fraction[j]
            metres += (1 - ti if first == engine.edge_target[ei] else ti) * engine.edge_length_m[ei]
            metres += (tj if last == engine.edge_source[ej] else 1 - tj) * engine.edge_length_m[ej]
            metres += sum(lengths[(u, v)][1] for u, v in itertools.pairwise(nodes[1:-1]))
        assert drawn == pytest.approx(metres, rel=0.01, abs=1.0)


def test_remembered_snaps_equal_fresh_ones(
    engine: RoadEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gridgis.roads.engine

    monkeypatch.setattr(gridgis.roads.engine, "SNAP_MEMORY", 100)
    lons, lats = random_points(31, 120)
    fresh = engine.snap(lons, lats, 80.0)
    sizes = []
    # New; partly remembered (the memory is full: cleared); then mostly forgotten again.
    for start, stop in ((0, 100), (60, 120), (0, 120), (0, 120)):
        remembered = engine.snap_remembered(lons[start:stop], lats[start:stop], 80.0)
        for name in ("edge", "fraction", "lon", "lat", "distance_m"):
            assert np.array_equal(
                getattr(remembered, name), getattr(fresh, name)[start:stop], equal_nan=True
            ), name
        sizes.append(len(engine._snaps[80.0]))
    assert sizes == [100, 20, 100, 20]
    other_limit = engine.snap_remembered(lons, lats, 20.0)
    assert (
        other_limit.joined <= fresh.joined
    ).all() and other_limit.joined.sum() < fresh.joined.sum()
    assert len(engine.snap_remembered(lons[:0], lats[:0], 80.0).edge) == 0


@pytest.mark.parametrize("first_horizon_s", [1.0, 30.0, 900.0])
def test_routes_to_one_call_equal_one_route_each(
    engine: RoadEngine, first_horizon_s: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every responder's route from the searches into the call (cut short and widened as
    needed) takes the travel time the engine gives, and is the route `route` draws."""
    import gridgis.roads.engine

    lons, lats = random_points(41, 30)
    origins = engine.snap(lons, lats, 300.0)
    call = engine.snap(np.array([24.9445]), np.array([60.1700]), 300.0)
    monkeypatch.setattr(gridgis.roads.engine, "_FIRST_ROUTE_HORIZON_S", math.inf)
    uncut = engine.routes_to(origins, call, 0)
    monkeypatch.setattr(gridgis.roads.engine, "_FIRST_ROUTE_HORIZON_S", first_horizon_s)
    paths = engine.routes_to(origins, call, 0)
    seconds = engine.travel_s(origins, call)[:, 0]
    for i, path in enumerate(paths):
        if not origins.joined[i]:
            assert path is None
            continue
        assert path is not None
        assert np.allclose(path[0], [origins.lon[i], origins.lat[i]], atol=1e-7)
        assert np.allclose(path[-1], [call.lon[0], call.lat[0]], atol=1e-7)
        assert uncut[i] is not None and np.array_equal(uncut[i], path)
        one = engine.route(origins, i, call, 0)
        assert one is not None and np.array_equal(one, path)
        # Drawn length / top speed never exceeds the travel time it claims.
        drawn = GEOD.line_length(path[:, 0], path[:, 1])
        assert drawn / engine.top_speed_ms <= seconds[i] * 1.01 + 0.5


def test_bulk_snaps_reuse_the_previous_roster_exactly(
    engine: RoadEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A roster snapped in bulk keeps the snaps of positions that did not move (found by key,
    coordinates compared), snaps the moved ones afresh, and equals a fresh snap either way."""
    lons, lats = random_points(51, 400)
    fresh = engine.snap(lons, lats, 90.0)
    first = engine.snap_bulk(lons, lats, 90.0)
    moved_lons, moved_lats = lons.copy(), lats.copy()
    moved = np.arange(0, 400, 7)
    moved_lons[moved] += 0.0004  # about 22 m east
    reordered = np.random.default_rng(2).permutation(400)
    snapped: list[int] = []
    plain = engine.snap

    def counting(lons: np.ndarray, lats: np.ndarray, limit: float) -> Snap:
        snapped.append(len(lons))
        return plain(lons, lats, limit)

    monkeypatch.setattr(engine, "snap", counting)
    second = engine.snap_bulk(moved_lons[reordered], moved_lats[reordered], 90.0)
    assert snapped == [len(moved)]  # only the moved positions were snapped again
    monkeypatch.undo()
    again = engine.snap(moved_lons[reordered], moved_lats[reordered], 90.0)
    other_limit = engine.snap_bulk(moved_lons, moved_lats, 30.0)
    for name in ("edge", "fraction", "lon", "lat", "distance_m"):
        assert np.array_equal(getattr(first, name), getattr(fresh, name), equal_nan=True)
        assert np.array_equal(getattr(second, name), getattr(again, name), equal_nan=True)
        assert np.array_equal(
            getattr(other_limit, name),
            getattr(engine.snap(moved_lons, moved_lats, 30.0), name),
            equal_nan=True,
        )
    assert (fresh.edge[moved] != engine.snap(moved_lons, moved_lats, 90.0).edge[moved]).any()


@pytest.mark.parametrize("limit", [math.inf, 120.0, 15.0])
def test_times_from_a_positions_ways_in_one_search_equal_one_search_per_way(
    engine: RoadEngine, limit: float
) -> None:
    """One search from the extra node joined to a position's ways onto the network (entries
    on the reversed graph, exits on the graph) gives what one search per way, offset and
    merged, gives (one-way edges have one way)."""
    from scipy.sparse.csgraph import dijkstra

    lons, lats = random_points(61, 40)
    snaps = engine.snap(lons, lats, 300.0)
    one_way = 0
    for i in np.flatnonzero(snaps.joined).tolist():
        for reverse, ways in ((True, engine.entries(snaps, i)), (False, engine.exits(snaps, i))):
            one_way += len(ways) == 1
            graph = engine.backward if reverse else engine.forward
            two = np.full(engine.node_count, np.inf)
            for node, offset in ways:
                np.minimum(two, dijkstra(graph, indices=node, limit=limit) + offset, out=two)
            one = engine.times_from_nodes(ways, reverse=reverse, limit=limit)
            exact = np.isfinite(two) & (two <= limit)  # both are exact up to the limit
            assert np.allclose(one[exact], two[exact]) and (one[~exact] >= limit - 1e-9).all()
            assert np.array_equal(np.isfinite(one) & (one <= limit), exact)
    assert one_way > 0


def test_a_large_batch_snapped_across_threads_equals_small_batches(engine: RoadEngine) -> None:
    """A coverage run's roster is snapped in parts on several threads; the parts join back in
    order, with each part's positions where they belong."""
    lons, lats = random_points(52, 25_000)
    whole = engine.snap(lons, lats, 90.0)  # large enough for the threads
    parts = [engine.snap(lons[i : i + 999], lats[i : i + 999], 90.0) for i in range(0, 25_000, 999)]
    assert (whole.edge >= 0).any() and (whole.edge < 0).any()
    for name in ("edge", "fraction", "lon", "lat", "distance_m"):
        joined = np.concatenate([getattr(p, name) for p in parts])
        assert np.array_equal(getattr(whole, name), joined, equal_nan=True), name
