"""What every command group shares: consoles, failing cleanly, the database, progress."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Connection, Engine

from gridgis.errors import GridgisError
from gridgis.settings import Settings

console = Console()
err_console = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    # One line however narrow the terminal: it is often pasted into a ticket or a log.
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(code=1)


def prepare_database(settings: Settings, *, quiet: bool = False) -> str:
    """Make the configured database reachable: start the embedded cluster when it is the default.

    Returns the SQLAlchemy URL. With GRIDGIS_DATABASE_URL set, nothing is started.
    """
    if settings.database_url is not None:
        return settings.database_url
    from gridgis.db.embedded import EmbeddedCluster

    cluster = EmbeddedCluster(settings)
    if cluster.start() and not quiet:
        console.print(f"started the embedded PostGIS cluster on 127.0.0.1:{cluster.port}")
    cluster.ensure_database()
    return cluster.url()


@contextmanager
def open_engine(settings: Settings, *, bulk: bool = False) -> Iterator[Engine]:
    """The configured database's engine (`bulk`: for bulk and maintenance work, under
    GRIDGIS_BULK_STATEMENT_TIMEOUT_MS); a database failure ends the command with one line."""
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from gridgis.db.engine import make_engine
    from gridgis.db.failures import describe_database_failure

    try:
        url = prepare_database(settings)
    except GridgisError as exc:
        raise fail(exc.message) from exc
    engine = make_engine(settings, url=url, pool_size=2, bulk=bulk)
    try:
        yield engine
    except (DBAPIError, PoolTimeout) as exc:
        raise fail(describe_database_failure(exc, settings, bulk=bulk)) from exc
    finally:
        engine.dispose()


def migrate_schema(conn: Connection) -> None:
    from gridgis.db.migrate import upgrade
    from gridgis.db.roles import grant_app_privileges
    from gridgis.settings import get_settings

    try:
        upgrade(conn)
    except GridgisError as exc:
        raise fail(exc.message) from exc
    settings = get_settings()
    # New tables need the API role's grants: the embedded cluster's role, or an external
    # server's when GRIDGIS_APP_DATABASE_URL names one.
    if settings.uses_embedded:
        from gridgis.db.embedded import EmbeddedCluster

        EmbeddedCluster(settings).ensure_app_role()
    elif settings.app_database_url is not None:
        from sqlalchemy.engine import make_url

        role = make_url(settings.app_database_url).username
        if role:
            grant_app_privileges(conn, role)
            conn.commit()


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<14}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    )


def split_list(value: str | None) -> tuple[str, ...] | None:
    items = tuple(v.strip() for v in (value or "").split(",") if v.strip())
    return items or None
