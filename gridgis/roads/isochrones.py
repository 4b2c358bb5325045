"""Isochrones and service areas: the parts of the road network reachable within a time budget.

One search from the position (Dijkstra on the network, after the straight-line leg to the
road it joins) gives every node's time; each edge is then reached from either end as far as
the remaining budget carries along it (a partial edge is cut at that point). The reached
pieces are buffered by `reach_m` on each side — the distance a responder covers off the
road, on foot — unioned, and nested: the area of a longer budget always contains the
shorter's. Polygons are built in a transverse Mercator centred on the network and returned
in WGS84, checked valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from shapely.ops import substring

from gridgis.dispatch.eta import Setting, StraightLineEta
from gridgis.errors import InvalidInput, OutsideCoverage
from gridgis.roads.engine import RoadEngine

MAX_MINUTES = 120.0
MAX_BANDS = 10


@dataclass(frozen=True)
class Isochrone:
    """What can be reached within `minutes`: a polygon (WGS84) and how many edges it holds."""

    minutes: float
    polygon: BaseGeometry
    edges_reached: int


def check_minutes(minutes: list[float]) -> list[float]:
    if not minutes or len(minutes) > MAX_BANDS:
        raise InvalidInput(f"minutes must list 1 to {MAX_BANDS} values.", field="minutes")
    for m in minutes:
        if not (np.isfinite(m) and 0 < m <= MAX_MINUTES):
            raise InvalidInput(
                f"minutes must be in (0, {MAX_MINUTES:g}], got {m}.", field="minutes"
            )
    return sorted(set(minutes))


def isochrones(
    engine: RoadEngine,
    lon: float,
    lat: float,
    minutes: list[float],
    fallback: StraightLineEta,
    *,
    setting: Setting = "urban",
    max_snap_m: float = 500.0,
    start_s: float = 0.0,
    reach_m: float = 50.0,
) -> list[Isochrone]:
    """Areas reachable from (lon, lat) within each of `minutes` (after `start_s`, e.g. the
    turnout); the off-network leg to the road is priced by the straight-line model."""
    bands = check_minutes(minutes)
    snap = engine.snap(np.array([lon]), np.array([lat]), max_snap_m)
    if not snap.joined[0]:
        raise OutsideCoverage(
            f"({lon}, {lat}) is farther than {max_snap_m:g} m from every road of the network.",
            field="lon",
        )
    leg = start_s + float(fallback.leg_s(snap.distance_m[0], setting))
    horizon = max(bands) * 60.0 - leg
    at_node = engine.times_from_nodes(engine.exits(snap, 0), limit=max(horizon, 0.0))
    e0, t0 = int(snap.edge[0]), float(snap.fraction[0])
    lines = engine.projected_lines
    out: list[Isochrone] = []
    previous: BaseGeometry | None = None
    for band in bands:
        budget = band * 60.0 - leg
        pieces: list[Any] = []
        if budget > 0:
            pieces = _reached_pieces(engine, at_node, budget, lines)
            pieces.extend(_origin_pieces(engine, e0, t0, budget, lines))
        metric = shapely.union_all(shapely.buffer(pieces, reach_m)) if pieces else None
        if metric is not None and previous is not None:
            metric = shapely.union(metric, previous)
        polygon = _to_wgs84(engine, metric)
        out.append(Isochrone(band, polygon, len(pieces)))
        previous = metric if metric is not None else previous
    return out


def _reached_pieces(
    engine: RoadEngine, at_node: np.ndarray, budget: float, lines: np.ndarray
) -> list[Any]:
    """Each edge as far as the budget carries along it from either end."""
    start = at_node[engine.edge_source]
    end = at_node[engine.edge_target]
    forward = np.clip((budget - start) / engine.edge_cost, 0.0, 1.0)
    two_way = np.isfinite(engine.edge_reverse_cost)
    reverse_cost = np.where(two_way, engine.edge_reverse_cost, 1.0)
    backward = np.where(two_way, np.clip((budget - end) / reverse_cost, 0.0, 1.0), 0.0)
    forward = np.where(np.isfinite(start), forward, 0.0)
    backward = np.where(np.isfinite(end), backward, 0.0)
    pieces: list[Any] = []
    full = np.flatnonzero((forward + backward) >= 1.0)
    pieces.extend(lines[full])
    for e in np.flatnonzero(((forward + backward) < 1.0) & ((forward > 0) | (backward > 0))):
        line = lines[e]
        if forward[e] > 0:
            pieces.append(substring(line, 0.0, float(forward[e]), normalized=True))
        if backward[e] > 0:
            pieces.append(substring(line, 1.0 - float(backward[e]), 1.0, normalized=True))
    return pieces


def _origin_pieces(
    engine: RoadEngine, edge: int, fraction: float, budget: float, lines: np.ndarray
) -> list[Any]:
    """The joined edge from the joining point, downstream and (two-way) upstream."""
    line = lines[edge]
    ahead = min(1.0, fraction + budget / float(engine.edge_cost[edge]))
    pieces = [substring(line, fraction, ahead, normalized=True)]
    reverse = float(engine.edge_reverse_cost[edge])
    if np.isfinite(reverse):
        behind = max(0.0, fraction - budget / reverse)
        pieces.append(substring(line, behind, fraction, normalized=True))
    return pieces


def _to_wgs84(engine: RoadEngine, metric: BaseGeometry | None) -> BaseGeometry:
    if metric is None or metric.is_empty:
        return shapely.Polygon()
    back = shapely.transform(
        metric,
        lambda xy: np.column_stack(engine.to_wgs84(xy[:, 0], xy[:, 1])),
    )
    return back if back.is_valid else shapely.make_valid(back)
