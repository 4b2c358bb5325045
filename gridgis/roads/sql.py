"""SQL of road networks: stage a graph with COPY, check it against the areas, activate, read."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from gridgis.db import Executor

LOCK_IMPORT = text("SELECT pg_advisory_xact_lock(hashtext('gridgis.road_networks.import'))")
LOCK_ACTIVATE = text("SELECT pg_advisory_xact_lock(hashtext('gridgis.road_networks.activate'))")

NODE_COLUMNS = ("id", "network_id", "osm_id", "geom")
EDGE_COLUMNS = (
    "id",
    "network_id",
    "source",
    "target",
    "cost",
    "reverse_cost",
    "x1",
    "y1",
    "x2",
    "y2",
    "osm_way_id",
    "highway",
    "length_m",
    "speed_kmh",
    "speed_source",
    "oneway",
    "geom",
)


def _raw(db: Executor) -> Any:
    connection = db.connection() if isinstance(db, Session) else db
    assert isinstance(connection, Connection)
    raw = connection.connection.driver_connection
    assert raw is not None
    return raw


def set_local_statement_timeout(db: Executor, milliseconds: int) -> None:
    """The statement timeout for the rest of the caller's transaction."""
    db.execute(
        text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": f"{int(milliseconds)}"}
    )


def allocate_ids(db: Executor, sequence: str, count: int) -> list[int]:
    """`count` new ids from `sequence` (nextval only: the application role may not setval)."""
    found = db.execute(
        text("SELECT nextval(CAST(:s AS regclass)) FROM generate_series(1, :n) ORDER BY 1"),
        {"s": sequence, "n": count},
    )
    return [int(v) for v in found.scalars()]


def copy_rows(db: Executor, table: str, columns: Sequence[str], lines: Iterable[str]) -> None:
    """COPY pre-rendered text lines (tab-separated, newline-terminated) into `table`."""
    with (
        _raw(db).cursor() as cur,
        cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        buffer = io.StringIO()
        for count, line in enumerate(lines, start=1):
            buffer.write(line)
            if count % 20_000 == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())


_INSERT_NETWORK = text(
    """
    INSERT INTO road_networks (label, profile, source, source_sha256, node_count, edge_count,
                               top_speed_kmh, report)
    VALUES (:label, :profile, :source, :sha, :nodes, :edges, :top, CAST(:report AS jsonb))
    RETURNING id
    """
)


def insert_network(db: Executor, **values: Any) -> int:
    return int(db.execute(_INSERT_NETWORK, values).scalar_one())


def label_exists(db: Executor, label: str) -> bool:
    found = db.execute(text("SELECT 1 FROM road_networks WHERE label = :l"), {"l": label})
    return found.first() is not None


def update_report(db: Executor, network_id: int, report: str) -> None:
    db.execute(
        text("UPDATE road_networks SET report = CAST(:r AS jsonb) WHERE id = :n"),
        {"r": report, "n": network_id},
    )


# The setting of a point is its grid's (urban for community and street grids) in the active
# boundary generation; a point outside every grid is rural, as dispatch prices it.
_GRID_KINDS = text(
    """
    SELECT DISTINCT ON (q.i) q.i, a.kind
    FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY AS q(lon, lat, i)
    JOIN area_pieces p
      ON p.generation_id = :generation
     AND ST_Intersects(p.geom, ST_SetSRID(ST_MakePoint(q.lon, q.lat), 4326))
    JOIN areas a ON a.id = p.area_id AND a.level = 'grid'
    ORDER BY q.i, a.code
    """
)


def grid_kinds_at(
    db: Executor,
    lons: npt.NDArray[np.float64],
    lats: npt.NDArray[np.float64],
    generation_id: int | None,
) -> list[str | None]:
    """The kind of the generation's grid holding each point (None outside every grid, and
    everywhere when there is no generation)."""
    kinds: list[str | None] = [None] * len(lons)
    if generation_id is None:
        return kinds
    rows = db.execute(
        _GRID_KINDS, {"lons": lons.tolist(), "lats": lats.tolist(), "generation": generation_id}
    )
    for i, kind in rows:
        kinds[int(i) - 1] = kind
    return kinds


# How much of the city the network serves: the share of a generation's grids whose
# inner point lies within `reach_m` of one of its edges (the bounding-box test uses the GiST
# index; the geography test measures metres on the spheroid). The network's rows were just
# written and have no statistics yet: `network_id + 0` keeps the planner from reading all of
# them through the network index for every grid (minutes on a city network).
_GRID_REACH = text(
    """
    WITH g AS (
        SELECT ST_PointOnSurface(geom) AS p
        FROM areas
        WHERE generation_id = :generation AND level = 'grid'
    )
    SELECT count(*) AS grids,
           count(*) FILTER (WHERE EXISTS (
               SELECT 1 FROM road_edges e
               WHERE e.network_id + 0 = :n
                 AND e.geom && ST_Expand(g.p, :deg)
                 AND ST_DWithin(e.geom::geography, g.p::geography, :reach_m))) AS reached
    FROM g
    """
)


def grid_reach(
    db: Executor, network_id: int, reach_m: float, generation_id: int | None
) -> tuple[int, int]:
    """(grids of the generation, grids within `reach_m` of the network)."""
    # A degree of latitude is at least 110.5 km; longitude degrees shrink, so double the box
    # (Zhangzhou lies at 24 N, where a degree of longitude is still above 100 km).
    row = db.execute(
        _GRID_REACH,
        {
            "n": network_id,
            "reach_m": reach_m,
            "deg": 2 * reach_m / 110_000,
            "generation": generation_id,
        },
    ).one()
    return int(row.grids), int(row.reached)


def activate(db: Executor, network_id: int) -> int | None:
    """Make `network_id` the active network; returns the one that was (caller holds the lock)."""
    previous = db.execute(text("SELECT id FROM road_networks WHERE active FOR UPDATE")).first()
    db.execute(text("UPDATE road_networks SET active = false WHERE active"))
    db.execute(
        text("UPDATE road_networks SET active = true, activated_at = now() WHERE id = :n"),
        {"n": network_id},
    )
    return None if previous is None else int(previous[0])


def network_row(db: Executor, network_id: int, *, lock: bool = False) -> Any:
    sql = "SELECT * FROM road_networks WHERE id = :n" + (" FOR UPDATE" if lock else "")
    return db.execute(text(sql), {"n": network_id}).first()


def active_network_id(db: Executor) -> int | None:
    found = db.execute(text("SELECT id FROM road_networks WHERE active")).scalar()
    return None if found is None else int(found)


def list_networks(db: Executor) -> list[Any]:
    return list(
        db.execute(
            text(
                """
                SELECT id, label, profile, source, source_sha256, created_at, activated_at,
                       active, node_count, edge_count, top_speed_kmh, report
                FROM road_networks ORDER BY id DESC
                """
            )
        )
    )


_NODES = text(
    "SELECT id, osm_id, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM road_nodes"
    " WHERE network_id = :n ORDER BY id"
)
_EDGES = text(
    """
    SELECT id, source, target, cost, reverse_cost, length_m, speed_kmh, speed_source, highway,
           osm_way_id, oneway, ST_AsBinary(geom) AS wkb
    FROM road_edges WHERE network_id = :n ORDER BY id
    """
)


def network_nodes(db: Executor, network_id: int) -> list[Any]:
    return list(db.execute(_NODES, {"n": network_id}))


def network_edges(db: Executor, network_id: int) -> list[Any]:
    return list(db.execute(_EDGES, {"n": network_id}))
