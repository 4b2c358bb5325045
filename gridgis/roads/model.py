"""`road_v1`: ETAs by travel time on the active road network, with a straight-line fallback.

A position joins the network at the nearest point of a suitable edge (`RoadEngine.snap`);
the legs between the positions and the network are priced by the straight-line model (without
its turnout, which is added once). A position farther than `max_snap_m` from every suitable
edge is priced by the straight-line model for that answer, and each result names the model
that priced it. Dispatch prices a call through `RoadCall`: one reverse search from the call,
shared by every round of the shortlist, which also bounds the straight-line distance from
which anyone can reach the call in a given time (`RoadCall.reach_m`), so dispatch's KNN
shortlist certification stays exact for this model. `max_distance_m` is the coarser bound
that needs no search (the fastest speed anywhere in the answer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridgis.dispatch.eta import FloatArray, PricedEtas, Setting, StraightLineEta, geodesic_m
from gridgis.roads.engine import RoadEngine, Snap

ROAD_MODEL_NAME = "road_v1"
# The tmerc projection used to prorate edges and measure snaps errs far below this.
_PROJECTION_MARGIN = 1.01
# The first search horizon: the 5-minute target, which most answers are about.
_FIRST_HORIZON_S = 300.0
_ROUNDING_MARGIN_S = 0.2
_LONGEST_HORIZON_S = 4 * 86_400.0


@dataclass(frozen=True)
class RoadEta:
    """Turnout + off-network legs (straight-line) + shortest travel time on the network."""

    engine: RoadEngine
    fallback: StraightLineEta
    max_snap_m: float = 500.0
    name: str = ROAD_MODEL_NAME

    def __post_init__(self) -> None:
        if not self.max_snap_m > 0:
            raise ValueError("max_snap_m must be positive")

    @property
    def target_s(self) -> float:
        return self.fallback.target_s

    @property
    def shortlist_per_answer(self) -> int:
        # Measured on the demo city (bench_roads city): with 2, like the straight line, most
        # calls for a dense role (volunteers) took the second round; 4 certifies most calls of
        # community police and grid workers in the first and cut the tail by a fifth.
        return 4

    @property
    def fastest_m_per_s(self) -> float:
        """No priced leg is faster than this (metres of straight line per second)."""
        return _PROJECTION_MARGIN * max(self.engine.top_speed_ms, self.fallback.fastest_m_per_s)

    def max_distance_m(self, eta_s: float, setting: Setting) -> float:
        return max(0.0, (eta_s - self.fallback.turnout_s) * self.fastest_m_per_s)

    def parameters(self) -> dict[str, float | str]:
        return {
            "name": self.name,
            "network_id": self.engine.network_id,
            "profile": self.engine.profile,
            "top_speed_kmh": self.engine.top_speed_kmh,
            "max_snap_m": self.max_snap_m,
            **{f"fallback_{k}": v for k, v in self.fallback.parameters().items()},
        }

    def etas_to(
        self,
        lon: float,
        lat: float,
        lons: FloatArray,
        lats: FloatArray,
        setting: Setting,
        *,
        distance_m: FloatArray | None = None,
        need: int | None = None,
    ) -> PricedEtas:
        return self.for_call(lon, lat, setting).etas(lons, lats, distance_m=distance_m, need=need)

    def for_call(self, lon: float, lat: float, setting: Setting) -> RoadCall:
        return RoadCall(self, lon, lat, setting)

    def route(
        self, lon: float, lat: float, responder_lon: float, responder_lat: float
    ) -> FloatArray | None:
        """The road path (lon, lat rows) a responder at the given position takes to the call,
        with the legs to and from the road; None when either position is off the network."""
        return self.routes(lon, lat, np.array([responder_lon]), np.array([responder_lat]))[0]

    def routes(
        self, lon: float, lat: float, lons: FloatArray, lats: FloatArray
    ) -> list[FloatArray | None]:
        """`route` for responders at (lons, lats), from one search per way into the call."""
        engine = self.engine
        lons = np.atleast_1d(np.asarray(lons, dtype=np.float64))
        lats = np.atleast_1d(np.asarray(lats, dtype=np.float64))
        origins = engine.snap_remembered(lons, lats, self.max_snap_m)
        call = engine.snap(np.array([lon]), np.array([lat]), self.max_snap_m)
        paths = engine.routes_to(origins, call, 0)
        return [
            None if path is None else np.vstack([[x, y], path, [lon, lat]])
            for x, y, path in zip(lons.tolist(), lats.tolist(), paths, strict=True)
        ]

    def eta_matrix(
        self,
        origin_lons: FloatArray,
        origin_lats: FloatArray,
        lons: FloatArray,
        lats: FloatArray,
        setting: Setting,
    ) -> PricedEtas:
        lons = np.atleast_1d(np.asarray(lons, dtype=np.float64))
        lats = np.atleast_1d(np.asarray(lats, dtype=np.float64))
        columns = [
            self.etas_to(float(x), float(y), origin_lons, origin_lats, setting)
            for x, y in zip(lons, lats, strict=True)
        ]
        if not columns:
            empty = np.zeros((len(np.atleast_1d(origin_lons)), 0))
            return PricedEtas(empty, empty.astype(np.str_))
        return PricedEtas(
            np.column_stack([c.eta_s for c in columns]),
            np.column_stack([c.priced_by for c in columns]),
        )


class RoadCall:
    """`road_v1`'s pricing of one call: the call joined to the network once, and one reverse
    search from it (every node's seconds to the call) that grows only when an answer needs a
    longer horizon. Responders are priced from that search; the same search bounds how far
    away anyone who reaches the call in a given time can be (`reach_m`)."""

    def __init__(self, model: RoadEta, lon: float, lat: float, setting: Setting) -> None:
        self.model = model
        self.lon, self.lat = lon, lat
        self._setting: Setting = setting
        engine = model.engine
        self._call = engine.snap(np.array([lon]), np.array([lat]), model.max_snap_m)
        self.joined = bool(self._call.joined[0])
        fallback = model.fallback
        # Turnout and the call's own leg between the road and the call: paid by everyone.
        self.fixed_s = fallback.turnout_s + (
            float(fallback.leg_s(self._call.distance_m[:1], setting)[0]) if self.joined else 0.0
        )
        self._to_call: FloatArray | None = None
        self._horizon = 0.0

    @property
    def setting(self) -> Setting:
        return self._setting

    def _search(self, horizon: float) -> FloatArray:
        """Every node's network seconds to the call, exact up to at least `horizon`."""
        if self._to_call is None or horizon > self._horizon:
            engine = self.model.engine
            self._to_call = engine.times_from_nodes(
                engine.entries(self._call, 0), reverse=True, limit=horizon
            )
            self._horizon = horizon
        return self._to_call

    def etas(
        self,
        lons: FloatArray,
        lats: FloatArray,
        *,
        distance_m: FloatArray | None = None,
        need: int | None = None,
    ) -> PricedEtas:
        model, setting = self.model, self._setting
        lons = np.atleast_1d(np.asarray(lons, dtype=np.float64))
        lats = np.atleast_1d(np.asarray(lats, dtype=np.float64))
        distance = geodesic_m(self.lon, self.lat, lons, lats) if distance_m is None else distance_m
        eta = model.fallback.eta_s(distance, setting).astype(np.float64)
        priced_by = np.full(eta.shape, model.fallback.name, dtype=object)
        if not self.joined or len(lons) == 0:
            return PricedEtas(eta, priced_by.astype(np.str_))
        origins = model.engine.snap_remembered(lons, lats, model.max_snap_m)
        joined = origins.joined
        legs = model.fallback.leg_s(np.where(joined, origins.distance_m, 0.0), setting)
        network = self._network_s(origins, legs + self.fixed_s, need)
        eta[joined] = self.fixed_s + legs[joined] + network[joined]
        priced_by[joined] = model.name
        return PricedEtas(eta, priced_by.astype(np.str_))

    def _network_s(self, origins: Snap, before: FloatArray, need: int | None) -> FloatArray:
        """Network seconds to the call; with `need`, a search horizon that grows until the
        `need` fastest are settled (the rest, proven slower, stay inf)."""
        engine = self.model.engine
        joined = origins.joined
        if need is None or need >= int(joined.sum()):
            return engine.network_s(origins, self._call, 0, self._search(np.inf))
        horizon = max(self._horizon, _FIRST_HORIZON_S)
        while True:
            network = engine.network_s(origins, self._call, 0, self._search(horizon))
            if horizon > _LONGEST_HORIZON_S:
                return network
            # A network time within the horizon is exact; any other is above the horizon, so
            # its ETA exceeds the cheapest `before + horizon`. Those settled below that bound
            # (less a margin that keeps ETAs rounded to 0.1 s apart) are the fastest, exactly.
            bound = float(np.min(before[joined])) + horizon - _ROUNDING_MARGIN_S
            settled = joined & (network <= horizon) & (before + network <= bound)
            if int(settled.sum()) >= need:
                return np.where(settled, network, np.inf)
            horizon *= 4

    def reach_m(self, eta_s: float) -> float:
        """Anyone reaching the call within `eta_s` is within this straight-line distance.

        Off the network (farther than `max_snap_m` from a suitable edge) a responder is priced
        by the straight-line model: its reach. On it, the responder joins an edge at a point
        from which the network reaches the call within `eta_s` less turnout, the call's leg
        and its own leg: that point's edge has an end node u the reverse search reaches within
        that budget H (or it is the call's own edge). The responder is then no farther from the
        call than u is, plus the way from u along the edge and off it to the responder — at
        most the edge's length (at the network's top speed) plus `max_snap_m` (at the leg
        speed), together covered within the budget left at u, H - seconds(u)."""
        model = self.model
        fallback = model.fallback
        off_network = fallback.max_distance_m(eta_s, self._setting)
        budget = eta_s - self.fixed_s
        if not self.joined or budget < 0:
            return off_network
        engine = self.model.engine
        to_call = self._search(budget)
        road_speed = _PROJECTION_MARGIN * engine.top_speed_ms
        leg_speed = _PROJECTION_MARGIN * fallback.fastest_m_per_s
        call_x, call_y = engine.to_metric(np.array([self.lon]), np.array([self.lat]))
        reached = np.flatnonzero(to_call <= budget)
        node_m = _PROJECTION_MARGIN * np.hypot(
            engine.node_x[reached] - call_x[0], engine.node_y[reached] - call_y[0]
        )
        beyond_node = self._farthest_m(
            budget - to_call[reached],
            engine.node_reach_m[reached] * _PROJECTION_MARGIN,
            road_speed,
            leg_speed,
        )
        # Along the call's own edge, from the point where the call joins it.
        own_edge = float(self._call.distance_m[0]) + float(
            self._farthest_m(
                np.array([budget]),
                np.array([engine.edge_length_m[self._call.edge[0]] * _PROJECTION_MARGIN]),
                road_speed,
                leg_speed,
            )[0]
        )
        on_network = max(float(np.max(node_m + beyond_node, initial=0.0)), own_edge)
        return max(off_network, on_network)

    def _farthest_m(
        self, seconds: FloatArray, edge_m: FloatArray, road_speed: float, leg_speed: float
    ) -> FloatArray:
        """How far from a node a responder can stand and still spend at most `seconds` along
        one of its edges (at most `edge_m` long, at the network's top speed) and off the road
        (at most `max_snap_m`, at the leg speed): the road first when it is the faster."""
        if road_speed < leg_speed:  # a slow network: the leg is the faster way to cover ground
            off = np.minimum(self.model.max_snap_m, seconds * leg_speed)
            along = np.minimum(edge_m, (seconds - off / leg_speed) * road_speed)
        else:
            along = np.minimum(edge_m, seconds * road_speed)
            off = np.minimum(self.model.max_snap_m, (seconds - along / road_speed) * leg_speed)
        return np.asarray(along + off)
