"""Tests for the demo boundaries and the modelled dataset generator (no database needed)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from gridgis import crs
from gridgis.demo import counties as cty
from gridgis.demo.generate import (
    COMMUNITY_POLICE,
    PARTY_CADRES,
    POLICE_STATIONS,
    TOTAL_GRIDS,
    DemoData,
    county_grid_allocation,
    generate_demo,
    largest_remainder,
    read_demo,
    write_demo,
)

VOLUNTEERS = 2_000
TOLERANCE_M2 = 1.0

# The documented split of 2,080 grids by 2020 census population (largest remainder).
EXPECTED_GRIDS = {
    "350602": 263,
    "350603": 124,
    "350604": 392,
    "350605": 94,
    "350622": 169,
    "350623": 349,
    "350624": 231,
    "350626": 90,
    "350627": 126,
    "350628": 187,
    "350629": 55,
}


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return generate_demo(seed=2080, volunteers=VOLUNTEERS)


@pytest.fixture(scope="module")
def written(demo: DemoData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    write_demo(demo, out)
    return out


def _areas(demo: DemoData, level: str) -> pd.DataFrame:
    rows: pd.DataFrame = demo.areas[demo.areas["level"] == level]
    return rows


def _worst_overlap_m2(geoms: Sequence[BaseGeometry]) -> float:
    arr = np.asarray(geoms, dtype=object)
    tree = shapely.STRtree(arr)
    i, j = tree.query(arr, predicate="intersects")
    keep = i < j
    inter = shapely.intersection(arr[i[keep]], arr[j[keep]])
    # Neighbours touch along lines; only polygonal overlap can have area.
    return max((cty.metric_area_m2(g) for g in inter if g.area > 0), default=0.0)


def _mismatch_m2(parts: Sequence[BaseGeometry], whole: BaseGeometry) -> float:
    union = shapely.coverage_union_all(np.asarray(parts, dtype=object))
    return cty.metric_area_m2(shapely.symmetric_difference(union, whole))


# --- boundaries ---------------------------------------------------------------------


def test_committed_counties_tile_without_overlap() -> None:
    counties = cty.load_counties()
    assert sorted(counties["code"]) == sorted(cty.COUNTY_NAMES)
    assert counties.crs.to_epsg() == 4326
    geoms = list(counties.geometry)
    assert all(g.is_valid and g.geom_type == "MultiPolygon" for g in geoms)
    assert _worst_overlap_m2(geoms) <= TOLERANCE_M2
    assert shapely.coverage_is_valid(np.asarray(geoms, dtype=object))
    # Areas add up: no overlap hides inside the union either.
    total = sum(cty.metric_area_m2(g) for g in geoms)
    union = cty.metric_area_m2(shapely.union_all(geoms))
    assert abs(total - union) <= TOLERANCE_M2
    census = cty.load_census()
    assert dict(zip(counties["code"], counties["population"], strict=True)) == census
    assert sum(census.values()) == 5_054_328


def test_committed_file_is_canonical(tmp_path: Path) -> None:
    # Re-serialising the committed geometries reproduces the file byte for byte.
    counties = cty.load_counties()
    out = tmp_path / "counties.geojson"
    cty.dump_feature_collection(
        (
            (
                {
                    "code": r.code,
                    "name": r.name,
                    "population": int(r.population),
                    "source": r.source,
                },
                cty.canonical_geometry(r.geometry),
            )
            for r in counties.itertuples()
        ),
        out,
    )
    assert out.read_bytes() == cty.COUNTIES_GEOJSON.read_bytes()


def test_tiling_fix_assigns_overlaps_and_gaps() -> None:
    a = box(117.0, 24.0, 117.1, 24.1)
    b = box(117.0999, 24.0, 117.2, 24.1)  # overlaps a in a thin strip
    c = box(117.0, 24.10001, 117.2, 24.2)  # leaves a thin gap below it
    outline = box(117.0, 24.0, 117.2, 24.2)
    fixed, report = cty.build_county_tiling({"A": a, "B": b, "C": c}, outline)
    assert report.overlap_pieces == 1 and report.gap_pieces == 1
    assert report.overlap_m2["A"] > 0  # equal borders: the lower code wins the overlap
    assert report.gap_m2["C"] > 0  # the gap shares its longest border with C
    assert _worst_overlap_m2(list(fixed.values())) == 0.0
    assert _mismatch_m2(list(fixed.values()), outline) <= TOLERANCE_M2


def test_seats_file() -> None:
    seats = cty.load_seats()
    assert len(seats) == 122
    assert seats["code"].is_unique
    assert set(seats["code"].str[:6]) == set(cty.COUNTY_NAMES)
    assert seats["code"].str.fullmatch(r"3506\d{5}").all()


# --- allocation ---------------------------------------------------------------------


def test_largest_remainder() -> None:
    shares = largest_remainder(10, [1, 1, 1])
    assert shares.tolist() == [4, 3, 3]
    assert largest_remainder(7, [5, 0, 0], minimum=1).tolist() == [5, 1, 1]
    assert largest_remainder(0, []).tolist() == []
    with pytest.raises(ValueError):
        largest_remainder(2, [1, 1, 1], minimum=1)


def test_county_grid_allocation_matches_documented_table(demo: DemoData) -> None:
    assert county_grid_allocation() == EXPECTED_GRIDS
    assert sum(EXPECTED_GRIDS.values()) == TOTAL_GRIDS
    grids = _areas(demo, "grid")
    assert grids["code"].str[:6].value_counts().to_dict() == EXPECTED_GRIDS


# --- areas --------------------------------------------------------------------------


def test_area_rows_and_schema(demo: DemoData) -> None:
    areas = demo.areas
    assert list(areas.columns) == [
        "code",
        "name",
        "level",
        "parent_code",
        "kind",
        "population",
        "geometry",
    ]
    assert areas.crs.to_epsg() == 4326
    assert areas["level"].value_counts().to_dict() == {
        "grid": 2080,
        "township": 122,
        "county": 11,
        "city": 1,
    }
    assert areas["code"].is_unique
    order = {"city": 0, "county": 1, "township": 2, "grid": 3}
    keys = list(zip(areas["level"].map(order), areas["code"], strict=True))
    assert keys == sorted(keys)
    assert (areas.geometry.geom_type == "MultiPolygon").all()
    assert areas.geometry.is_valid.all()
    city = _areas(demo, "city").iloc[0]
    assert city["code"] == cty.CITY_CODE and city["parent_code"] is None
    assert areas["parent_code"].iloc[1:].map(lambda v: isinstance(v, str)).all()


def test_kinds_codes_and_names(demo: DemoData) -> None:
    counties = _areas(demo, "county")
    assert set(counties["kind"]) == {"district", "county"}
    assert (counties["kind"] == "district").sum() == 4
    towns = _areas(demo, "township")
    assert set(towns["kind"]) == {"street", "town", "township"}
    assert (towns["kind"] == "street").equals(towns["code"].str[6] == "0")
    grids = _areas(demo, "grid")
    assert grids["code"].str.fullmatch(r"\d{12}").all()
    assert (grids["code"].str[:9] == grids["parent_code"]).all()
    for _, members in grids.groupby("parent_code"):
        serials = sorted(int(c[9:]) for c in members["code"])
        assert serials == list(range(1, len(serials) + 1))
    street_grids = grids["parent_code"].isin(towns.loc[towns["kind"] == "street", "code"])
    assert (grids.loc[street_grids, "kind"] == "community").all()
    assert set(grids["kind"]) == {"community", "village"}
    suffix = grids["name"].str.extract(r"第\d{2}(社区|村)$")[0]
    assert (suffix.map({"社区": "community", "村": "village"}) == grids["kind"]).all()
    assert grids["name"].map(lambda n: re.search(r"(街道|镇|乡)第\d{2}", n) is not None).all()


def test_townships_contain_their_seats(demo: DemoData) -> None:
    towns = _areas(demo, "township")
    geoms = dict(zip(towns["code"], towns.geometry, strict=True))
    seats = cty.load_seats()
    assert set(seats["code"]) == set(geoms)
    for code, lon, lat in zip(seats["code"], seats["lon"], seats["lat"], strict=True):
        assert geoms[code].contains(shapely.Point(lon, lat)), code


def test_hierarchy_tiles_exactly(demo: DemoData) -> None:
    areas = demo.areas
    by_code = dict(zip(areas["code"], areas.geometry, strict=True))
    file_counties = cty.load_counties()
    for row in file_counties.itertuples():
        # The modelled edges end on existing outline vertices: the real county
        # outline comes through unchanged.
        diff = shapely.symmetric_difference(by_code[row.code], row.geometry)
        assert cty.metric_area_m2(diff) <= TOLERANCE_M2, row.code
    for level in ("county", "township", "grid"):
        rows = _areas(demo, level)
        assert _worst_overlap_m2(list(rows.geometry)) <= TOLERANCE_M2, level
        for parent, members in rows.groupby("parent_code"):
            assert _mismatch_m2(list(members.geometry), by_code[parent]) <= TOLERANCE_M2, parent


def test_grids_are_substantial(demo: DemoData) -> None:
    grids = _areas(demo, "grid")
    areas_m2 = np.array([cty.metric_area_m2(g) for g in grids.geometry])
    assert areas_m2.min() > 10_000  # at least a hectare: no slivers
    assert (grids["population"] > 0).all()


def test_populations_add_up(demo: DemoData) -> None:
    areas = demo.areas
    census = cty.load_census()
    grids = _areas(demo, "grid")
    per_county = grids.groupby(grids["code"].str[:6])["population"].sum().to_dict()
    assert per_county == census
    towns = _areas(demo, "township").set_index("code")["population"]
    assert (
        grids.groupby("parent_code")["population"]
        .sum()
        .sort_index()
        .equals(towns.sort_index().rename(None).rename_axis("parent_code"))
    )
    counties = _areas(demo, "county").set_index("code")["population"].to_dict()
    assert counties == census
    assert int(_areas(demo, "city")["population"].iloc[0]) == sum(census.values())
    assert areas["population"].dtype == np.int64


# --- facilities ---------------------------------------------------------------------


def test_facilities(demo: DemoData) -> None:
    fac = demo.facilities
    assert list(fac.columns) == ["code", "name", "type", "area_code", "serves", "geometry"]
    assert fac.crs.to_epsg() == 4326
    counts = fac["type"].value_counts().to_dict()
    assert counts == {"police_station": 103, "mediation_centre": 122, "service_station": 122}
    assert fac["code"].is_unique
    police = fac[fac["type"] == "police_station"]
    assert list(police["code"]) == [f"PS{i:03d}" for i in range(1, POLICE_STATIONS + 1)]
    served = [code for s in police["serves"] for code in s.split(",")]
    towns = _areas(demo, "township")
    assert sorted(served) == sorted(towns["code"])  # every township exactly once
    assert (police["serves"].str.split(",").map(lambda xs: xs[0]).notna()).all()
    assert all(
        a in s.split(",") for a, s in zip(police["area_code"], police["serves"], strict=True)
    )
    # Stations sit in the most populous townships (each county keeps at least one).
    pops = towns.set_index("code")["population"]
    smallest_with = pops[police["area_code"]].min()
    without = pops.drop(police["area_code"])
    assert (without <= smallest_with).mean() > 0.9
    by_code = dict(zip(demo.areas["code"], demo.areas.geometry, strict=True))
    for row in fac.itertuples():
        assert by_code[row.area_code].contains(row.geometry), row.code


# --- responders and assignments -------------------------------------------------------


def test_responder_counts_and_schema(demo: DemoData) -> None:
    resp = demo.responders
    assert list(resp.columns) == [
        "ref",
        "name",
        "role",
        "skills",
        "status",
        "home_lon",
        "home_lat",
        "home_grid_code",
        "station_code",
    ]
    assert resp["ref"].is_unique
    assert resp["ref"].str.fullmatch(r"R\d{7}").all()
    roles = resp["role"].value_counts().to_dict()
    assert roles["community_police"] == COMMUNITY_POLICE
    assert roles["volunteer"] == VOLUNTEERS
    assert roles["party_cadre"] == PARTY_CADRES
    assert roles["grid_worker"] >= TOTAL_GRIDS
    assert 3 * 122 <= roles["mediator"] <= 10 * 122
    assert POLICE_STATIONS <= roles["police_unit"] <= 3 * POLICE_STATIONS
    assert set(resp["status"]) <= {"available", "busy", "off_duty"}
    assert 0.8 < (resp["status"] == "available").mean() < 0.9
    police_roles = resp["role"].isin(["community_police", "police_unit"])
    assert resp.loc[police_roles, "station_code"].str.fullmatch(r"PS\d{3}").all()
    assert (resp.loc[~police_roles, "station_code"] == "").all()
    assert resp["skills"].str.len().gt(0).all()
    stations = resp.loc[resp["role"] == "community_police", "station_code"]
    assert stations.nunique() == POLICE_STATIONS


def test_homes_inside_home_grid(demo: DemoData) -> None:
    resp = demo.responders
    grids = dict(zip(demo.areas["code"], demo.areas.geometry, strict=True))
    assert np.allclose(resp["home_lon"], resp["home_lon"].round(7), rtol=0, atol=0)
    for code, members in resp.groupby("home_grid_code"):
        geom = grids[str(code)]
        assert shapely.contains_xy(geom, members["home_lon"], members["home_lat"]).all(), code


def test_every_grid_has_its_two_plus_n_team(demo: DemoData) -> None:
    asg = demo.assignments
    assert list(asg.columns) == ["responder_ref", "grid_code", "duty"]
    grid_codes = set(_areas(demo, "grid")["code"])
    assert set(asg["grid_code"]) == grid_codes
    for duty in ("grid_worker", "community_police", "party_cadre", "mediator"):
        assert set(asg.loc[asg["duty"] == duty, "grid_code"]) == grid_codes, duty
    # One community officer per grid, each covering several grids.
    police = asg[asg["duty"] == "community_police"]
    assert police.groupby("grid_code").size().max() == 1
    assert police.groupby("responder_ref").size().min() >= 1
    assert police["responder_ref"].nunique() == COMMUNITY_POLICE
    roles = demo.responders.set_index("ref")["role"]
    assert (roles[asg["responder_ref"]].to_numpy() == asg["duty"].to_numpy()).all()
    volunteers = demo.responders[demo.responders["role"] == "volunteer"]
    vol_asg = asg[asg["duty"] == "volunteer"].set_index("responder_ref")["grid_code"]
    assert vol_asg[volunteers["ref"]].tolist() == volunteers["home_grid_code"].tolist()


# --- files --------------------------------------------------------------------------------


def test_write_is_byte_identical_for_the_same_seed(
    demo: DemoData, written: Path, tmp_path: Path
) -> None:
    paths = write_demo(demo, tmp_path)
    assert [p.name for p in paths] == [
        "areas.geojson",
        "facilities.geojson",
        "responders.csv",
        "assignments.csv",
        "manifest.json",
    ]
    for path in paths:
        assert path.read_bytes() == (written / path.name).read_bytes(), path.name
    again = tmp_path / "again"
    write_demo(generate_demo(seed=2080, volunteers=VOLUNTEERS), again)
    for path in paths:
        assert path.read_bytes() == (again / path.name).read_bytes(), path.name


def test_different_seed_gives_different_data(written: Path, tmp_path: Path) -> None:
    other = generate_demo(seed=7, volunteers=VOLUNTEERS)
    write_demo(other, tmp_path)
    for name in ("areas.geojson", "responders.csv"):
        assert (tmp_path / name).read_bytes() != (written / name).read_bytes()
    # The real county outlines do not depend on the seed.
    counties = other.areas[other.areas["level"] == "county"]
    for row, ref in zip(counties.itertuples(), cty.load_counties().itertuples(), strict=True):
        diff = shapely.symmetric_difference(row.geometry, ref.geometry)
        assert cty.metric_area_m2(diff) <= TOLERANCE_M2


def test_manifest_marks_data_as_modelled(written: Path) -> None:
    import json

    manifest = json.loads((written / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["modelled"] is True
    assert "not official" in manifest["note"]
    assert manifest["seed"] == 2080 and manifest["volunteers"] == VOLUNTEERS
    assert manifest["counts"]["areas"]["grid"] == TOTAL_GRIDS
    assert manifest["seat_adjustments"] == []


def test_read_demo_round_trip(demo: DemoData, written: Path) -> None:
    back = read_demo(written)
    assert back.seed == demo.seed
    for name in ("areas", "facilities"):
        ours, theirs = getattr(demo, name), getattr(back, name)
        assert theirs.crs == ours.crs
        pd.testing.assert_frame_equal(
            pd.DataFrame(theirs.drop(columns="geometry")),
            pd.DataFrame(ours.drop(columns="geometry")),
        )
        same = shapely.equals_exact(
            np.asarray(theirs.geometry, dtype=object),
            np.asarray(ours.geometry, dtype=object),
            tolerance=0.0,
        )
        assert same.all(), name
    pd.testing.assert_frame_equal(back.responders, demo.responders)
    pd.testing.assert_frame_equal(back.assignments, demo.assignments)


def test_volunteers_scale_without_touching_the_rest(demo: DemoData) -> None:
    small = generate_demo(seed=2080, volunteers=10)
    assert (small.responders["role"] == "volunteer").sum() == 10
    staff = demo.responders[demo.responders["role"] != "volunteer"].reset_index(drop=True)
    small_staff = small.responders[small.responders["role"] != "volunteer"].reset_index(drop=True)
    pd.testing.assert_frame_equal(staff, small_staff)
    assert shapely.equals_exact(
        np.asarray(small.areas.geometry, dtype=object),
        np.asarray(demo.areas.geometry, dtype=object),
        tolerance=0.0,
    ).all()


def test_metric_helpers_agree() -> None:
    square = box(117.6, 24.5, 117.61, 24.51)
    assert cty.metric_area_m2(square) == pytest.approx(
        crs.geometry_to_metric(square).area, rel=1e-6
    )
