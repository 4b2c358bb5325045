"""The one ETA model of gridgis: straight-line distance x circuity / speed + turnout time.

Every ETA in the project (dispatch ranking, coverage runs, maps) comes from an `EtaModel`
built by `eta_model_from_settings`. A road-network model can replace `StraightLineEta` by
implementing the same protocol; callers never see the difference.

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

from gridgis.settings import Settings

Setting = Literal["urban", "rural"]
FloatArray = npt.NDArray[np.float64]

URBAN_KINDS = frozenset({"community", "street"})


def setting_of_kind(kind: str | None) -> Setting:
    """Urban for community (社区) grids and street (街道) townships, rural otherwise."""
    return "urban" if kind in URBAN_KINDS else "rural"


class EtaModel(Protocol):
    """What dispatch and coverage need from an ETA model."""

    @property
    def name(self) -> str:
        """A stable identifier stored with coverage runs."""
        ...

    @property
    def target_s(self) -> float:
        """The response-time target `within_target` compares against."""
        ...

    def eta_s(self, distance_m: FloatArray | float, setting: Setting) -> FloatArray:
        """Seconds to reach the call from a responder `distance_m` away (straight line)."""
        ...

    def max_distance_m(self, eta_s: float, setting: Setting) -> float:
        """The largest straight-line distance from which the call can be reached in `eta_s`.

        Must never be smaller than the truth: callers use it to prune candidates."""
        ...

    def parameters(self) -> dict[str, float | str]:
        """Everything needed to reproduce the model's answers."""
        ...


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

    def parameters(self) -> dict[str, float | str]:
        return asdict(self)


def eta_model_from_settings(settings: Settings) -> EtaModel:
    """The project's ETA model, parameterised from GRIDGIS_ETA_* settings."""
    return StraightLineEta(
        urban_circuity=settings.eta_urban_circuity,
        rural_circuity=settings.eta_rural_circuity,
        urban_speed_kmh=settings.eta_urban_speed_kmh,
        rural_speed_kmh=settings.eta_rural_speed_kmh,
        turnout_s=settings.eta_turnout_s,
        target_s=settings.eta_target_s,
    )
