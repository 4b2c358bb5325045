"""Isochrones on Helsinki: valid, nested, made of the reached streets (checked with networkx)."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
import shapely

from gridgis.dispatch.eta import StraightLineEta
from gridgis.errors import InvalidInput, OutsideCoverage
from gridgis.roads.engine import RoadEngine
from gridgis.roads.isochrones import isochrones
from tests.roads_data import helsinki_engine
from tests.unit.test_roads_engine import add_snapped, reference_graph

ORIGIN = (24.9445, 60.1700)
FALLBACK = StraightLineEta()


@pytest.fixture(scope="module")
def engine() -> RoadEngine:
    return helsinki_engine()


def test_bands_are_valid_nested_and_not_hulls(engine: RoadEngine) -> None:
    bands = isochrones(engine, *ORIGIN, [1, 2, 4], FALLBACK)
    assert [b.minutes for b in bands] == [1, 2, 4]
    areas = []
    for small, big in itertools.pairwise(bands):
        assert small.polygon.is_valid and big.polygon.is_valid
        assert small.polygon.difference(big.polygon).area < 1e-12
    for band in bands:
        assert band.polygon.is_valid and not band.polygon.is_empty
        areas.append(band.polygon.area)
        assert band.polygon.area < 0.9 * band.polygon.convex_hull.area
    assert areas == sorted(areas) and areas[0] < areas[-1]


def test_reached_nodes_are_inside_and_far_unreached_ones_outside(engine: RoadEngine) -> None:
    minutes, reach_m = 2.0, 50.0
    [band] = isochrones(engine, *ORIGIN, [minutes], FALLBACK, reach_m=reach_m)
    snap = engine.snap(np.array([ORIGIN[0]]), np.array([ORIGIN[1]]), 500.0)
    g = reference_graph(engine)
    add_snapped(g, engine, snap, 0, "origin", leaving=True)
    times = nx.single_source_dijkstra_path_length(g, "origin")
    budget = minutes * 60 - float(FALLBACK.leg_s(snap.distance_m[0], "urban"))
    reached = {n for n, t in times.items() if n != "origin" and t <= budget - 1e-6}
    assert 5 < len(reached) < engine.node_count
    polygon = band.polygon
    for n in reached:
        assert polygon.buffer(1e-7).contains(shapely.Point(engine.node_lon[n], engine.node_lat[n]))
    # Only edges with a reached end (or the joined edge) can hold reached pieces: a node
    # farther than the buffer from all of them cannot be inside.
    lines = engine.projected_lines
    near = [
        e for e in range(engine.edge_count)
        if int(engine.edge_source[e]) in reached or int(engine.edge_target[e]) in reached
        or e == int(snap.edge[0])
    ]  # fmt: skip
    possible = shapely.union_all(lines[near]).buffer(reach_m + 1.0)
    x, y = engine._to_metres.transform(engine.node_lon, engine.node_lat)
    outside = [
        n for n in range(engine.node_count) if not possible.contains(shapely.Point(x[n], y[n]))
    ]
    assert outside
    for n in outside:
        assert not polygon.contains(shapely.Point(engine.node_lon[n], engine.node_lat[n]))


def test_bad_requests(engine: RoadEngine) -> None:
    with pytest.raises(InvalidInput, match="minutes"):
        isochrones(engine, *ORIGIN, [], FALLBACK)
    with pytest.raises(InvalidInput, match="minutes"):
        isochrones(engine, *ORIGIN, [0], FALLBACK)
    with pytest.raises(InvalidInput, match="minutes"):
        isochrones(engine, *ORIGIN, [float("nan")], FALLBACK)
    with pytest.raises(OutsideCoverage):
        isochrones(engine, 24.90, 60.14, [5], FALLBACK)
    # A start time (turnout) longer than the band leaves nothing reachable.
    [empty] = isochrones(engine, *ORIGIN, [1], FALLBACK, start_s=120.0)
    assert empty.polygon.is_empty
