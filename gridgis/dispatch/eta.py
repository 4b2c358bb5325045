"""ETA models: what dispatch asks (positions in, seconds out) and the straight-line model.

Every ETA in the project comes from an `EtaModel`: it prices responders' positions to a call
(one-to-many) or a set of origins to a set of destinations (many-to-many), and says which
model priced each result. `StraightLineEta` (distance x circuity / speed + turnout) is one
implementation; `gridgis.roads.model.RoadEta` (`road_v1`, travel time on a road network) is
another, falling back to the straight-line model for positions far from any road. Coverage
runs use the straight-line model's distance form (`DistanceEtaModel`) on cell grids.

Defaults and their sources
- Circuity (road distance / straight-line distance): urban 1.3, rural 1.4. Studies of urban
  road networks put the detour index at about 1.2-1.4 (e.g. Boscoe, Henry & Zdeb 2012,
  "A nationwide comparison of driving distance versus straight-line distance", Professional
  Geographer 64(2), national mean about 1.4; urban grids lower). Rural roads in Zhangzhou's hills
  wind more, so the rural default sits at the top of the range.
- Speed: urban 25 km/h, the lower end of the 25-34 km/h peak-hour speeds reported for Chinese
  cities in the quarterly city traffic reports of Chinese navigation providers (a conservative,
  peak-hour choice); rural 40 km/h for county and township roads (a modelling assumption).
- Turnout: 60 s from dispatch to moving (a modelling assumption; set it from local data).
- Target: 300 s, Zhangzhou's "on scene within 5 minutes" goal for 110 calls in the urban area.
All are settings (GRIDGIS_ETA_*), recorded with every coverage run that uses them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt
from pyproj import Geod

from gridgis.settings import Settings

Setting = Literal["urban", "rural"]
FloatArray = npt.NDArray[np.float64]

URBAN_KINDS = frozenset({"community", "street"})
_GEOD = Geod(ellps="WGS84")


def setting_of_kind(kind: str | None) -> Setting:
    """Urban for community (社区) grids and street (街道) townships, rural otherwise."""
    return "urban" if kind in URBAN_KINDS else "rural"


@dataclass(frozen=True)
class PricedEtas:
    """Seconds per result (a vector one-to-many, a matrix origins x destinations many-to-many)
    and the name of the model that priced each."""

    eta_s: FloatArray
    priced_by: npt.NDArray[np.str_]


class CallEtas(Protocol):
    """A model's pricing of one call: what dispatch asks while ranking responders for it.

    Made once per call (`EtaModel.for_call`), so that work shared by every responder — for a
    road model, joining the call to the network and searching the network from it — is done
    once across the rounds of a shortlist."""

    @property
    def setting(self) -> Setting: ...

    def etas(
        self,
        lons: FloatArray,
        lats: FloatArray,
        *,
        distance_m: FloatArray | None = None,
        need: int | None = None,
    ) -> PricedEtas:
        """Seconds for responders at (lons, lats) to reach the call (as `EtaModel.etas_to`)."""
        ...

    def reach_m(self, eta_s: float) -> float:
        """The largest straight-line distance from which this call can be reached in `eta_s`.

        Must never be smaller than the truth: dispatch uses it to certify a shortlist."""
        ...


class EtaModel(Protocol):
    """What dispatch needs from an ETA model: positions in, seconds out."""

    @property
    def name(self) -> str:
        """A stable identifier stored with answers and coverage runs."""
        ...

    @property
    def target_s(self) -> float:
        """The response-time target `within_target` compares against."""
        ...

    @property
    def shortlist_per_answer(self) -> int:
        """Candidates per wanted answer that dispatch's first KNN round reads. A model that
        ranks by straight-line distance certifies its answer from a short list; one that
        departs from it (by road) needs a longer one, or most calls take a second round."""
        ...

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
        """Seconds for responders at (lons, lats) to reach the call at (lon, lat).

        `distance_m`, when given, is each responder's geodesic distance to the call. With
        `need`, a model may leave results it proves slower than the `need` fastest as inf."""
        ...

    def eta_matrix(
        self,
        origin_lons: FloatArray,
        origin_lats: FloatArray,
        lons: FloatArray,
        lats: FloatArray,
        setting: Setting,
    ) -> PricedEtas:
        """Seconds from every origin to every destination (origins x destinations)."""
        ...

    def max_distance_m(self, eta_s: float, setting: Setting) -> float:
        """The largest straight-line distance from which the call can be reached in `eta_s`.

        Must never be smaller than the truth: callers use it to prune candidates."""
        ...

    def for_call(self, lon: float, lat: float, setting: Setting) -> CallEtas:
        """The model's pricing of one call at (lon, lat) in `setting`."""
        ...

    def parameters(self) -> dict[str, float | str]:
        """Everything needed to reproduce the model's answers."""
        ...


class DistanceEtaModel(Protocol):
    """The straight-line form coverage runs use: seconds from a straight-line distance."""

    @property
    def name(self) -> str: ...

    @property
    def target_s(self) -> float: ...

    def eta_s(self, distance_m: FloatArray | float, setting: Setting) -> FloatArray:
        """Seconds to reach the call from a responder `distance_m` away (straight line)."""
        ...

    def max_distance_m(self, eta_s: float, setting: Setting) -> float: ...

    def parameters(self) -> dict[str, float | str]: ...


