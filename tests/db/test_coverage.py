"""Coverage runs equal a brute-force geodesic computation on a small synthetic city; population
is preserved across levels; parameters are recorded; bad input names its field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import h3.api.basic_int as h3
import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import Point, box
from sqlalchemy import Connection, text

from gridgis.coverage import sql as coverage_sql
from gridgis.coverage.compute import _weighted_quantile
from gridgis.coverage.runs import CoverageRequest, area_summary, cells_page, run_coverage
from gridgis.dispatch.eta import StraightLineEta, setting_of_kind
from gridgis.errors import InvalidInput, NotFound

GEOD = Geod(ellps="WGS84")
MODEL = StraightLineEta()
NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
STALE_AFTER_S = 900.0
ROLE = "zz_coverage_probe"
RESOLUTION = 9
# A 2 x 2 block of 2 km grids west of the demo city, plus one grid smaller than an H3 cell.
LON0, LAT0, STEP = 116.60, 25.30, 0.02
GRIDS = [
    # code, township, kind, population, (col, row)
    ("990101001", "990101", "community", 12_000, (0, 0)),
    ("990101002", "990101", "community", 8_000, (1, 0)),
    ("990102001", "990102", "village", 3_000, (0, 1)),
    ("990102002", "990102", "village", 1_500, (1, 1)),
]
TINY = ("990102003", "990102", "village", 400)


def _grid_geometry(col: int, row: int) -> Any:
    x0, y0 = LON0 + col * STEP, LAT0 + row * STEP
    return box(x0, y0, x0 + STEP, y0 + STEP)


def _tiny_geometry() -> Any:
    # About 100 m x 110 m beside the block: no res-9 cell centre falls inside it.
    x0, y0 = LON0 + 2 * STEP + 0.001, LAT0 + 0.0005
    return box(x0, y0, x0 + 0.001, y0 + 0.001)


def _insert_area(
    conn: Connection,
    gid: int,
    code: str,
    name: str,
    level: str,
    parent: str | None,
    kind: str,
    population: int,
    geom: Any,
) -> None:
    conn.execute(
        text(
            """
            INSERT INTO areas (generation_id, code, name, level, parent_code, kind, population,
                               geom)
            VALUES (:g, :code, :name, :level, :parent, :kind, :population,
                    ST_Multi(ST_GeomFromText(:wkt, 4326)))
            """
        ),
        {
            "g": gid,
            "code": code,
            "name": name,
            "level": level,
            "parent": parent,
            "kind": kind,
            "population": population,
            "wkt": geom.wkt,
        },
    )


def _insert_responder(
    conn: Connection,
    ref: str,
    lon: float,
    lat: float,
    *,
    status: str = "available",
    live: tuple[float, float, datetime] | None = None,
) -> None:
    conn.execute(
        text(
            """
            WITH added AS (
                INSERT INTO responders (ref, name, role, skills, status, home)
                VALUES (:ref, :ref, :role, '{}', :status,
                        ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
                RETURNING id, role
            )
            INSERT INTO responder_positions (responder_id, role, position, recorded_at)
            SELECT id, role, ST_SetSRID(ST_MakePoint(:live_lon, :live_lat), 4326), :live_at
            FROM added WHERE CAST(:live_lon AS float8) IS NOT NULL
            """
        ),
        {
            "ref": ref,
            "role": ROLE,
            "status": status,
            "lon": lon,
            "lat": lat,
            "live_lon": live[0] if live else None,
            "live_lat": live[1] if live else None,
            "live_at": live[2] if live else None,
        },
    )


@pytest.fixture()
def city(conn: Connection) -> dict[str, Any]:
    """A synthetic generation (city > county > 2 townships > 5 grids) and its responders,
    inside the test's transaction."""
    gid = int(
        conn.execute(
            text(
                "INSERT INTO generations (label, source) VALUES ('coverage-test', 'test') "
                "RETURNING id"
            )
        ).scalar_one()
    )
    conn.execute(
        text("INSERT INTO roles (code, name_zh, name_en) VALUES (:r, '测试', 'probe')"),
        {"r": ROLE},
    )
    grids = {code: _grid_geometry(*cell) for code, _, _, _, cell in GRIDS}
    grids[TINY[0]] = _tiny_geometry()
    townships = {
        "990101": shapely.union_all([grids["990101001"], grids["990101002"]]),
        "990102": shapely.union_all([grids[c] for c in ("990102001", "990102002", TINY[0])]),
    }
    everything = shapely.union_all(list(grids.values()))
    total = sum(g[3] for g in GRIDS) + TINY[3]
    _insert_area(conn, gid, "990000", "测试市", "city", None, "city", total, everything)
    _insert_area(conn, gid, "990100", "测试县", "county", "990000", "county", total, everything)
    _insert_area(
        conn, gid, "990101", "城区街道", "township", "990100", "street", 20_000, townships["990101"]
    )
    _insert_area(
        conn, gid, "990102", "乡下镇", "township", "990100", "town", 4_900, townships["990102"]
    )
    for code, township, kind, population, _cell in GRIDS:
        _insert_area(conn, gid, code, code, "grid", township, kind, population, grids[code])
    _insert_area(conn, gid, TINY[0], TINY[0], "grid", TINY[1], TINY[2], TINY[3], grids[TINY[0]])

    rng = np.random.default_rng(20261126)
    placed: list[tuple[float, float]] = []
    # Counted responders well inside the grids (so "placed in a grid" is unambiguous).
    for i in range(14):
        code = GRIDS[i % 4][0]
        minx, miny, maxx, maxy = grids[code].bounds
        lon = float(rng.uniform(minx + 0.002, maxx - 0.002))
        lat = float(rng.uniform(miny + 0.002, maxy - 0.002))
        if i == 0:
            # A fresh live fix wins over home: home is far away, the fix is in the city.
            _insert_responder(
                conn,
                f"cov-{i}",
                LON0 + 0.5,
                LAT0 + 0.5,
                live=(lon, lat, NOW - timedelta(seconds=60)),
            )
        elif i == 1:
            # A stale fix loses: dispatch (and coverage) use home.
            _insert_responder(
                conn, f"cov-{i}", lon, lat, live=(LON0 - 0.5, LAT0, NOW - timedelta(hours=2))
            )
        else:
            _insert_responder(conn, f"cov-{i}", lon, lat)
        placed.append((lon, lat))
    # Not counted: busy.
    _insert_responder(conn, "cov-busy", LON0 + 0.01, LAT0 + 0.01, status="busy")
    return {"generation_id": gid, "grids": grids, "placed": placed, "total": total}


def _clear_target(city: dict[str, Any]) -> float:
    """A target no brute-force ETA lies within 0.05 s of (about 0.5 m of distance): coverage
    distances agree with geodesic ones to millimetres, so every in/out decision is clear."""
    etas = np.concatenate([c["etas"] for c in _brute_force(city, 1, 0.0)["cells"]])
    targets = np.arange(200.0, 300.0, 0.25)
    margins = np.array([np.min(np.abs(etas - t)) for t in targets])
    assert margins.max() > 0.05
    return float(targets[int(np.argmax(margins))])


def _brute_force(city: dict[str, Any], k: int, target_s: float) -> dict[str, Any]:
    """Cells by centre-in-polygon (shapely), population by area share, ETAs by pyproj.Geod."""
    grids = city["grids"]
    codes = sorted(grids)
    kinds = {g[0]: g[2] for g in GRIDS} | {TINY[0]: TINY[2]}
    populations = {g[0]: g[3] for g in GRIDS} | {TINY[0]: TINY[3]}
    region = box(*shapely.union_all(list(grids.values())).buffer(0.01).bounds)
    rows = []
    for cell in h3.geo_to_cells(region, RESOLUTION):
        lat, lon = h3.cell_to_latlng(cell)
        inside = [c for c in codes if grids[c].contains(Point(lon, lat))]
        if inside:
            rows.append((cell, inside[0], lon, lat, h3.cell_area(cell, "m^2")))
    for code in codes:
        if not any(r[1] == code for r in rows):
            p = grids[code].representative_point()
            cell = h3.latlng_to_cell(p.y, p.x, RESOLUTION)
            lat, lon = h3.cell_to_latlng(cell)
            area = abs(GEOD.geometry_area_perimeter(grids[code])[0])
            rows.append((cell, code, lon, lat, area))
    rows.sort()
    rlon = np.array([p[0] for p in city["placed"]])
    rlat = np.array([p[1] for p in city["placed"]])
    out = []
    for cell, code, lon, lat, area in rows:
        _, _, dist = GEOD.inv(np.full_like(rlon, lon), np.full_like(rlat, lat), rlon, rlat)
        etas = np.sort(MODEL.eta_s(dist, setting_of_kind(kinds[code])))
        out.append(
            {
                "h3": cell,
                "grid": code,
                "area": area,
                "eta": float(etas[0]),
                "eta_k": float(etas[k - 1]),
                "within": int((etas <= target_s).sum()),
                "etas": etas,
            }
        )
    grid_area = {c: sum(r["area"] for r in out if r["grid"] == c) for c in codes}
    for r in out:
        r["population"] = populations[r["grid"]] * r["area"] / grid_area[r["grid"]]
    return {"cells": out, "codes": codes}


def _expected_area(cells: list[dict[str, Any]], k: int) -> dict[str, float]:
    pop = np.array([c["population"] for c in cells])
    area = np.array([c["area"] for c in cells])
    covered = np.array([c["within"] >= k for c in cells])
    eta = np.array([c["eta"] for c in cells])
    order = np.argsort(eta, kind="stable")
    cumulative = np.cumsum(pop[order]) / pop.sum()
    p90 = float(eta[order][np.searchsorted(cumulative, 0.9 * (1 - 1e-12))])
    return {
        "population": float(pop.sum()),
        "population_share_within_target": float(pop[covered].sum() / pop.sum()),
        "area_share_within_target": float(area[covered].sum() / area.sum()),
        "eta_mean_s": float((eta * pop).sum() / pop.sum()),
        "eta_p90_s": p90,
    }


@pytest.mark.parametrize("k", [1, 2])
def test_synthetic_city_matches_brute_force(conn: Connection, city: dict[str, Any], k: int) -> None:
    target_s = _clear_target(city)
    run = run_coverage(
        conn,
        MODEL,
        CoverageRequest(
            roles=(ROLE,),
            k=k,
            resolution=RESOLUTION,
            target_s=target_s,
            generation_id=city["generation_id"],
        ),
        stale_after_s=STALE_AFTER_S,
        now=NOW,
    )
    expected = _brute_force(city, k, target_s)

    stored = coverage_sql.run_cells(conn, run.id)
    assert list(zip(stored["h3"].tolist(), stored["grid_code"].tolist(), strict=True)) == [
        (c["h3"], c["grid"]) for c in expected["cells"]
    ]
    # Stored ETAs are rounded to 0.01 s; distances agree with pyproj to a few millimetres.
    np.testing.assert_allclose(stored["eta_s"], [c["eta"] for c in expected["cells"]], atol=0.01)
    np.testing.assert_allclose(
        stored["eta_k_s"], [c["eta_k"] for c in expected["cells"]], atol=0.01
    )
    assert stored["responders_within_target"].tolist() == [c["within"] for c in expected["cells"]]
    assert run.summary["grids_without_cells"] == 1
    assert run.summary["responders_counted"] == 14

    for level, members in (
        ("grid", {code: [code] for code in expected["codes"]}),
        (
            "township",
            {"990101": ["990101001", "990101002"], "990102": ["990102001", "990102002", TINY[0]]},
        ),
        ("city", {"990000": expected["codes"]}),
    ):
        rows = {r["code"]: r for r in coverage_sql.area_stats(conn, run.id, level)}
        assert set(rows) == set(members)
        for code, grid_codes in members.items():
            cells = [c for c in expected["cells"] if c["grid"] in grid_codes]
            want = _expected_area(cells, k)
            got = rows[code]
            assert got["population"] == pytest.approx(want["population"], rel=1e-9)
            assert got["population_share_within_target"] == pytest.approx(
                want["population_share_within_target"], rel=1e-9, abs=1e-12
            )
            assert got["area_share_within_target"] == pytest.approx(
                want["area_share_within_target"], rel=1e-6, abs=1e-12
            )
            assert got["eta_mean_s"] == pytest.approx(want["eta_mean_s"], abs=0.01)
            assert got["eta_p90_s"] == pytest.approx(want["eta_p90_s"], abs=0.01)

    # Responders per 10,000 people: counted responders placed inside each grid.
    grid_rows = {r["code"]: r for r in coverage_sql.area_stats(conn, run.id, "grid")}
    for code, geom in city["grids"].items():
        inside = sum(geom.contains(Point(lon, lat)) for lon, lat in city["placed"])
        assert grid_rows[code]["responders"] == inside
        population = grid_rows[code]["population"]
        assert grid_rows[code]["responders_per_10k"] == pytest.approx(inside / population * 1e4)


def test_backup_coverage_needs_two_responders(conn: Connection, city: dict[str, Any]) -> None:
    """k=2 covers exactly the cells with two responders in reach, never more than k=1."""
    runs = {
        k: run_coverage(
            conn,
            MODEL,
            CoverageRequest(roles=(ROLE,), k=k, resolution=8, generation_id=city["generation_id"]),
            now=NOW,
        )
        for k in (1, 2)
    }
    one, two = (coverage_sql.run_cells(conn, runs[k].id) for k in (1, 2))
    assert (one["responders_within_target"] == two["responders_within_target"]).all()
    assert (two["eta_k_s"] >= one["eta_s"]).all()
    target = MODEL.target_s
    assert ((two["eta_k_s"] <= target) == (two["responders_within_target"] >= 2)).all()
    assert (
        runs[2].summary["population_share_within_target"]
        <= runs[1].summary["population_share_within_target"]
    )


def test_population_is_preserved_across_levels(conn: Connection) -> None:
    run = run_coverage(conn, MODEL, CoverageRequest(resolution=8), now=NOW)
    areas = {
        r.code: r
        for r in conn.execute(
            text(
                "SELECT code, level, population FROM areas "
                "WHERE generation_id = (SELECT id FROM generations WHERE active)"
            )
        )
    }
    city_population = next(r.population for r in areas.values() if r.level == "city")
    for level in ("city", "county", "township", "grid"):
        rows = coverage_sql.area_stats(conn, run.id, level)
        assert sum(r["population"] for r in rows) == pytest.approx(city_population, rel=1e-9)
        for row in rows:
            # Every area carries exactly its recorded population (tiny grids included).
            assert row["population"] == pytest.approx(areas[row["code"]].population, rel=1e-9)
            assert row["population_within_target"] <= row["population"] * (1 + 1e-12)
    cells = coverage_sql.run_cells(conn, run.id)
    assert cells["population"].sum() == pytest.approx(city_population, rel=1e-9)
    assert run.summary["population"] == pytest.approx(city_population, abs=0.1)


def test_run_records_parameters_and_summary(conn: Connection) -> None:
    run = run_coverage(
        conn, MODEL, CoverageRequest(roles=("community_police",), k=2, resolution=8), now=NOW
    )
    params = run.parameters
    assert params["eta_model"] == MODEL.parameters()
    assert params["roles"] == ["community_police"]
    assert params["statuses"] == ["available"]
    assert params["k"] == 2 and params["resolution"] == 8 and params["target_s"] == 300.0
    assert "population_model" in params and "eta_aggregation" in params
    assert run.status == "done" and run.cell_count > 0 and run.duration_s is not None
    city = area_summary(conn, run.id, "city")[0]
    for key in ("population_share_within_target", "eta_mean_s", "eta_p90_s", "code"):
        assert run.summary[key] == city[key]


def test_cells_page_filters_by_bbox_and_pages(conn: Connection) -> None:
    run = run_coverage(conn, MODEL, CoverageRequest(roles=("community_police",), resolution=8))
    bbox = (117.55, 24.45, 117.75, 24.60)
    seen: list[str] = []
    after = 0
    while True:
        page = cells_page(conn, run.id, bbox=bbox, after=after, limit=50)
        for feature in page.features:
            ring = feature["geometry"]["coordinates"][0]
            assert ring[0] == ring[-1] and len(ring) >= 6
            lat, lon = h3.cell_to_latlng(h3.str_to_int(feature["properties"]["h3"]))
            assert bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]
            seen.append(feature["id"])
        if page.next_after is None:
            break
        after = page.next_after
    assert len(seen) == len(set(seen)) > 50


