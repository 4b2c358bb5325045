"""Loading the demo is idempotent and atomic."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, text

from gridgis.demo.generate import DemoData
from gridgis.demo.load import load_demo


def _snapshot(conn: Connection) -> dict[str, object]:
    return {
        "areas": conn.execute(text("SELECT COUNT(*) FROM areas")).scalar_one(),
        "pieces": conn.execute(text("SELECT COUNT(*) FROM area_pieces")).scalar_one(),
        "responders": conn.execute(
            text(
                "SELECT md5(string_agg(id || ':' || ref || ':' || ST_AsText(home), ','"
                " ORDER BY id)) FROM responders"
            )
        ).scalar_one(),
        "assignments": conn.execute(text("SELECT COUNT(*) FROM assignments")).scalar_one(),
        "facilities": conn.execute(text("SELECT COUNT(*) FROM facilities")).scalar_one(),
        "active": conn.execute(text("SELECT id FROM generations WHERE active")).scalar_one(),
    }


def test_loading_twice_leaves_the_same_state(conn: Connection, demo: DemoData) -> None:
    before = _snapshot(conn)
    load_demo(conn, demo)
    assert _snapshot(conn) == before


def test_a_failed_load_changes_nothing(conn: Connection, demo: DemoData) -> None:
    before = _snapshot(conn)
    data = demo
    broken = data.assignments.copy()
    broken.loc[0, "duty"] = "no_such_duty"  # violates the roles foreign key at the very end
    savepoint = conn.begin_nested()
    with pytest.raises(Exception, match="foreign key"):
        load_demo(conn, DemoData(data.seed, data.areas, data.facilities, data.responders, broken))
    savepoint.rollback()
    assert _snapshot(conn) == before
