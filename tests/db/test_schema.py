"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from gridgis.db.migrate import current_head
from gridgis.db.models import Base


def test_models_and_migrations_agree(conn: Connection) -> None:
    """Fails when a model change lacks its migration (autogenerate would emit something)."""

    def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
        return not (type_ == "table" and name == "spatial_ref_sys")

    context = MigrationContext.configure(
        conn, opts={"include_object": include_object, "compare_type": True}
    )
    assert compare_metadata(context, Base.metadata) == []


def test_database_is_at_head(conn: Connection) -> None:
    context = MigrationContext.configure(conn)
    assert context.get_current_revision() == current_head()


def test_spatial_indexes_exist(conn: Connection) -> None:
    indexes = {
        (table, ix["name"])
        for table in ("areas", "area_pieces", "responders", "responder_positions", "facilities")
        for ix in inspect(conn).get_indexes(table)
    }
    for expected in [
        ("areas", "ix_areas_geom"),
        ("area_pieces", "ix_area_pieces_geom"),
        ("responders", "ix_responders_home_geom"),
        ("responders", "ix_responders_lane_plane"),
        ("responder_positions", "ix_responder_positions_lane_plane"),
        ("facilities", "ix_facilities_geom"),
    ]:
        assert expected in indexes
