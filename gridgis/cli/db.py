"""`gridgis db`: the embedded private cluster or GRIDGIS_DATABASE_URL, and migrations."""

from __future__ import annotations

import typer
from rich.table import Table

from gridgis.cli.common import console, fail, migrate_schema, open_engine, prepare_database
from gridgis.errors import GridgisError
from gridgis.settings import get_settings

db_app = typer.Typer(help="The database: the embedded private cluster or GRIDGIS_DATABASE_URL.")


@db_app.command("start")
def db_start() -> None:
    """Start the embedded cluster (creating it and the database on first use)."""
    settings = get_settings()
    if settings.database_url is not None:
        console.print("GRIDGIS_DATABASE_URL is set: using that server, nothing to start.")
        return
    try:
        prepare_database(settings)
    except GridgisError as exc:
        raise fail(exc.message) from exc
    console.print(f"embedded PostGIS is running on 127.0.0.1:{settings.embedded_port}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded cluster."""
    from gridgis.db.embedded import EmbeddedCluster

    settings = get_settings()
    if settings.database_url is not None:
        console.print("GRIDGIS_DATABASE_URL is set: the external server is not managed by gridgis.")
        return
    stopped = EmbeddedCluster(settings).stop()
    console.print("stopped" if stopped else "was not running")


@db_app.command("status")
def db_status() -> None:
    """Say which database is used and whether it runs."""
    from gridgis.db.embedded import EmbeddedCluster

    settings = get_settings()
    if settings.database_url is not None:
        from sqlalchemy.engine import make_url

        console.print(f"external database: {make_url(settings.database_url)!r}")
        return
    status = EmbeddedCluster(settings).status()
    table = Table(title="embedded PostGIS cluster", show_header=False)
    table.add_row("data", str(status.data_dir))
    table.add_row("initialised", "yes" if status.initialised else "no")
    table.add_row("running", "yes" if status.running else "no")
    table.add_row("port", f"127.0.0.1:{status.port}")
    table.add_row("server binaries", str(status.bin_dir or "not found"))
    table.add_row("postgis available", "yes" if status.postgis_available else "no")
    console.print(table)
    if not status.running:
        raise typer.Exit(code=3)


@db_app.command("url")
def db_url() -> None:
    """Print the SQLAlchemy URL of the database in use (with its password: keep it private)."""
    from gridgis.db.engine import resolve_database_url

    try:
        typer.echo(resolve_database_url(get_settings()))
    except GridgisError as exc:
        raise fail(exc.message) from exc


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply Alembic migrations up to the newest schema."""
    with open_engine(get_settings(), bulk=True) as engine, engine.connect() as conn:
        migrate_schema(conn)
    console.print("schema is up to date")
