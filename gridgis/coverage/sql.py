"""Coverage SQL: a run's inputs (areas, placed responders), storing and reading runs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import text
from sqlalchemy.orm import Session

from gridgis.db import Executor
from gridgis.dispatch.sql.nearest import FRESH_FIX_JOIN
from gridgis.errors import NotFound
from gridgis.vocabulary import AREA_LEVELS

FloatArray = npt.NDArray[np.float64]


def _raw_connection(db: Executor) -> Any:
    """The psycopg connection under `db` (COPY needs it), inside the caller's transaction."""
    connection = db.connection() if isinstance(db, Session) else db
    raw = connection.connection.driver_connection
    assert raw is not None
    return raw


# -- inputs of a run -----------------------------------------------------------------------------
_AREAS = text(
    """
    SELECT code, name, level, parent_code, kind, population,
           CASE WHEN level = :grid THEN ST_AsBinary(geom) END AS wkb,
           CASE WHEN level = :grid THEN ST_Area(geom::geography) END AS area_m2,
           CASE WHEN level = :grid THEN ST_X(ST_PointOnSurface(geom)) END AS inner_lon,
           CASE WHEN level = :grid THEN ST_Y(ST_PointOnSurface(geom)) END AS inner_lat
    FROM areas
    WHERE generation_id = :generation_id
    ORDER BY array_position(CAST(:levels AS varchar[]), level::varchar), code
    """
)


def generation_areas(db: Executor, generation_id: int) -> list[dict[str, Any]]:
    """Every area of a generation (grids with WKB geometry, area and an inner point)."""
    rows = db.execute(
        _AREAS, {"generation_id": generation_id, "grid": "grid", "levels": list(AREA_LEVELS)}
    )
    return [dict(r._mapping) for r in rows]


# Where dispatch would place each counted responder (fresh live fix, else home), as two arrays:
# one round trip and no per-row Python objects, whatever the head count.
_PLACED_POSITIONS = text(
    """
    SELECT COALESCE(array_agg(ST_X(placed.geom)), '{}') AS lons,
           COALESCE(array_agg(ST_Y(placed.geom)), '{}') AS lats
    FROM (
        SELECT COALESCE(p.position, r.home) AS geom
        FROM responders r
        """
    + FRESH_FIX_JOIN
    + """
        WHERE (CAST(:roles AS varchar[]) IS NULL OR r.role = ANY(CAST(:roles AS varchar[])))
          AND r.status = ANY(CAST(:statuses AS varchar[]))
    ) placed
    """
)


def placed_positions(
    db: Executor, *, roles: Sequence[str] | None, statuses: Sequence[str], fresh_since: datetime
) -> tuple[FloatArray, FloatArray]:
    """WGS84 lon and lat of every matching responder, placed as dispatch would place them."""
    row = db.execute(
        _PLACED_POSITIONS,
        {
            "roles": list(roles) if roles else None,
            "statuses": list(statuses),
            "fresh_since": fresh_since,
        },
    ).one()
    return np.asarray(row.lons, dtype=np.float64), np.asarray(row.lats, dtype=np.float64)


# -- storing a run -------------------------------------------------------------------------------
def insert_run(db: Executor, generation_id: int, parameters: dict[str, Any]) -> tuple[int, Any]:
    """A new run in state 'running'; returns (id, created_at)."""
    row = db.execute(
        text(
            """
            INSERT INTO coverage_runs (generation_id, parameters, status)
            VALUES (:generation_id, CAST(:parameters AS jsonb), 'running')
            RETURNING id, created_at
            """
        ),
        {"generation_id": generation_id, "parameters": json.dumps(parameters)},
    ).one()
    return int(row.id), row.created_at


def finish_run(
    db: Executor, run_id: int, *, summary: dict[str, Any], duration_s: float, cell_count: int
) -> None:
    """Record the summary and mark the run done."""
    db.execute(
        text(
            """
            UPDATE coverage_runs
            SET status = 'done', summary = CAST(:summary AS jsonb), duration_s = :duration_s,
                cell_count = :cell_count
            WHERE id = :run_id
            """
        ),
        {
            "run_id": run_id,
            "summary": json.dumps(summary),
            "duration_s": duration_s,
            "cell_count": cell_count,
        },
    )