def test_bad_requests_name_their_field(conn: Connection) -> None:
    cases = [
        (CoverageRequest(roles=("astronaut",)), "roles"),
        (CoverageRequest(statuses=("asleep",)), "statuses"),
        (CoverageRequest(statuses=()), "statuses"),
        (CoverageRequest(k=0), "k"),
        (CoverageRequest(resolution=12), "resolution"),
        (CoverageRequest(target_s=float("nan")), "target_s"),
        (CoverageRequest(target_s=-5), "target_s"),
    ]
    for request, field in cases:
        with pytest.raises(InvalidInput) as caught:
            run_coverage(conn, MODEL, request)
        assert caught.value.field == field
    with pytest.raises(NotFound):
        run_coverage(conn, MODEL, CoverageRequest(generation_id=999_999))
    with pytest.raises(NotFound):
        area_summary(conn, 999_999, "city")
    with pytest.raises(InvalidInput) as caught:
        area_summary(conn, 1, "planet")
    assert caught.value.field == "level"


def test_weighted_quantile_is_the_lower_weighted_percentile() -> None:
    groups = np.array([0, 0, 0, 0, 1, 1], dtype=np.int64)
    values = np.array([4.0, 1.0, 3.0, 2.0, 10.0, 20.0])
    weights = np.array([1.0, 1.0, 1.0, 7.0, 5.0, 5.0])
    # Group 0 sorted: 1 (w1), 2 (w7), 3 (w1), 4 (w1): 90% of 10 is reached at 3.
    got = _weighted_quantile(groups, values, weights, 3, 0.9)
    assert got[0] == 3.0 and got[1] == 20.0 and np.isnan(got[2])
