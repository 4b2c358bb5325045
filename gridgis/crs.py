"""Coordinate reference systems: WGS84 <-> GCJ-02 <-> BD-09 offsets and the metric projection."""

from __future__ import annotations

import functools
import math
from typing import Any, Final, TypeVar, cast

import numpy as np
import numpy.typing as npt
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from gridgis.vocabulary import INPUT_CRS, CrsName

__all__ = [
    "CRS_NAMES",
    "METRIC_EPSG",
    "WGS84",
    "CrsName",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "from_metric",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "geodesic_distance_m",
    "geometry_from_metric",
    "geometry_to_metric",
    "in_china_bbox",
    "metric_transformer",
    "to_metric",
    "to_wgs84",
    "transform_geometry_to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

WGS84: Final = 4326
# CGCS2000 / 3-degree Gauss-Kruger CM 117E: Zhangzhou spans 116.9E-118.3E, so the
# projection's scale error stays well under 1e-4 and areas in m² are trustworthy.
METRIC_EPSG: Final = 4548

CRS_NAMES: Final[tuple[str, ...]] = INPUT_CRS

FloatArray = npt.NDArray[np.float64]
# A coordinate is either a python float or a numpy array; each public function
# returns the same kind it was given.
Coord = TypeVar("Coord", float, FloatArray)

# Krasovsky 1940 ellipsoid parameters used by the published GCJ-02 algorithm.
_GCJ_A: Final = 6378245.0
_GCJ_EE: Final = 0.00669342162296594323
# BD-09 rotates/scales GCJ-02 with this constant (pi * 3000 / 180) in its public formula.
_BD_X_PI: Final = math.pi * 3000.0 / 180.0

# Rough mainland-China box used by every public GCJ-02 implementation: outside it the
# obfuscation is not applied, so e.g. Amap returns plain WGS84 abroad.  The box is
# coarse (it includes parts of neighbouring countries); that is the convention.
_CHINA_LON: Final = (72.004, 137.8347)
_CHINA_LAT: Final = (0.8293, 55.8271)

_INVERSE_TOL_DEG: Final = 1e-9
_INVERSE_MAX_ITER: Final = 30


def _as_arrays(lon: Any, lat: Any) -> tuple[FloatArray, FloatArray, bool]:
    """Return float64 arrays and whether both inputs were scalars."""
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    scalar = x.ndim == 0 and y.ndim == 0
    x, y = np.broadcast_arrays(x, y)
    return x, y, scalar


def _out(x: FloatArray, y: FloatArray, scalar: bool) -> tuple[Any, Any]:
    """Return python floats for scalar input, arrays otherwise."""
    if scalar:
        return float(x), float(y)
    return x, y


def in_china_bbox(lon: Any, lat: Any) -> npt.NDArray[np.bool_]:
    """Return a mask of points inside the rough box where the GCJ-02 offset applies."""
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    return (x >= _CHINA_LON[0]) & (x <= _CHINA_LON[1]) & (y >= _CHINA_LAT[0]) & (y <= _CHINA_LAT[1])


def _gcj_delta(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 minus WGS84 offset in degrees, evaluated at a WGS84 position (public formula)."""
    x = lon - 105.0
    y = lat - 35.0
    pi = math.pi
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    dlat += common
    dlat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    dlon += common
    dlon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0

    rad_lat = lat / 180.0 * pi
    magic = 1.0 - _GCJ_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrt_magic) * pi)
    dlon = (dlon * 180.0) / (_GCJ_A / sqrt_magic * np.cos(rad_lat) * pi)
    inside = in_china_bbox(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def _wgs_to_gcj(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    dx, dy = _gcj_delta(x, y)
    return x + dx, y + dy


def _gcj_to_wgs(gx: FloatArray, gy: FloatArray) -> tuple[FloatArray, FloatArray]:
    # The forward offset has no closed-form inverse; fixed-point iteration on
    # w <- w - (f(w) - g) converges quickly because the offset varies slowly
    # (its derivative is ~1e-5), so a handful of steps reach 1e-9 degrees.
    wx, wy = gx.copy(), gy.copy()
    for _ in range(_INVERSE_MAX_ITER):
        fx, fy = _wgs_to_gcj(wx, wy)
        ex, ey = fx - gx, fy - gy
        wx = wx - ex
        wy = wy - ey
        if ex.size == 0 or max(float(np.max(np.abs(ex))), float(np.max(np.abs(ey)))) < (
            _INVERSE_TOL_DEG
        ):
            break
    return wx, wy


def _gcj_to_bd(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _BD_X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_to_gcj(bx: FloatArray, by: FloatArray) -> tuple[FloatArray, FloatArray]:
    # Start from the usual closed-form approximate inverse, then polish it with the
    # same fixed-point step as GCJ-02 so round trips are exact to ~1e-9 degrees.
    x = bx - 0.0065
    y = by - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_X_PI)
    gx, gy = z * np.cos(theta), z * np.sin(theta)
    for _ in range(_INVERSE_MAX_ITER):
        fx, fy = _gcj_to_bd(gx, gy)
        ex, ey = fx - bx, fy - by
        gx = gx - ex
        gy = gy - ey
        if ex.size == 0 or max(float(np.max(np.abs(ex))), float(np.max(np.abs(ey)))) < (
            _INVERSE_TOL_DEG
        ):
            break
    return gx, gy


def wgs84_to_gcj02(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """Convert WGS84 to GCJ-02 (identity outside the mainland-China box)."""
    x, y, scalar = _as_arrays(lon, lat)
    return cast("tuple[Coord, Coord]", _out(*_wgs_to_gcj(x, y), scalar))


def gcj02_to_wgs84(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """Convert GCJ-02 to WGS84 by iterating the forward formula to < 1e-7 degrees."""
    x, y, scalar = _as_arrays(lon, lat)
    return cast("tuple[Coord, Coord]", _out(*_gcj_to_wgs(x, y), scalar))


def gcj02_to_bd09(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """Convert GCJ-02 to Baidu BD-09."""
    x, y, scalar = _as_arrays(lon, lat)
    return cast("tuple[Coord, Coord]", _out(*_gcj_to_bd(x, y), scalar))


def bd09_to_gcj02(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """Convert Baidu BD-09 to GCJ-02."""
    x, y, scalar = _as_arrays(lon, lat)
    return cast("tuple[Coord, Coord]", _out(*_bd_to_gcj(x, y), scalar))


def wgs84_to_bd09(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """Convert WGS84 to Baidu BD-09 (via GCJ-02)."""
    x, y, scalar = _as_arrays(lon, lat)
    return cast("tuple[Coord, Coord]", _out(*_gcj_to_bd(*_wgs_to_gcj(x, y)), scalar))


def bd09_to_wgs84(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """Convert Baidu BD-09 to WGS84 (via GCJ-02)."""
    x, y, scalar = _as_arrays(lon, lat)
    return cast("tuple[Coord, Coord]", _out(*_gcj_to_wgs(*_bd_to_gcj(x, y)), scalar))


def _check_crs(crs: str) -> None:
    if crs not in CRS_NAMES:
        raise ValueError(f"unknown crs {crs!r}; expected one of {', '.join(CRS_NAMES)}")


def to_wgs84(lon: Coord, lat: Coord, crs: CrsName) -> tuple[Coord, Coord]:
    """Convert coordinates given in ``crs`` to WGS84."""
    _check_crs(crs)
    x, y, scalar = _as_arrays(lon, lat)
    if crs == "gcj02":
        x, y = _gcj_to_wgs(x, y)
    elif crs == "bd09":
        x, y = _gcj_to_wgs(*_bd_to_gcj(x, y))
    return cast("tuple[Coord, Coord]", _out(x, y, scalar))


def from_wgs84(lon: Coord, lat: Coord, crs: CrsName) -> tuple[Coord, Coord]:
    """Convert WGS84 coordinates to ``crs``."""
    _check_crs(crs)
    x, y, scalar = _as_arrays(lon, lat)
    if crs == "gcj02":
        x, y = _wgs_to_gcj(x, y)
    elif crs == "bd09":
        x, y = _gcj_to_bd(*_wgs_to_gcj(x, y))
    return cast("tuple[Coord, Coord]", _out(x, y, scalar))


GeomT = TypeVar("GeomT", bound=BaseGeometry)


def transform_geometry_to_wgs84(geom: GeomT, crs: CrsName) -> GeomT:
    """Convert every vertex of a shapely geometry from ``crs`` to WGS84."""
    _check_crs(crs)
    if crs == "wgs84":
        return geom

    def _fn(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        return to_wgs84(x, y, crs)

    out: GeomT = shapely.transform(geom, cast(Any, _fn), interleaved=False)
    return out


@functools.cache
def metric_transformer(inverse: bool = False) -> pyproj.Transformer:
    """Return the cached WGS84 -> EPSG:4548 transformer (or its inverse)."""
    src, dst = (METRIC_EPSG, WGS84) if inverse else (WGS84, METRIC_EPSG)
    return pyproj.Transformer.from_crs(src, dst, always_xy=True)


def to_metric(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """Project WGS84 lon/lat to EPSG:4548 easting/northing in metres."""
    x, y, scalar = _as_arrays(lon, lat)
    ex, ny = metric_transformer().transform(x, y)
    return cast("tuple[Coord, Coord]", _out(np.asarray(ex), np.asarray(ny), scalar))


def from_metric(x: Coord, y: Coord) -> tuple[Coord, Coord]:
    """Unproject EPSG:4548 easting/northing to WGS84 lon/lat."""
    ax, ay, scalar = _as_arrays(x, y)
    lon, lat = metric_transformer(inverse=True).transform(ax, ay)
    return cast("tuple[Coord, Coord]", _out(np.asarray(lon), np.asarray(lat), scalar))


def geometry_to_metric(geom: GeomT) -> GeomT:
    """Project a WGS84 shapely geometry to EPSG:4548."""
    out: GeomT = shapely.transform(geom, cast(Any, to_metric), interleaved=False)
    return out


def geometry_from_metric(geom: GeomT) -> GeomT:
    """Unproject an EPSG:4548 shapely geometry to WGS84."""
    out: GeomT = shapely.transform(geom, cast(Any, from_metric), interleaved=False)
    return out


@functools.cache
def _geod() -> pyproj.Geod:
    return pyproj.Geod(ellps="WGS84")


def geodesic_distance_m(lon1: Coord, lat1: Coord, lon2: Coord, lat2: Coord) -> Coord:
    """Return the WGS84 ellipsoidal distance in metres between two points (or arrays)."""
    x1, y1, s1 = _as_arrays(lon1, lat1)
    x2, y2, s2 = _as_arrays(lon2, lat2)
    x1, y1, x2, y2 = np.broadcast_arrays(x1, y1, x2, y2)
    _, _, dist = _geod().inv(x1, y1, x2, y2)
    d = np.asarray(dist, dtype=np.float64)
    return cast(Coord, float(d) if s1 and s2 else d)