CELL_COLUMNS = (
    "run_id",
    "seq",
    "h3",
    "grid_code",
    "lon",
    "lat",
    "area_m2",
    "population",
    "eta_s",
    "eta_k_s",
    "responders_within_target",
)


def _text_column(values: npt.NDArray[Any]) -> list[str]:
    """COPY text for one numeric column: repr-exact floats, \\N for NaN/inf (no ETA)."""
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        out = [repr(v) for v in values.tolist()]
        if not finite.all():
            for i in np.flatnonzero(~finite).tolist():
                out[i] = r"\N"
        return out
    return [str(v) for v in values.tolist()]


def copy_cells(db: Executor, run_id: int, columns: dict[str, npt.NDArray[Any]]) -> int:
    """Write a run's cells with one COPY (columns keyed like CELL_COLUMNS, minus run_id)."""
    count = len(columns["seq"])
    if count == 0:
        return 0
    rendered = [[str(run_id)] * count]
    for name in CELL_COLUMNS[1:]:
        values = columns[name]
        # Grid codes are digits and never need COPY escaping.
        rendered.append(
            list(values.tolist()) if values.dtype.kind in "OU" else _text_column(values)
        )
    payload = "\n".join("\t".join(row) for row in zip(*rendered, strict=True)) + "\n"
    raw = _raw_connection(db)
    with (
        raw.cursor() as cur,
        cur.copy(f"COPY coverage_cells ({', '.join(CELL_COLUMNS)}) FROM STDIN") as copy,
    ):
        copy.write(payload)
    return count


AREA_STAT_COLUMNS = (
    "run_id",
    "code",
    "level",
    "name",
    "parent_code",
    "cells",
    "population",
    "population_within_target",
    "population_share_within_target",
    "area_m2",
    "area_within_target_m2",
    "area_share_within_target",
    "eta_mean_s",
    "eta_p90_s",
    "eta_k_mean_s",
    "eta_k_p90_s",
    "responders",
    "responders_per_10k",
)


