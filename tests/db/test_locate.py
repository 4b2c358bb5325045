"""Point -> grid lookup against the loaded demo, including edges, vertices and misses."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, text

from gridgis.boundaries import sql as boundaries_sql
from gridgis.boundaries.lookup import locate
from gridgis.errors import InvalidInput, OutsideCoverage


def test_central_zhangzhou_is_in_xiangcheng(conn: Connection) -> None:
    result = locate(conn, 117.65, 24.51)
    assert [a["level"] for a in result.hierarchy] == ["city", "county", "township", "grid"]
    assert result.hierarchy[0]["code"] == "350600"
    assert result.hierarchy[1] == {"code": "350602", "name": "芗城区", "level": "county"}
    assert result.grid["code"].startswith("350602")
    assert result.grid["kind"] == "community"
    duties = {m["duty"] for m in result.team}
    assert {"grid_worker", "community_police"} <= duties


def _shared_vertex(conn: Connection, generation: int, grids_sharing: int) -> tuple[float, float]:
    """A polygon vertex that lies on exactly `grids_sharing` grids."""
    row = conn.execute(
        text(
            """
            WITH v AS (SELECT DISTINCT (ST_DumpPoints(geom)).geom AS pt FROM areas
                       WHERE generation_id = :g AND level = 'grid' AND code LIKE '350602%'),
                 g AS (SELECT id, geom FROM areas WHERE generation_id = :g AND level = 'grid')
            SELECT ST_X(v.pt) AS lon, ST_Y(v.pt) AS lat
            FROM v JOIN g ON ST_Intersects(g.geom, v.pt)
            GROUP BY v.pt HAVING COUNT(*) = :n
            ORDER BY ST_X(v.pt), ST_Y(v.pt) LIMIT 1
            """
        ),
        {"g": generation, "n": grids_sharing},
    ).one()
    return float(row.lon), float(row.lat)


@pytest.mark.parametrize("sharing", [2, 3])
def test_point_on_shared_boundary_gets_lowest_code_and_lists_the_others(
    conn: Connection, sharing: int
) -> None:
    generation = boundaries_sql.active_generation_id(conn)
    lon, lat = _shared_vertex(conn, generation, sharing)
    result = locate(conn, lon, lat)
    codes = [result.grid["code"], *(g["code"] for g in result.also)]
    assert len(codes) == sharing
    assert codes == sorted(codes)
    # Deterministic: asking again gives the same answer.
    assert locate(conn, lon, lat).grid == result.grid


def test_point_outside_every_grid(conn: Connection) -> None:
    with pytest.raises(OutsideCoverage, match="outside every grid"):
        locate(conn, 116.0, 39.9)  # Beijing


@pytest.mark.parametrize(
    ("lon", "lat", "field"),
    [
        (181.0, 24.5, "lon"),
        (117.6, -91.0, "lat"),
        (math.nan, 24.5, "lon"),
        (117.6, math.inf, "lat"),
        ("east", 24.5, "lon"),
    ],
)
def test_invalid_coordinates_are_rejected(
    conn: Connection, lon: object, lat: object, field: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        locate(conn, lon, lat)  # type: ignore[arg-type]
    assert info.value.field == field


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(grid_index=st.integers(min_value=0, max_value=2079), seed=st.integers(1, 10_000))
def test_random_interior_points_locate_their_grid(
    conn: Connection, grid_index: int, seed: int
) -> None:
    row = conn.execute(
        text(
            """
            WITH grid AS (SELECT code, geom FROM areas WHERE level = 'grid'
                          AND generation_id = (SELECT id FROM generations WHERE active)
                          ORDER BY code OFFSET :i LIMIT 1)
            SELECT code, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat,
                   ST_Distance(ST_Boundary(grid.geom), p.geom) AS edge_distance
            FROM grid, ST_Dump(ST_GeneratePoints(ST_Buffer(grid.geom, -0.00002), 1, :seed)) p
            """
        ),
        {"i": grid_index, "seed": seed},
    ).first()
    if row is None:  # a grid too thin to buffer inwards: nothing to test here
        return
    result = locate(conn, row.lon, row.lat)
    assert result.grid["code"] == row.code
    assert result.also == []
