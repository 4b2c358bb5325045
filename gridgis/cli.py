"""The `gridgis` command: database, demo data, lookups, export and the API server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Connection, Engine

from gridgis.errors import GridgisError
from gridgis.settings import Settings, get_settings

app = typer.Typer(help="gridgis: grid management for city social governance, on PostGIS.")
db_app = typer.Typer(help="The database: the embedded private cluster or GRIDGIS_DATABASE_URL.")
demo_app = typer.Typer(help="The modelled Zhangzhou demo dataset.")
export_app = typer.Typer(help="Export data for GIS tools.")
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(export_app, name="export")

console = Console()
err_console = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
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
def _engine(settings: Settings) -> Iterator[Engine]:
    from gridgis.db.engine import make_engine

    try:
        url = prepare_database(settings)
    except GridgisError as exc:
        raise _fail(exc.message) from exc
    engine = make_engine(settings, url=url, pool_size=2)
    try:
        yield engine
    finally:
        engine.dispose()


def _migrate(conn: Connection) -> None:
    from gridgis.db.migrate import upgrade

    upgrade(conn)


# -- db ----------------------------------------------------------------------------------------
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
        raise _fail(exc.message) from exc
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
        raise _fail(exc.message) from exc


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply Alembic migrations up to the newest schema."""
    with _engine(get_settings()) as engine, engine.connect() as conn:
        _migrate(conn)
    console.print("schema is up to date")


# -- demo --------------------------------------------------------------------------------------
def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<14}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    )


