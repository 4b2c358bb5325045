"""Tests for gridgis.crs: GCJ-02/BD-09 offsets, their inverses and the metric projection."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from gridgis import crs

# A box that is almost entirely mainland China (keeps clear of the coarse
# offset box's edges, where the offset switches on and off).
china_lon = st.floats(min_value=98.0, max_value=122.0, allow_nan=False)
china_lat = st.floats(min_value=21.0, max_value=41.0, allow_nan=False)

ZHANGZHOU = (117.6500, 24.5100)


@settings(max_examples=200, deadline=None)
@given(china_lon, china_lat)
def test_gcj02_round_trip_within_2m(lon: float, lat: float) -> None:
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    back = crs.gcj02_to_wgs84(glon, glat)
    assert crs.geodesic_distance_m(lon, lat, *back) < 2.0
    # The iterative inverse is in fact far tighter than the 2 m requirement.
    assert abs(back[0] - lon) < 1e-7 and abs(back[1] - lat) < 1e-7


@settings(max_examples=200, deadline=None)
@given(china_lon, china_lat)
def test_bd09_round_trip_within_2m(lon: float, lat: float) -> None:
    blon, blat = crs.wgs84_to_bd09(lon, lat)
    back = crs.bd09_to_wgs84(blon, blat)
    assert crs.geodesic_distance_m(lon, lat, *back) < 2.0


@settings(max_examples=100, deadline=None)
@given(china_lon, china_lat)
def test_to_and_from_wgs84_are_inverse(lon: float, lat: float) -> None:
    for name in ("wgs84", "gcj02", "bd09"):
        x, y = crs.from_wgs84(lon, lat, name)
        back = crs.to_wgs84(x, y, name)
        assert crs.geodesic_distance_m(lon, lat, *back) < 2.0


def test_offset_magnitude_in_zhangzhou() -> None:
    lon, lat = ZHANGZHOU
    gcj = crs.wgs84_to_gcj02(lon, lat)
    bd = crs.wgs84_to_bd09(lon, lat)
    gcj_m = crs.geodesic_distance_m(lon, lat, *gcj)
    bd_m = crs.geodesic_distance_m(lon, lat, *bd)
    # GCJ-02 shifts Zhangzhou a few hundred metres (to the east-south-east);
    # BD-09 adds roughly another kilometre on top.
    assert 300.0 < gcj_m < 900.0
    assert gcj[0] > lon and gcj[1] < lat
    assert 900.0 < bd_m < 2500.0


def test_no_offset_outside_china() -> None:
    for lon, lat in ((-0.1276, 51.5072), (151.2093, -33.8688)):
        assert crs.wgs84_to_gcj02(lon, lat) == (lon, lat)
        assert crs.gcj02_to_wgs84(lon, lat) == (lon, lat)
    assert not crs.in_china_bbox(-0.1276, 51.5072)
    assert crs.in_china_bbox(*ZHANGZHOU)


def test_scalars_give_floats_and_arrays_give_arrays() -> None:
    x, y = crs.wgs84_to_gcj02(*ZHANGZHOU)
    assert isinstance(x, float) and isinstance(y, float)
    lons = np.array([117.6, 117.7, 117.8])
    lats = np.array([24.4, 24.5, 24.6])
    ax, ay = crs.wgs84_to_gcj02(lons, lats)
    assert isinstance(ax, np.ndarray) and ax.shape == (3,) and ay.shape == (3,)
    # The vectorised result matches converting element by element.
    for i in range(3):
        sx, sy = crs.wgs84_to_gcj02(float(lons[i]), float(lats[i]))
        assert ax[i] == pytest.approx(sx, abs=1e-12)
        assert ay[i] == pytest.approx(sy, abs=1e-12)
    bx, by = crs.to_wgs84(ax, ay, "gcj02")
    np.testing.assert_allclose(bx, lons, atol=1e-7)
    np.testing.assert_allclose(by, lats, atol=1e-7)
    empty = crs.wgs84_to_bd09(np.array([]), np.array([]))
    assert empty[0].shape == (0,)


def test_invalid_crs_name_raises() -> None:
    with pytest.raises(ValueError, match="unknown crs"):
        crs.to_wgs84(117.0, 24.0, "epsg4326")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown crs"):
        crs.from_wgs84(117.0, 24.0, "GCJ02")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown crs"):
        crs.transform_geometry_to_wgs84(shapely.Point(117, 24), "baidu")  # type: ignore[arg-type]


def test_transform_geometry_matches_point_conversion() -> None:
    ring = [(117.6, 24.5), (117.7, 24.5), (117.7, 24.6), (117.6, 24.5)]
    poly = shapely.Polygon(ring)
    out = crs.transform_geometry_to_wgs84(poly, "gcj02")
    expected = [crs.gcj02_to_wgs84(x, y) for x, y in ring]
    np.testing.assert_allclose(np.asarray(out.exterior.coords), expected, atol=1e-12)
    assert crs.transform_geometry_to_wgs84(poly, "wgs84") is poly
    bd = crs.transform_geometry_to_wgs84(shapely.Point(117.66, 24.52), "bd09")
    assert bd.x == pytest.approx(crs.bd09_to_wgs84(117.66, 24.52)[0])


def test_metric_projection() -> None:
    # EPSG:4548 is a transverse Mercator on 117E with a 500 km false easting.
    x, y = crs.to_metric(117.0, 24.5)
    assert x == pytest.approx(500_000.0, abs=1e-6)
    assert 2_700_000 < y < 2_720_000
    lon, lat = crs.from_metric(x, y)
    assert lon == pytest.approx(117.0, abs=1e-9) and lat == pytest.approx(24.5, abs=1e-9)
    assert crs.metric_transformer() is crs.metric_transformer()
    square = shapely.Polygon([(117.6, 24.5), (117.61, 24.5), (117.61, 24.51), (117.6, 24.51)])
    area = crs.geometry_to_metric(square).area
    # ~1,013 m east-west by ~1,108 m north-south at 24.5N.
    assert area == pytest.approx(1013.3 * 1107.7, rel=5e-3)
    back = crs.geometry_from_metric(crs.geometry_to_metric(square))
    assert shapely.equals_exact(back, square, tolerance=1e-9)


def test_geodesic_distance() -> None:
    # One degree of latitude at 24.5N is ~110.8 km on the WGS84 ellipsoid.
    assert crs.geodesic_distance_m(117.0, 24.0, 117.0, 25.0) == pytest.approx(110_800, rel=2e-3)
    lons, lats = np.array([117.0, 117.5]), np.array([24.0, 24.0])
    d = crs.geodesic_distance_m(lons, lats, lons, lats + 1.0)
    np.testing.assert_allclose(d, [110_700, 110_700], rtol=2e-3)
    assert isinstance(crs.geodesic_distance_m(117.0, 24.0, 117.1, 24.0), float)
