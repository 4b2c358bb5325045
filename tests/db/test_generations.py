"""Generations: one-level imports on top of the active one, atomic activation, rollback, audit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import box, shape
from sqlalchemy import Connection, text

from gridgis.boundaries import generations
from gridgis.boundaries import sql as boundaries_sql
from gridgis.boundaries.generations import (
    ImportRequest,
    activate_generation,
    import_file,
    list_generations,
)
from gridgis.boundaries.imports import ImportOptions
from gridgis.boundaries.lookup import locate
from gridgis.db.engine import allow_bulk_statements
from gridgis.errors import Conflict, OutsideCoverage
from gridgis.settings import Settings

# A point in 芗城区 with a demo grid (README).
POINT = (117.65, 24.51)


@pytest.fixture(autouse=True)
def bulk_limit(conn: Connection, settings: Settings) -> None:
    """Imports are bulk work: the CLI and the API run them under the bulk statement limit, so
    the tests do too (the API's 10 s limit is for requests)."""
    allow_bulk_statements(conn, settings)


def active_id(conn: Connection) -> int:
    return boundaries_sql.active_generation_id(conn)


def export_grids(conn: Connection, path: Path, drop: str | None = None) -> dict[str, Any]:
    """The active generation's grids as a GeoJSON file (optionally without one grid)."""
    areas = boundaries_sql.list_areas(conn, active_id(conn), level="grid", precision=7)
    dropped = next(a for a in areas if a["code"] == drop) if drop else None
    features = [
        {
            "type": "Feature",
            "properties": {
                "code": a["code"],
                "name": a["name"],
                "parent_code": a["parent_code"],
                "kind": a["kind"],
                "population": a["population"],
            },
            "geometry": a["geometry"],
        }
        for a in areas
        if a["code"] != drop
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return dropped or {}


def counts(conn: Connection) -> tuple[int, int, int]:
    return tuple(  # type: ignore[return-value]
        conn.execute(
            text(
                "SELECT (SELECT COUNT(*) FROM generations), (SELECT COUNT(*) FROM areas), "
                "(SELECT COUNT(*) FROM area_pieces)"
            )
        ).one()
    )


def test_grid_import_replaces_one_level_and_lists_lost_staff(
    conn: Connection, tmp_path: Path
) -> None:
    demo = active_id(conn)
    grid_code = locate(conn, *POINT).grid["code"]
    dropped = export_grids(conn, tmp_path / "grids.geojson", drop=grid_code)
    report = import_file(
        conn, tmp_path / "grids.geojson", ImportOptions(level="grid"), ImportRequest()
    )
    new = report["generation"]
    assert report["base_generation"] == demo and not report["activated"]
    before = boundaries_sql.counts_by_level(conn, demo)
    assert report["areas"] == {**before, "grid": before["grid"] - 1}
    # The missing grid: a gap in its township, located and measured, and its staff listed.
    (gap,) = [f for f in report["errors"] if f["check"] == "gap"]
    assert gap["codes"] == [dropped["parent_code"]]
    lost = shape(dropped["geometry"])
    assert shapely.Point(gap["point"]).within(lost.buffer(1e-7))
    area = conn.execute(
        text("SELECT ST_Area(geom::geography) FROM areas WHERE generation_id = :g AND code = :c"),
        {"g": demo, "c": grid_code},
    ).scalar_one()
    assert gap["area_m2"] == pytest.approx(area, rel=1e-3)
    (removed,) = report["removed_grids"]
    assert removed["code"] == grid_code
    team = boundaries_sql.grid_team(conn, grid_code)
    assert team and {m["responder_id"] for m in removed["staff"]} == {
        m["responder_id"] for m in team
    }
    assert not [f for f in report["errors"] if f["check"] in ("overlap", "outside_parent")]
    # Staged, not active: lookups still answer from the demo; the new one is queryable.
    assert active_id(conn) == demo
    assert locate(conn, *POINT).generation == demo
    with pytest.raises(OutsideCoverage):
        locate(conn, *POINT, generation=new)
    with pytest.raises(Conflict):
        activate_generation(conn, new, actor="test")
    activate_generation(conn, new, actor="test", force=True)
    assert active_id(conn) == new
    statuses = {g["id"]: g["status"] for g in list_generations(conn)}
    assert statuses[new] == "active" and statuses[demo] == "retired"


def test_rollback_restores_lookups_and_is_audited(conn: Connection, tmp_path: Path) -> None:
    demo = active_id(conn)
    answer = locate(conn, *POINT)
    export_grids(conn, tmp_path / "grids.geojson")
    report = import_file(
        conn,
        tmp_path / "grids.geojson",
        ImportOptions(level="grid"),
        ImportRequest(activate=True, actor="tester"),
    )
    new = report["generation"]
    assert report["errors"] == [] and report["removed_grids"] == []
    assert report["activated"] and active_id(conn) == new
    assert locate(conn, *POINT).grid == answer.grid  # same codes: same answer, same team
    assert locate(conn, *POINT).team == answer.team
    activate_generation(conn, demo, actor="tester")
    assert active_id(conn) == demo
    assert locate(conn, *POINT).generation == demo
    entries = conn.execute(
        text(
            "SELECT actor, entity_id, before, after FROM audit_log "
            "WHERE action = 'generation.activate' ORDER BY id"
        )
    ).all()
    assert [(e.entity_id, e.before["active"], e.after["active"]) for e in entries[-2:]] == [
        (str(new), demo, new),
        (str(demo), new, demo),
    ]
    assert entries[-1].actor == "tester"


def test_failed_import_changes_nothing(
    conn: Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = active_id(conn)
    before = counts(conn)
    path = tmp_path / "county.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"code": "350602", "parent_code": "350600"},
                        "geometry": shapely.geometry.mapping(box(117.6, 24.4, 117.7, 24.5)),
                    }
                ],
            }
        )
    )

    def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("disk full while subdividing")

    monkeypatch.setattr(generations.boundaries_sql, "rebuild_area_pieces", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        import_file(
            conn, path, ImportOptions(level="county"), ImportRequest(activate=True, force=True)
        )
    # The savepoint is gone with everything in it: same generations, areas and pieces.
    assert counts(conn) == before
    assert active_id(conn) == demo
    assert locate(conn, *POINT).generation == demo
    monkeypatch.undo()
    # An activation failing half-way (after deactivating the old one) is undone the same way.
    report = import_file(conn, path, ImportOptions(level="county"), ImportRequest())
    monkeypatch.setattr(
        generations.audit, "record", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("x"))
    )
    with pytest.raises(RuntimeError), conn.begin_nested():
        activate_generation(conn, report["generation"], actor="t", force=True)
    assert active_id(conn) == demo


def test_activate_unknown_generation_is_not_found(conn: Connection) -> None:
    from gridgis.errors import NotFound

    with pytest.raises(NotFound):
        activate_generation(conn, 987654, actor="t")