def insert_area_stats(db: Executor, run_id: int, rows: Sequence[dict[str, Any]]) -> int:
    """Write the per-area summary rows of a run with one COPY."""
    raw = _raw_connection(db)
    columns = AREA_STAT_COLUMNS[1:]
    with (
        raw.cursor() as cur,
        cur.copy(f"COPY coverage_area_stats ({', '.join(AREA_STAT_COLUMNS)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row([run_id, *(row[c] for c in columns)])
    return len(rows)


# -- reading runs --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunRow:
    """One stored coverage run."""

    id: int
    created_at: datetime
    generation_id: int
    status: str
    parameters: dict[str, Any]
    summary: dict[str, Any]
    duration_s: float | None
    cell_count: int


_RUN_COLUMNS = "id, created_at, generation_id, status, parameters, summary, duration_s, cell_count"


def _run_row(row: Any) -> RunRow:
    return RunRow(
        id=int(row.id),
        created_at=row.created_at,
        generation_id=int(row.generation_id),
        status=row.status,
        parameters=dict(row.parameters),
        summary=dict(row.summary),
        duration_s=None if row.duration_s is None else float(row.duration_s),
        cell_count=int(row.cell_count),
    )


def get_run(db: Executor, run_id: int) -> RunRow:
    """One run; NotFound when it does not exist."""
    row = db.execute(
        text(f"SELECT {_RUN_COLUMNS} FROM coverage_runs WHERE id = :run_id"), {"run_id": run_id}
    ).first()
    if row is None:
        raise NotFound(f"Coverage run {run_id} does not exist.", field="run_id")
    return _run_row(row)


def list_runs(db: Executor, *, before: int | None, limit: int) -> list[RunRow]:
    """Runs newest first, keyset-paged on id."""
    rows = db.execute(
        text(
            f"""
            SELECT {_RUN_COLUMNS} FROM coverage_runs
            WHERE CAST(:before AS bigint) IS NULL OR id < :before
            ORDER BY id DESC LIMIT :limit
            """
        ),
        {"before": before, "limit": limit},
    )
    return [_run_row(r) for r in rows]


def area_stats(db: Executor, run_id: int, level: str | None) -> list[dict[str, Any]]:
    """A run's per-area rows of one level (all levels when None), city first then by code."""
    rows = db.execute(
        text(
            f"""
            SELECT {", ".join(AREA_STAT_COLUMNS[1:])}
            FROM coverage_area_stats
            WHERE run_id = :run_id AND (CAST(:level AS varchar) IS NULL OR level = :level)
            ORDER BY array_position(CAST(:levels AS varchar[]), level::varchar),
                     code
            """
        ),
        {"run_id": run_id, "level": level, "levels": list(AREA_LEVELS)},
    )
    return [dict(r._mapping) for r in rows]


# Cells whose centre lies in a box, or all of them when the box is absent (_bbox_params).
_IN_BBOX = """(CAST(:min_lon AS float8) IS NULL OR (
                   lon BETWEEN :min_lon AND :max_lon AND lat BETWEEN :min_lat AND :max_lat))"""


def _bbox_params(bbox: tuple[float, float, float, float] | None) -> dict[str, float | None]:
    min_lon, min_lat, max_lon, max_lat = bbox if bbox is not None else (None, None, None, None)
    return {"min_lon": min_lon, "min_lat": min_lat, "max_lon": max_lon, "max_lat": max_lat}


def cells_page(
    db: Executor,
    run_id: int,
    *,
    bbox: tuple[float, float, float, float] | None,
    after: int,
    limit: int,
) -> list[dict[str, Any]]:
    """Cells of a run whose centre lies in `bbox` (lon/lat), in seq order after `after`."""
    rows = db.execute(
        text(
            f"""
            SELECT seq, h3, grid_code, lon, lat, area_m2, population, eta_s, eta_k_s,
                   responders_within_target
            FROM coverage_cells
            WHERE run_id = :run_id AND seq > :after
              AND {_IN_BBOX}
            ORDER BY seq
            LIMIT :limit
            """
        ),
        {
            "run_id": run_id,
            "after": after,
            "limit": limit,
            **_bbox_params(bbox),
        },
    )
    return [dict(r._mapping) for r in rows]


def cells_page_per_cell(
    db: Executor,
    run_id: int,
    *,
    bbox: tuple[float, float, float, float] | None,
    after: int,
    limit: int,
) -> list[dict[str, Any]]:
    """Like `cells_page`, one row per H3 cell: its rows' people summed, `grid_codes` in seq
    order (the grid holding the centre first when one does)."""
    rows = db.execute(
        text(
            f"""
            SELECT min(seq) AS seq, h3, array_agg(grid_code ORDER BY seq) AS grid_codes,
                   sum(population) AS population, min(eta_s) AS eta_s,
                   min(eta_k_s) AS eta_k_s,
                   max(responders_within_target) AS responders_within_target
            FROM coverage_cells
            WHERE run_id = :run_id
              AND {_IN_BBOX}
            GROUP BY h3
            HAVING min(seq) > :after
            ORDER BY min(seq)
            LIMIT :limit
            """
        ),
        {
            "run_id": run_id,
            "after": after,
            "limit": limit,
            **_bbox_params(bbox),
        },
    )
    return [dict(r._mapping) for r in rows]


def run_cells(db: Executor, run_id: int) -> dict[str, npt.NDArray[Any]]:
    """Every cell of a run as column arrays (seq order), with the grid's kind for its setting."""
    raw = _raw_connection(db)
    with raw.cursor() as cur:
        cur.execute(
            """
            SELECT c.h3, c.grid_code, c.lon, c.lat, c.area_m2, c.population,
                   COALESCE(c.eta_s, 'Infinity'::float8), COALESCE(c.eta_k_s, 'Infinity'::float8),
                   c.responders_within_target, a.kind
            FROM coverage_cells c
            JOIN coverage_runs r ON r.id = c.run_id
            LEFT JOIN areas a
              ON a.generation_id = r.generation_id AND a.code = c.grid_code
            WHERE c.run_id = %s
            ORDER BY c.seq
            """,
            (run_id,),
        )
        rows = cur.fetchall()
    names = (
        "h3",
        "grid_code",
        "lon",
        "lat",
        "area_m2",
        "population",
        "eta_s",
        "eta_k_s",
        "responders_within_target",
        "kind",
    )
    kinds = {
        "h3": np.int64,
        "lon": np.float64,
        "lat": np.float64,
        "area_m2": np.float64,
        "population": np.float64,
        "eta_s": np.float64,
        "eta_k_s": np.float64,
        "responders_within_target": np.int64,
    }
    columns: dict[str, npt.NDArray[Any]] = {}
    for i, name in enumerate(names):
        values = [r[i] for r in rows]
        columns[name] = np.asarray(values, dtype=kinds.get(name, object))
    return columns


# A run's cells for the map, as columns: one binary COPY parsed by numpy (a res-9 city run is
# ~143,000 rows; row objects would take several times longer). Every field has a fixed width:
# a missing ETA comes as NaN, the grid code padded to the column's 20 characters.
_CELL_COLUMNS_COPY = """
    COPY (
        SELECT h3, lon, lat, population, COALESCE(eta_s, 'NaN'), responders_within_target,
               rpad(grid_code, 20)
        FROM coverage_cells WHERE run_id = %(run_id)s ORDER BY seq
    ) TO STDOUT (FORMAT binary)
    """
_COPY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("h3_size", ">i4"),
        ("h3", ">i8"),
        ("lon_size", ">i4"),
        ("lon", ">f8"),
        ("lat_size", ">i4"),
        ("lat", ">f8"),
        ("population_size", ">i4"),
        ("population", ">f8"),
        ("eta_size", ">i4"),
        ("eta", ">f8"),
        ("reached_size", ">i4"),
        ("reached", ">i4"),
        ("grid_size", ">i4"),
        ("grid", "S20"),
    ]
)
_COPY_HEADER = 19  # signature, flags, header extension length
_COPY_TRAILER = 2


