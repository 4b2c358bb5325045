"""The migrations run both ways: an empty database goes to head, back to base and to head again,
and the schema they build is the one the models describe (autogenerate finds nothing)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

from gridgis.db.embedded import ensure_database
from gridgis.db.engine import make_engine
from gridgis.db.migrate import alembic_config, current_head
from gridgis.db.models import Base
from gridgis.settings import Settings

# PostGIS owns these (and its topology/tiger schemas when installed): not ours to compare.
POSTGIS_TABLES = {"spatial_ref_sys", "geography_columns", "geometry_columns"}


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Compare only gridgis' own objects."""
    if type_ == "table":
        return name not in POSTGIS_TABLES and getattr(obj, "schema", None) in (None, "public")
    return True


def differences(conn: Connection) -> list[Any]:
    """What Alembic autogenerate would emit to bring the database to the models."""
    context = MigrationContext.configure(
        conn, opts={"include_object": include_object, "compare_type": True}
    )
    return list(compare_metadata(context, Base.metadata))


@pytest.fixture()
def empty_database(settings: Settings, test_database_url: str) -> Iterator[Engine]:
    """A database of its own with only PostGIS in it, dropped afterwards."""
    url = make_url(test_database_url)
    name = f"{url.database}_migrations"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    ensure_database(admin, name, drop_first=True)
    engine = make_engine(
        settings, url=url.set(database=name).render_as_string(hide_password=False), pool_size=1
    )
    try:
        yield engine
    finally:
        engine.dispose()
        import psycopg

        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _own_objects(conn: Connection) -> dict[str, list[str]]:
    """Tables and functions of gridgis' own left in the public schema."""
    tables = conn.execute(
        text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> ALL(:postgis) ORDER BY tablename"
        ),
        {"postgis": sorted(POSTGIS_TABLES)},
    ).scalars()
    functions = conn.execute(
        text("SELECT proname FROM pg_proc WHERE proname LIKE 'gridgis%' ORDER BY proname")
    ).scalars()
    return {"tables": list(tables), "functions": list(functions)}


def test_upgrade_downgrade_upgrade_and_models_agree(empty_database: Engine) -> None:
    with empty_database.connect() as conn:
        config = alembic_config(connection=conn)
        command.upgrade(config, "head")
        conn.commit()
        assert differences(conn) == []

        command.downgrade(config, "base")
        conn.commit()
        assert _own_objects(conn) == {"tables": ["alembic_version"], "functions": []}

        command.upgrade(config, "head")
        conn.commit()
        assert MigrationContext.configure(conn).get_current_revision() == current_head()
        assert differences(conn) == []
