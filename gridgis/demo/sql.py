"""Demo-history SQL: set-wise sampling, locating and recommending for many incidents at once.

Bound parameters only. The few identifiers that are formatted in (temporary pool tables) are
built from loop counters, never from input.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text

from gridgis.db import Executor
from gridgis.dispatch.sql.nearest import (
    FRESH_FIX_JOIN,
    PLACED_SOURCE,
    SOURCE_PARAMS,
    Candidate,
    candidates_from,
)


def grids_for_sampling(db: Executor, generation_id: int) -> list[dict[str, Any]]:
    """Every grid of the generation with its kind and population, ordered by code."""
    rows = db.execute(
        text(
            """
            SELECT code, kind, population FROM areas
            WHERE generation_id = :g AND level = :grid ORDER BY code
            """
        ),
        {"g": generation_id, "grid": "grid"},
    )
    return [dict(r._mapping) for r in rows]


def random_points_in_grids(
    db: Executor, generation_id: int, codes: Sequence[str], counts: Sequence[int], seed: int
) -> list[tuple[str, float, float]]:
    """At least `counts[i]` uniform random points inside grid `codes[i]`, reproducible from
    `seed`. ST_GeneratePoints shares the points among a multipolygon's parts by area and rounds
    each share down, so one extra point per part is asked for; callers sample from the rest."""
    rows = db.execute(
        text(
            """
            WITH wanted AS (
                SELECT * FROM unnest(CAST(:codes AS varchar[]), CAST(:counts AS int[]))
                  WITH ORDINALITY AS t(code, n, ord)
            )
            SELECT w.code, ST_X(d.geom) AS lon, ST_Y(d.geom) AS lat
            FROM wanted w
            JOIN areas a ON a.generation_id = :g AND a.code = w.code
            CROSS JOIN LATERAL ST_Dump(
                ST_GeneratePoints(a.geom, w.n + ST_NumGeometries(a.geom),
                                  CAST(:seed AS int) + CAST(w.ord AS int))) AS d
            WHERE w.n > 0
            ORDER BY w.ord, d.path
            """
        ),
        {"g": generation_id, "codes": list(codes), "counts": list(counts), "seed": seed},
    )
    return [(r.code, float(r.lon), float(r.lat)) for r in rows]


def locate_many(
    db: Executor, generation_id: int, lons: Sequence[float], lats: Sequence[float]
) -> list[tuple[str, str] | None]:
    """(grid code, kind) for each point, by the same rule as locate (lowest code wins)."""
    rows = db.execute(
        text(
            """
            WITH pts AS (
                SELECT idx, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS geom
                FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[]))
                  WITH ORDINALITY AS t(lon, lat, idx)
            )
            SELECT DISTINCT ON (pts.idx) pts.idx, a.code, a.kind
            FROM pts
            JOIN area_pieces p ON p.generation_id = :g AND ST_Intersects(p.geom, pts.geom)
            JOIN areas a ON a.id = p.area_id
            ORDER BY pts.idx, a.code
            """
        ),
        {"g": generation_id, "lons": list(lons), "lats": list(lats)},
    )
    found: list[tuple[str, str] | None] = [None] * len(lons)
    for r in rows:
        found[int(r.idx) - 1] = (r.code, r.kind)
    return found


def build_responder_pool(
    db: Executor,
    pool: int,
    role: str,
    *,
    statuses: Sequence[str],
    fresh_since: datetime,
) -> int:
    """A temporary table of one role's responders placed where dispatch would use them
    (fresh live fix, else home), with its own GiST index, so a KNN scan over it never wades
    through other roles. Dropped at commit. Returns its row count."""
    table = f"incident_pool_{int(pool)}"
    db.execute(text(f"DROP TABLE IF EXISTS pg_temp.{table}"))
    db.execute(
        text(
            f"""
            CREATE TEMP TABLE {table} ON COMMIT DROP AS
            SELECT r.id,
                   {PLACED_SOURCE} AS source,
                   COALESCE(p.position, r.home) AS geom, p.recorded_at
            FROM responders r
            {FRESH_FIX_JOIN}
            WHERE r.role = :role AND r.status = ANY(CAST(:statuses AS varchar[]))
            """
        ),
        {"fresh_since": fresh_since, "role": role, "statuses": list(statuses), **SOURCE_PARAMS},
    )
    db.execute(text(f"CREATE INDEX ON pg_temp.{table} USING gist (geom)"))
    db.execute(text(f"ANALYZE pg_temp.{table}"))
    return int(db.execute(text(f"SELECT COUNT(*) FROM pg_temp.{table}")).scalar_one())


def _pool_candidates(result: Any) -> list[tuple[int, Candidate]]:
    rows = result.all()
    return list(zip((int(r.idx) for r in rows), candidates_from(rows, result.keys()), strict=True))


# The call points of a set-wise query, each with the grid whose team it concerns.
_POINTS = """pts AS (
                SELECT idx, grid, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS geom
                FROM unnest(CAST(:idx AS int[]), CAST(:lons AS float8[]),
                            CAST(:lats AS float8[]), CAST(:grids AS varchar[]))
                  AS t(idx, lon, lat, grid)
            )"""


def pool_nearest_many(
    db: Executor,
    pool: int,
    idx: Sequence[int],
    lons: Sequence[float],
    lats: Sequence[float],
    exclude_team_of: Sequence[str | None],
    k: int,
) -> list[tuple[int, Candidate]]:
    """For each point, the `k` nearest (planar KNN) pool responders who are not in the team of
    `exclude_team_of[i]`, with exact geodesic distances (as dispatch measures them)."""
    table = f"incident_pool_{int(pool)}"
    rows = db.execute(
        text(
            f"""
            WITH {_POINTS}
            SELECT pts.idx, p.id, p.source, p.recorded_at, p.planar, r.name, r.role, r.status,
                   r.home_grid_code, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat,
                   ST_Distance(p.geom::geography, pts.geom::geography, true) AS distance_m
            FROM pts
            CROSS JOIN LATERAL (
                SELECT q.id, q.source, q.recorded_at, q.geom, q.geom <-> pts.geom AS planar
                FROM pg_temp.{table} q
                WHERE pts.grid IS NULL OR NOT EXISTS (
                    SELECT 1 FROM assignments a
                    WHERE a.grid_code = pts.grid AND a.responder_id = q.id)
                ORDER BY q.geom <-> pts.geom
                LIMIT :k
            ) p
            JOIN responders r ON r.id = p.id
            """
        ),
        {
            "idx": list(idx),
            "lons": list(lons),
            "lats": list(lats),
            "grids": list(exclude_team_of),
            "k": k,
        },
    )
    return _pool_candidates(rows)


def pool_team_many(
    db: Executor,
    pool: int,
    idx: Sequence[int],
    lons: Sequence[float],
    lats: Sequence[float],
    grids: Sequence[str],
) -> list[tuple[int, Candidate]]:
    """For each point, the pool responders assigned to grid `grids[i]` (its team), measured."""
    table = f"incident_pool_{int(pool)}"
    rows = db.execute(
        text(
            f"""
            WITH {_POINTS},
            team AS (
                SELECT DISTINCT pts.idx, a.responder_id AS id
                FROM pts JOIN assignments a ON a.grid_code = pts.grid
            )
            SELECT team.idx, q.id, q.source, q.recorded_at, NULL::float8 AS planar, r.name,
                   r.role, r.status, r.home_grid_code, ST_X(q.geom) AS lon, ST_Y(q.geom) AS lat,
                   ST_Distance(q.geom::geography, pts.geom::geography, true) AS distance_m
            FROM team
            JOIN pts ON pts.idx = team.idx
            JOIN pg_temp.{table} q ON q.id = team.id
            JOIN responders r ON r.id = q.id
            """
        ),
        {"idx": list(idx), "lons": list(lons), "lats": list(lats), "grids": list(grids)},
    )
    return _pool_candidates(rows)


def delete_incidents_by_source(db: Executor, source: str) -> int:
    """Remove every incident of a source (their events go with them)."""
    result = db.execute(text("DELETE FROM incidents WHERE source = :s"), {"s": source})
    return int(getattr(result, "rowcount", 0) or 0)


def reserve_incident_ids(db: Executor, count: int) -> list[int]:
    """Draw `count` ids from the incidents sequence in one round trip."""
    rows = db.execute(
        text(
            "SELECT nextval(pg_get_serial_sequence('incidents', 'id')) FROM generate_series(1, :n)"
        ),
        {"n": count},
    )
    return [int(r[0]) for r in rows]