def geodesic_m(lon: float, lat: float, lons: FloatArray, lats: FloatArray) -> FloatArray:
    """Metres on the WGS84 ellipsoid from one point to many."""
    lons = np.asarray(lons, dtype=np.float64)
    lats = np.asarray(lats, dtype=np.float64)
    _, _, metres = _GEOD.inv(np.full(lons.shape, lon), np.full(lats.shape, lat), lons, lats)
    return np.asarray(metres, dtype=np.float64)


@dataclass(frozen=True)
class StraightLineEta:
    """ETA = turnout + distance x circuity / speed, with urban and rural parameters."""

    urban_circuity: float = 1.3
    rural_circuity: float = 1.4
    urban_speed_kmh: float = 25.0
    rural_speed_kmh: float = 40.0
    turnout_s: float = 60.0
    target_s: float = 300.0
    name: str = "straight_line_v1"

    def __post_init__(self) -> None:
        for field_name in ("urban_circuity", "rural_circuity"):
            if getattr(self, field_name) < 1.0:
                raise ValueError(f"{field_name} must be >= 1 (roads are never shorter)")
        for field_name in ("urban_speed_kmh", "rural_speed_kmh", "target_s"):
            if getattr(self, field_name) <= 0:
                raise ValueError(f"{field_name} must be positive")
        if self.turnout_s < 0:
            raise ValueError("turnout_s must be >= 0")

    def _metres_per_second(self, setting: Setting) -> float:
        """Straight-line metres covered per second of travel."""
        if setting == "urban":
            return self.urban_speed_kmh / 3.6 / self.urban_circuity
        return self.rural_speed_kmh / 3.6 / self.rural_circuity

    def eta_s(self, distance_m: FloatArray | float, setting: Setting) -> FloatArray:
        distance = np.asarray(distance_m, dtype=np.float64)
        return np.asarray(self.turnout_s + distance / self._metres_per_second(setting))

    def max_distance_m(self, eta_s: float, setting: Setting) -> float:
        return max(0.0, (eta_s - self.turnout_s) * self._metres_per_second(setting))

    def leg_s(self, distance_m: FloatArray, setting: Setting) -> FloatArray:
        """Seconds of travel for a straight-line leg (no turnout): how a road model prices
        the way between a position and the road it joins."""
        return np.asarray(
            np.asarray(distance_m, dtype=np.float64) / self._metres_per_second(setting)
        )

    @property
    def shortlist_per_answer(self) -> int:
        return 2

    @property
    def fastest_m_per_s(self) -> float:
        """Straight-line metres per second in the faster setting."""
        return max(self._metres_per_second("urban"), self._metres_per_second("rural"))

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
        distance = geodesic_m(lon, lat, lons, lats) if distance_m is None else distance_m
        eta = self.eta_s(distance, setting)
        return PricedEtas(eta, np.full(eta.shape, self.name))

    def eta_matrix(
        self,
        origin_lons: FloatArray,
        origin_lats: FloatArray,
        lons: FloatArray,
        lats: FloatArray,
        setting: Setting,
    ) -> PricedEtas:
        origin_lons = np.asarray(origin_lons, dtype=np.float64)
        origin_lats = np.asarray(origin_lats, dtype=np.float64)
        distance = np.vstack(
            [
                geodesic_m(float(x), float(y), lons, lats)
                for x, y in zip(origin_lons, origin_lats, strict=True)
            ]
        ).reshape(len(origin_lons), len(np.atleast_1d(lons)))
        eta = self.eta_s(distance, setting)
        return PricedEtas(eta, np.full(eta.shape, self.name))

    def for_call(self, lon: float, lat: float, setting: Setting) -> StraightLineCall:
        return StraightLineCall(self, lon, lat, setting)

    def parameters(self) -> dict[str, float | str]:
        return asdict(self)


@dataclass(frozen=True)
class StraightLineCall:
    """The straight-line model's pricing of one call: nothing is shared between responders."""

    model: StraightLineEta
    lon: float
    lat: float
    setting: Setting

    def etas(
        self,
        lons: FloatArray,
        lats: FloatArray,
        *,
        distance_m: FloatArray | None = None,
        need: int | None = None,
    ) -> PricedEtas:
        return self.model.etas_to(
            self.lon, self.lat, lons, lats, self.setting, distance_m=distance_m, need=need
        )

    def reach_m(self, eta_s: float) -> float:
        return self.model.max_distance_m(eta_s, self.setting)


def eta_model_from_settings(settings: Settings) -> StraightLineEta:
    """The project's ETA model, parameterised from GRIDGIS_ETA_* settings."""
    return StraightLineEta(
        urban_circuity=settings.eta_urban_circuity,
        rural_circuity=settings.eta_rural_circuity,
        urban_speed_kmh=settings.eta_urban_speed_kmh,
        rural_speed_kmh=settings.eta_rural_speed_kmh,
        turnout_s=settings.eta_turnout_s,
        target_s=settings.eta_target_s,
    )
