"""Run Alembic migrations programmatically (used by the CLI, the setup script and the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import Connection, text

from gridgis.errors import Conflict


class SchemaUnknown(Conflict):
    """The database was migrated by a version of gridgis this one does not know."""

    code = "schema_unknown"


MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Migrate the database behind `connection` to `revision` (commits), under the bulk
    statement limit (GRIDGIS_BULK_STATEMENT_TIMEOUT_MS): a migration may rewrite every row."""
    from gridgis.db.engine import allow_bulk_statements
    from gridgis.settings import get_settings

    allow_bulk_statements(connection, get_settings())
    try:
        command.upgrade(alembic_config(connection=connection), revision)
    except CommandError as exc:
        if "Can't locate revision" not in str(exc):
            raise
        connection.rollback()
        found = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        raise SchemaUnknown(
            f"The database's schema is at revision {', '.join(found) or '?'}, which this "
            f"version of gridgis does not know (its newest is {current_head()}): it was "
            "migrated by another version. Run that version, or point gridgis at another "
            "database."
        ) from None
    connection.commit()


def current_head() -> str | None:
    """The newest revision shipped with this version of gridgis."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
