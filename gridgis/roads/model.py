"""`road_v1`: ETAs by travel time on the active road network, with a straight-line fallback.

A position joins the network at the nearest point of a suitable edge (`RoadEngine.snap`);
the legs between the positions and the network are priced by the straight-line model (without
its turnout, which is added once). A position farther than `max_snap_m` from every suitable
edge is priced by the straight-line model for that answer, and each result names the model
that priced it. The straight-line distance a road ETA allows is bounded by the fastest speed
anywhere in the answer (the network's top speed or the straight-line model's), so dispatch's
KNN shortlist certification stays exact for this model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridgis.dispatch.eta import FloatArray, PricedEtas, Setting, StraightLineEta, geodesic_m
from gridgis.roads.engine import RoadEngine, Snap

ROAD_MODEL_NAME = "road_v1"
# The tmerc projection used to prorate edges and measure snaps errs far below this.
_PROJECTION_MARGIN = 1.01
_FIRST_HORIZON_S = 600.0
_ROUNDING_MARGIN_S = 0.2


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
        lons = np.atleast_1d(np.asarray(lons, dtype=np.float64))
        lats = np.atleast_1d(np.asarray(lats, dtype=np.float64))
        distance = geodesic_m(lon, lat, lons, lats) if distance_m is None else distance_m
        eta = self.fallback.eta_s(distance, setting).astype(np.float64)
        priced_by = np.full(eta.shape, self.fallback.name, dtype=object)
        call = self.engine.snap(np.array([lon]), np.array([lat]), self.max_snap_m)
        if not call.joined[0] or len(lons) == 0:
            return PricedEtas(eta, priced_by.astype(np.str_))
        origins = self.engine.snap(lons, lats, self.max_snap_m)
        joined = origins.joined
        fixed = self.fallback.turnout_s + self.fallback.leg_s(call.distance_m[0], setting)
        legs = self.fallback.leg_s(np.where(joined, origins.distance_m, 0.0), setting)
        network = self._network_s(origins, call, legs + fixed, need)
        eta[joined] = fixed + legs[joined] + network[joined]
        priced_by[joined] = self.name
        return PricedEtas(eta, priced_by.astype(np.str_))

    def _network_s(
        self, origins: Snap, call: Snap, before: FloatArray, need: int | None
    ) -> FloatArray:
        """Network seconds to the call; with `need`, a search horizon that doubles until the
        `need` fastest are settled (the rest, proven slower, stay inf)."""
        joined = origins.joined
        if need is None or need >= int(joined.sum()):
            return self.engine.travel_s(origins, call)[:, 0]
        horizon = _FIRST_HORIZON_S
        while True:
            network = self.engine.travel_s(origins, call, limit=horizon)[:, 0]
            # A network time within the horizon is exact; any other is above the horizon, so
            # its ETA exceeds the cheapest `before + horizon`. Those settled below that bound
            # (less a margin that keeps ETAs rounded to 0.1 s apart) are the fastest, exactly.
            bound = float(np.min(before[joined])) + horizon - _ROUNDING_MARGIN_S
            settled = joined & (network <= horizon) & (before + network <= bound)
            if int(settled.sum()) >= need:
                return np.where(settled, network, np.inf)
            horizon *= 4
            if horizon > 86_400 * 4:
                return self.engine.travel_s(origins, call)[:, 0]

    def route(
        self, lon: float, lat: float, responder_lon: float, responder_lat: float
    ) -> FloatArray | None:
        """The road path (lon, lat rows) a responder at the given position takes to the call,
        with the legs to and from the road; None when either position is off the network."""
        engine = self.engine
        origin = engine.snap(np.array([responder_lon]), np.array([responder_lat]), self.max_snap_m)
        call = engine.snap(np.array([lon]), np.array([lat]), self.max_snap_m)
        path = engine.route(origin, 0, call, 0)
        if path is None:
            return None
        return np.vstack([[responder_lon, responder_lat], path, [lon, lat]])

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
