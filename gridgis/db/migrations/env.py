"""Alembic environment: migrates the database gridgis is configured for (or a passed connection)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from gridgis.db.models import Base

config = context.config
target_metadata = Base.metadata

# PostGIS owns these; autogenerate must not try to drop them.
POSTGIS_TABLES = {"spatial_ref_sys", "geography_columns", "geometry_columns"}


def include_object(obj, name, type_, reflected, compare_to):
    return not (type_ == "table" and name in POSTGIS_TABLES)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    from gridgis.db.engine import make_engine
    from gridgis.settings import get_settings

    url = config.get_main_option("sqlalchemy.url") or None
    engine = make_engine(get_settings(), url=url, pool_size=1, bulk=True)
    with engine.connect() as conn:
        _configure(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("gridgis migrations run online only (they need PostGIS).")
run_migrations_online()
