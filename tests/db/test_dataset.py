"""The loaded Zhangzhou demo: counts, allocation, tiling and populations, measured by PostGIS."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from gridgis.boundaries import sql as boundaries_sql

BOUNDARIES = Path(__file__).resolve().parents[2] / "data" / "boundaries"
TOLERANCE_M2 = 1.0


def _census() -> dict[str, int]:
    with (BOUNDARIES / "county_census_2020.csv").open(encoding="utf-8") as fh:
        return {row["code"]: int(row["population"]) for row in csv.DictReader(fh)}


def _largest_remainder(total: int, weights: dict[str, int]) -> dict[str, int]:
    whole = sum(weights.values())
    quotas = {k: total * w / whole for k, w in weights.items()}
    counts = {k: int(q) for k, q in quotas.items()}
    left = total - sum(counts.values())
    for key in sorted(quotas, key=lambda k: (-(quotas[k] - counts[k]), k))[:left]:
        counts[key] += 1
    return counts


@pytest.fixture()
def generation(conn: Connection) -> int:
    return boundaries_sql.active_generation_id(conn)


def test_hierarchy_counts(conn: Connection, generation: int) -> None:
    assert boundaries_sql.counts_by_level(conn, generation) == {
        "city": 1,
        "county": 11,
        "township": 122,
        "grid": 2080,
    }


def test_grids_per_county_follow_census_population(conn: Connection, generation: int) -> None:
    rows = conn.execute(
        text(
            """
            SELECT substr(code, 1, 6) AS county, COUNT(*) FROM areas
            WHERE generation_id = :g AND level = 'grid' GROUP BY 1
            """
        ),
        {"g": generation},
    )
    assert dict(rows.all()) == _largest_remainder(2080, _census())


def test_grid_codes_are_twelve_digits_under_their_township(
    conn: Connection, generation: int
) -> None:
    bad = conn.execute(
        text(
            """
            SELECT code FROM areas WHERE generation_id = :g AND level = 'grid'
              AND (code !~ '^[0-9]{12}$' OR substr(code, 1, 9) <> parent_code)
            """
        ),
        {"g": generation},
    ).all()
    assert bad == []


def test_counties_tile_the_city(conn: Connection, generation: int) -> None:
    defects = boundaries_sql.tiling_defects(conn, generation, "county", "city")
    assert defects["overlap_m2"] < TOLERANCE_M2
    assert defects["gap_m2"] < TOLERANCE_M2
    assert defects["outside_m2"] < TOLERANCE_M2


@pytest.mark.parametrize(("child", "parent"), [("township", "county"), ("grid", "township")])
def test_children_tile_their_parent(
    conn: Connection, generation: int, child: str, parent: str
) -> None:
    defects = boundaries_sql.tiling_defects(conn, generation, child, parent)
    # Tolerance per parent: the sum over all parents is bounded by count x 1 m2.
    parents = len(boundaries_sql.area_codes(conn, generation, parent))
    assert defects["childless"] == 0
    assert defects["overlap_m2"] < TOLERANCE_M2 * parents
    assert defects["gap_m2"] < TOLERANCE_M2 * parents
    assert defects["outside_m2"] < TOLERANCE_M2 * parents
    worst = conn.execute(
        text(
            """
            WITH kids AS (SELECT parent_code, ST_Union(geom) AS geom FROM areas
                          WHERE generation_id = :g AND level = :child GROUP BY parent_code)
            SELECT COALESCE(MAX(ST_Area(ST_SymDifference(p.geom, k.geom)::geography)), 0)
            FROM areas p JOIN kids k ON k.parent_code = p.code
            WHERE p.generation_id = :g AND p.level = :parent
            """
        ),
        {"g": generation, "child": child, "parent": parent},
    ).scalar_one()
    assert worst < TOLERANCE_M2


def test_every_township_contains_its_seat(conn: Connection, generation: int) -> None:
    with (BOUNDARIES / "township_seats.csv").open(encoding="utf-8") as fh:
        seats = list(csv.DictReader(fh))
    assert len(seats) == 122
    missing = []
    for seat in seats:
        inside = conn.execute(
            text(
                """
                SELECT ST_Covers(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
                FROM areas WHERE generation_id = :g AND level = 'township' AND code = :code
                """
            ),
            {"g": generation, "code": seat["code"], "lon": seat["lon"], "lat": seat["lat"]},
        ).scalar()
        if not inside:
            missing.append(seat["code"])
    assert missing == []


def test_population_sums_to_census_at_every_level(conn: Connection, generation: int) -> None:
    census = _census()
    county_sums = dict(
        conn.execute(
            text(
                """
                SELECT substr(code, 1, 6), SUM(population) FROM areas
                WHERE generation_id = :g AND level = 'grid' GROUP BY 1
                """
            ),
            {"g": generation},
        ).all()
    )
    assert {k: int(v) for k, v in county_sums.items()} == census
    mismatched = conn.execute(
        text(
            """
            SELECT p.code FROM areas p
            JOIN areas c ON c.generation_id = p.generation_id AND c.parent_code = p.code
            WHERE p.generation_id = :g GROUP BY p.code, p.population
            HAVING SUM(c.population) <> p.population
            """
        ),
        {"g": generation},
    ).all()
    assert mismatched == []
    city = conn.execute(
        text("SELECT population FROM areas WHERE generation_id = :g AND level = 'city'"),
        {"g": generation},
    ).scalar_one()
    assert city == 5_054_328


def test_geometries_are_valid_multipolygons_in_wgs84(conn: Connection, generation: int) -> None:
    row = conn.execute(
        text(
            """
            SELECT COUNT(*) FILTER (WHERE NOT ST_IsValid(geom)) AS invalid,
                   COUNT(*) FILTER (WHERE ST_IsEmpty(geom)) AS empty,
                   COUNT(*) FILTER (WHERE ST_SRID(geom) <> 4326) AS wrong_srid,
                   MIN(ST_XMin(geom)) AS xmin, MAX(ST_XMax(geom)) AS xmax,
                   MIN(ST_YMin(geom)) AS ymin, MAX(ST_YMax(geom)) AS ymax
            FROM areas WHERE generation_id = :g
            """
        ),
        {"g": generation},
    ).one()
    assert (row.invalid, row.empty, row.wrong_srid) == (0, 0, 0)
    # Zhangzhou lies around 116.9-118.3 E, 23.5-25.3 N.
    assert 116.5 < row.xmin < row.xmax < 118.5
    assert 23.3 < row.ymin < row.ymax < 25.5


def test_every_grid_has_its_two_plus_n_team(conn: Connection, generation: int) -> None:
    short = conn.execute(
        text(
            """
            SELECT a.code FROM areas a
            WHERE a.generation_id = :g AND a.level = 'grid' AND (
              NOT EXISTS (SELECT 1 FROM assignments s WHERE s.grid_code = a.code
                          AND s.duty = 'grid_worker')
              OR NOT EXISTS (SELECT 1 FROM assignments s WHERE s.grid_code = a.code
                             AND s.duty = 'community_police'))
            """
        ),
        {"g": generation},
    ).all()
    assert short == []


def test_staff_counts_and_police_stations(conn: Connection) -> None:
    roles = dict(conn.execute(text("SELECT role, COUNT(*) FROM responders GROUP BY role")).all())
    assert roles["community_police"] == 401
    assert roles["grid_worker"] >= 2080
    assert 17_000 <= roles["party_cadre"] <= 19_000
    assert roles["volunteer"] == 2_000
    assert roles["mediator"] >= 122
    stations = conn.execute(
        text("SELECT COUNT(*) FROM facilities WHERE type = 'police_station'")
    ).scalar_one()
    assert stations == 103
    officers_per_station = conn.execute(
        text(
            """
            SELECT MIN(n), COUNT(*) FROM (
              SELECT f.code, COUNT(r.id) AS n FROM facilities f
              LEFT JOIN responders r ON r.station_code = f.code AND r.role = 'community_police'
              WHERE f.type = 'police_station' GROUP BY f.code) s
            """
        )
    ).one()
    assert officers_per_station[0] >= 1


def test_home_bases_lie_in_their_home_grid(conn: Connection, generation: int) -> None:
    outside = conn.execute(
        text(
            """
            SELECT r.ref FROM responders r
            JOIN areas a ON a.generation_id = :g AND a.code = r.home_grid_code
            WHERE r.role <> 'police_unit' AND NOT ST_Covers(a.geom, r.home)
            LIMIT 5
            """
        ),
        {"g": generation},
    ).all()
    assert outside == []
