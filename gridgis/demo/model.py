"""The demo dataset's shape and shared basics: constants, frames, seeded streams, helpers."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry

from gridgis import crs
from gridgis.demo import counties as cty

TOTAL_GRIDS: Final = 2080
POLICE_STATIONS: Final = 103
COMMUNITY_POLICE: Final = 401
PARTY_CADRES: Final = 18_000
PEOPLE_PER_GRID_WORKER: Final = 2_500
COMMUNITY_RADIUS_M: Final = 1_500.0
MODELLED_NOTE: Final = (
    "modelled data, not official: only county outlines and census totals are real"
)

# Towns that host the county government; 芗城 and 龙文 are entirely urban core
# (their 街道), so they have no seat town listed here.
COUNTY_SEAT_TOWNS: Final = frozenset(
    {
        "350604100",  # 石码镇
        "350605100",  # 武安镇
        "350622100",  # 云陵镇
        "350623100",  # 绥安镇
        "350624100",  # 南诏镇
        "350626100",  # 西埔镇
        "350627100",  # 山城镇
        "350628100",  # 小溪镇
        "350629100",  # 华丰镇
    }
)

_STATUS_P: Final = (0.85, 0.05, 0.10)

# Voronoi cells are built in a locally isotropic plane: longitude scaled by
# cos(24.4N) (the middle of Zhangzhou) makes one unit ~111 km on both axes while
# staying an affine map of WGS84, so straight edges remain straight in lon/lat.
_KX: Final = math.cos(math.radians(24.4))
_M_PER_UNIT: Final = 111_000.0
_ON_LINE_DEG: Final = 5e-8
# Clearance that keeps snap-rounding (1e-7 grid) from bending the outline.
_CLEAR_DEG: Final = 3e-7
_CORNER_CHORD_DEG: Final = 3e-3
_SNAP_CHOICES: Final = 4
# Ignore the first metre at a snapped end, where the edge legitimately meets the outline.
_END_RADIUS_DEG: Final = 1e-5

# Modelling knobs per township class.  pop_base/grid_factor make streets and seat
# towns denser (more people, and more but smaller grids per person); near_share and
# sigma_m put that share of grid centres in a cluster around the seat.
_CLASS: Final[Mapping[str, Mapping[str, float]]] = {
    "street": {"pop_base": 3.0, "grid_factor": 1.35, "near_share": 0.0, "sigma_m": 0.0},
    "seat_town": {"pop_base": 3.5, "grid_factor": 1.2, "near_share": 0.55, "sigma_m": 1200},
    "town": {"pop_base": 1.0, "grid_factor": 1.0, "near_share": 0.25, "sigma_m": 700},
    "township": {"pop_base": 0.55, "grid_factor": 0.85, "near_share": 0.15, "sigma_m": 600},
}

_SKILLS: Final[Mapping[str, tuple[tuple[str, ...], tuple[str, ...], int, int]]] = {
    # role: (always, optional pool, min extras, max extras)
    "grid_worker": (
        ("data_collection", "hazard_reporting"),
        ("first_aid", "mediation", "minnan_dialect", "elderly_care"),
        0,
        2,
    ),
    "community_police": (
        ("law_enforcement", "patrol"),
        ("first_aid", "mediation", "traffic_control"),
        0,
        2,
    ),
    "police_unit": (("law_enforcement", "patrol", "traffic_control"), ("first_aid",), 0, 1),
    "party_cadre": (
        ("policy_outreach",),
        ("mediation", "elderly_care", "publicity", "minnan_dialect"),
        0,
        2,
    ),
    "mediator": (
        ("mediation", "legal_advice"),
        ("minnan_dialect", "psychological_support"),
        0,
        2,
    ),
    "volunteer": (
        (),
        (
            "first_aid",
            "patrol",
            "elderly_care",
            "publicity",
            "logistics",
            "fire_safety",
            "flood_response",
            "minnan_dialect",
            "translation",
        ),
        1,
        3,
    ),
}

ProgressFn = Callable[[str, int, int], None]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
GeomArray = npt.NDArray[np.object_]

_AREA_COLUMNS: Final = ("code", "name", "level", "parent_code", "kind", "population")
_FACILITY_COLUMNS: Final = ("code", "name", "type", "area_code", "serves")
# The responder table as the files and the loader spell it, column by column.
RESPONDER_COLUMNS: Final = (
    "ref",
    "name",
    "role",
    "skills",
    "status",
    "home_lon",
    "home_lat",
    "home_grid_code",
    "station_code",
)
_ASSIGNMENT_COLUMNS: Final = ("responder_ref", "grid_code", "duty")


@dataclass(frozen=True)
class DemoData:
    """The modelled dataset; every frame is in EPSG:4326."""

    seed: int
    areas: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    responders: pd.DataFrame
    assignments: pd.DataFrame


def _rng(seed: int, stream: str) -> np.random.Generator:
    # One independent stream per purpose/entity: changing e.g. the volunteer count
    # leaves every other draw (and so every geometry) unchanged.
    return np.random.default_rng([seed, zlib.crc32(stream.encode("utf-8"))])


def _township_kind(code: str, name: str) -> str:
    # Digits 7-9 of a division code: 0xx are 街道, 1xx 镇, 2xx 乡.
    if code[6] == "0":
        return "street"
    return "township" if name.endswith("乡") else "town"


def _township_class(code: str, kind: str) -> str:
    if kind == "street":
        return "street"
    return "seat_town" if code in COUNTY_SEAT_TOWNS else kind


def _short_name(name: str) -> str:
    for suffix in ("畲族乡", "街道", "镇", "乡"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _scaled(xy: FloatArray) -> FloatArray:
    out: FloatArray = xy * np.array([_KX, 1.0])
    return out


def _round7(values: FloatArray) -> FloatArray:
    return np.round(values, cty.DECIMALS)


def _contains_xy(geom: BaseGeometry, xy: FloatArray) -> npt.NDArray[np.bool_]:
    return np.asarray(shapely.contains_xy(geom, xy[:, 0], xy[:, 1]), dtype=bool)


@dataclass
class _Township:
    code: str
    name: str
    county: str
    kind: str
    klass: str
    seat: FloatArray  # lon, lat
    geom: BaseGeometry = field(default_factory=MultiPolygon)
    population: int = 0
    n_grids: int = 0
    generators: FloatArray = field(default_factory=lambda: np.zeros((0, 2)))


@dataclass
class _Grid:
    township: _Township
    centre: FloatArray
    geom: MultiPolygon
    code: str = ""
    name: str = ""
    kind: str = "village"
    population: int = 0


def _areas_frame(records: list[dict[str, Any]], geoms: list[BaseGeometry]) -> gpd.GeoDataFrame:
    frame = pd.DataFrame({c: [r[c] for r in records] for c in _AREA_COLUMNS})
    return _normalise_areas(gpd.GeoDataFrame(frame, geometry=list(geoms), crs=crs.WGS84))


def _normalise_areas(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = gpd.GeoDataFrame(
        {
            "code": frame["code"].astype("str"),
            "name": frame["name"].astype("str"),
            "level": frame["level"].astype("str"),
            # object dtype so the city's missing parent is None, not NaN
            "parent_code": pd.Series(
                [None if (v is None or v != v) else str(v) for v in frame["parent_code"]],
                dtype=object,
            ),
            "kind": frame["kind"].astype("str"),
            "population": frame["population"].astype(np.int64),
        },
        geometry=[cty.as_multipolygon(g) for g in frame.geometry],
        crs=crs.WGS84,
    )
    return out.reset_index(drop=True)


def _normalise_facilities(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    data = {c: frame[c].astype("str") for c in _FACILITY_COLUMNS}
    return gpd.GeoDataFrame(data, geometry=list(frame.geometry), crs=crs.WGS84).reset_index(
        drop=True
    )


def _normalise_responders(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            c: (
                frame[c].astype(np.float64)
                if c in ("home_lon", "home_lat")
                else frame[c].astype("str")
            )
            for c in RESPONDER_COLUMNS
        }
    )
    return out.reset_index(drop=True)


def _normalise_assignments(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({c: frame[c].astype("str") for c in _ASSIGNMENT_COLUMNS}).reset_index(
        drop=True
    )