@demo_app.command("generate")
def demo_generate(
    out: Annotated[Path, typer.Option(help="Folder for the generated files")] = Path(
        ".gridgis/demo"
    ),
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes)")] = 2080,
    volunteers: Annotated[int, typer.Option(min=0, max=1_000_000)] = 30_000,
) -> None:
    """Generate the modelled dataset to files (labelled modelled, reproducible from the seed)."""
    from gridgis.demo.generate import generate_demo, write_demo

    with _progress() as bar:
        task = bar.add_task("generating", total=None)

        def report(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        data = generate_demo(seed=seed, volunteers=volunteers, progress=report)
        files = write_demo(data, out)
    for path in files:
        console.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


@demo_app.command("load")
def demo_load(
    seed: Annotated[int, typer.Option(help="Random seed of the modelled data")] = 2080,
    volunteers: Annotated[int, typer.Option(min=0, max=1_000_000)] = 30_000,
    migrate: Annotated[bool, typer.Option(help="Apply migrations first")] = True,
) -> None:
    """Generate the demo and load it (idempotent: a second run leaves the same state)."""
    from gridgis.demo.generate import generate_demo
    from gridgis.demo.load import load_demo

    settings = get_settings()
    with _engine(settings) as engine, _progress() as bar:
        task = bar.add_task("generating", total=None)

        def report(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        data = generate_demo(seed=seed, volunteers=volunteers, progress=report)
        with engine.connect() as conn:
            if migrate:
                _migrate(conn)
            summary = load_demo(conn, data, progress=report)
            conn.commit()
    table = Table(title=f"Zhangzhou demo (seed {seed}, modelled data) loaded")
    table.add_column("what")
    table.add_column("count", justify="right")
    for level in ("city", "county", "township", "grid"):
        table.add_row(f"areas: {level}", f"{summary.areas.get(level, 0):,}")
    table.add_row("grid pieces (subdivided)", f"{summary.area_pieces:,}")
    table.add_row("facilities", f"{summary.facilities:,}")
    table.add_row("responders", f"{summary.responders:,}")
    table.add_row("assignments", f"{summary.assignments:,}")
    if summary.removed_responders:
        table.add_row("responders removed", f"{summary.removed_responders:,}")
    console.print(table)
    console.print(f"active generation: {summary.generation_id}")


@demo_app.command("incidents")
def demo_incidents(
    count: Annotated[int, typer.Option(min=0, max=1_000_000, help="How many incidents")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same history)")] = 2080,
    days: Annotated[int, typer.Option(min=1, max=366, help="Days of history before today")] = 30,
) -> None:
    """Replace the demo incidents with a modelled history (needs the demo loaded first)."""
    from gridgis.demo.incidents import generate_incidents
    from gridgis.dispatch.eta import eta_model_from_settings

    settings = get_settings()
    with _engine(settings) as engine, _progress() as bar:
        task = bar.add_task("incidents", total=None)

        def report(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        with engine.connect() as conn:
            _migrate(conn)
            try:
                summary = generate_incidents(
                    conn,
                    count,
                    seed,
                    eta_model_from_settings(settings),
                    report,
                    days=days,
                    stale_after_s=settings.stale_after_s,
                )
            except GridgisError as exc:
                raise _fail(exc.message) from exc
            conn.commit()
    table = Table(title=f"demo incidents (seed {seed}, modelled data)")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("incidents", f"{summary.incidents:,}")
    table.add_row("events", f"{summary.events:,}")
    table.add_row("outside every grid", f"{summary.outside_grids:,}")
    for state, number in summary.by_status.items():
        table.add_row(f"status: {state}", f"{number:,}")
    for code, number in summary.by_category.items():
        table.add_row(f"category: {code}", f"{number:,}")
    if summary.removed:
        table.add_row("previous demo incidents replaced", f"{summary.removed:,}")
    console.print(table)
    console.print(
        f"reported {summary.start:%Y-%m-%d %H:%M} .. {summary.end:%Y-%m-%d %H:%M} (UTC+8); "
        f"{summary.exact_recommendations:,} recommendations needed the per-incident path; "
        f"{summary.seconds:.1f} s"
    )


# -- lookups and export ------------------------------------------------------------------------
@app.command("locate")
def locate_command(
    lon: Annotated[float, typer.Option(help="WGS84 longitude")],
    lat: Annotated[float, typer.Option(help="WGS84 latitude")],
) -> None:
    """Print the grid containing a point, its hierarchy and its team."""
    from gridgis.boundaries.lookup import locate

    with _engine(get_settings()) as engine, engine.connect() as conn:
        try:
            result = locate(conn, lon, lat)
        except GridgisError as exc:
            raise _fail(exc.message) from exc
    console.print(" > ".join(f"{a['name']} ({a['code']})" for a in result.hierarchy))
    console.print(f"grid: {result.grid['name']} {result.grid['code']} [{result.grid['kind']}]")
    if result.also:
        console.print("also on the edge of: " + ", ".join(g["code"] for g in result.also))
    table = Table(title="2+N team")
    for column in ("id", "name", "duty", "status"):
        table.add_column(column)
    for member in result.team[:30]:
        table.add_row(str(member["responder_id"]), member["name"], member["duty"], member["status"])
    console.print(table)
    if len(result.team) > 30:
        console.print(f"... and {len(result.team) - 30} more")


@export_app.command("areas")
def export_areas(
    out: Annotated[Path, typer.Option(help="Output file (.geojson)")],
    level: Annotated[
        Literal["city", "county", "township", "grid"] | None, typer.Option(help="Only this level")
    ] = None,
    generation: Annotated[int | None, typer.Option(help="Generation (default active)")] = None,
) -> None:
    """Write areas as a GeoJSON FeatureCollection (the same as GET /v1/areas)."""
    from gridgis.boundaries.export import export_areas_geojson

    with _engine(get_settings()) as engine, engine.connect() as conn:
        try:
            count = export_areas_geojson(conn, out, level=level, generation=generation)
        except GridgisError as exc:
            raise _fail(exc.message) from exc
    console.print(f"wrote {count:,} areas to {out}")


# -- serving -----------------------------------------------------------------------------------
@app.command("serve")
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=16)] = 1,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs)."""
    import uvicorn

    settings = get_settings()
    try:
        url = prepare_database(settings)
    except GridgisError as exc:
        raise _fail(exc.message) from exc
    import os

    # The API process reads the same URL without restarting anything.
    os.environ.setdefault("GRIDGIS_DATABASE_URL", url)
    console.print(f"gridgis API on http://{host}:{port} (docs at /docs)")
    uvicorn.run("api.main:create_app", factory=True, host=host, port=port, workers=workers)


@app.command("up")
def up(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    seed: Annotated[int, typer.Option()] = 2080,
    volunteers: Annotated[int, typer.Option(min=0, max=1_000_000)] = 30_000,
) -> None:
    """The main job: start the database, migrate, load the Zhangzhou demo, serve the API."""
    demo_load(seed=seed, volunteers=volunteers, migrate=True)
    serve(host=host, port=port, workers=1)


if __name__ == "__main__":
    app()