def cell_columns(db: Executor, run_id: int) -> dict[str, npt.NDArray[Any]]:
    """A run's cell rows in `seq` order as arrays: h3 (int64), lon, lat, population, eta_s
    (NaN where no responder counts), responders_within_target (int32), grid_code (bytes)."""
    payload = bytearray()
    raw = _raw_connection(db)
    with raw.cursor() as cur, cur.copy(_CELL_COLUMNS_COPY, {"run_id": run_id}) as copy:
        for chunk in copy:
            payload += chunk
    body = payload[_COPY_HEADER : len(payload) - _COPY_TRAILER]
    if len(body) % _COPY_ROW.itemsize:
        raise ValueError("unexpected COPY row layout for coverage_cells")  # a code not ASCII
    rows = np.frombuffer(bytes(body), dtype=_COPY_ROW)
    if len(rows) and not ((rows["fields"] == 7).all() and (rows["grid_size"] == 20).all()):
        raise ValueError("unexpected COPY row layout for coverage_cells")
    return {
        "h3": rows["h3"].astype(np.int64),
        "lon": rows["lon"].astype(np.float64),
        "lat": rows["lat"].astype(np.float64),
        "population": rows["population"].astype(np.float64),
        "eta_s": rows["eta"].astype(np.float64),
        "responders_within_target": rows["reached"].astype(np.int32),
        "grid_code": np.char.rstrip(rows["grid"]),
    }


def delete_run(db: Executor, run_id: int) -> None:
    """Delete a run; its cells and statistics go with it (ON DELETE CASCADE)."""
    db.execute(text("DELETE FROM coverage_runs WHERE id = :id"), {"id": run_id})


def runs_created_before(db: Executor, cutoff: datetime) -> list[int]:
    """Ids of the runs created before `cutoff`, oldest first."""
    rows = db.execute(
        text("SELECT id FROM coverage_runs WHERE created_at < :cutoff ORDER BY id"),
        {"cutoff": cutoff},
    )
    return [int(r[0]) for r in rows]
