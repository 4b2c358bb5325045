"""The `gridgis` command: database, demo data, lookups, export and the API server."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
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
apikey_app = typer.Typer(help="API keys: create (shown once), list, revoke.")
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(export_app, name="export")
app.add_typer(apikey_app, name="apikey")

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
    out: Annotated[Path, typer.Option(help="Output file (.geojson, .gpkg or .shp)")],
    level: Annotated[
        Literal["city", "county", "township", "grid"] | None, typer.Option(help="Only this level")
    ] = None,
    generation: Annotated[int | None, typer.Option(help="Generation (default active)")] = None,
    format: Annotated[
        Literal["geojson", "gpkg", "shp"] | None,
        typer.Option("--format", help="Output format (default: from the file suffix)"),
    ] = None,
) -> None:
    """Write areas (code, name, level, parent, kind, population, generation) for GIS tools:
    GeoJSON (the same as GET /v1/areas), GeoPackage, or Shapefile (UTF-8 .cpg, .prj)."""
    from gridgis.boundaries.export import export_areas as export_areas_file

    suffix = out.suffix.lower().lstrip(".")
    fmt = format or {"gpkg": "gpkg", "shp": "shp"}.get(suffix, "geojson")
    with _engine(get_settings()) as engine, engine.connect() as conn:
        try:
            count = export_areas_file(conn, out, fmt=fmt, level=level, generation=generation)
        except GridgisError as exc:
            raise _fail(exc.message) from exc
    console.print(f"wrote {count:,} areas to {out} ({fmt})")


# -- boundary imports and generations ----------------------------------------------------------
import_app = typer.Typer(help="Import real boundary files as a new, checked generation.")
generations_app = typer.Typer(help="Boundary generations: list, activate (and roll back).")
app.add_typer(import_app, name="import")
app.add_typer(generations_app, name="generations")


def _print_report(report: dict[str, object]) -> None:
    from gridgis.boundaries.generations import report_lines

    for line in report_lines(report):
        console.print(line, highlight=False)


@import_app.command("boundaries")
def import_boundaries(
    file: Annotated[Path, typer.Argument(help="GeoJSON, Shapefile (.shp or .zip) or GeoPackage")],
    level: Annotated[Literal["city", "county", "township", "grid"], typer.Option()],
    layer: Annotated[str | None, typer.Option(help="Layer (GeoPackage)")] = None,
    code_field: Annotated[str | None, typer.Option(help="Field with the area code")] = None,
    name_field: Annotated[str | None, typer.Option(help="Field with the name")] = None,
    parent_field: Annotated[str | None, typer.Option(help="Field with the parent code")] = None,
    kind_field: Annotated[str | None, typer.Option(help="Field with the kind")] = None,
    population_field: Annotated[str | None, typer.Option(help="Field with population")] = None,
    crs: Annotated[
        str | None, typer.Option(help="EPSG:nnnn, wgs84, gcj02 or bd09 (default: the file's)")
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help="Shapefile DBF encoding (default: .cpg, else detected)")
    ] = None,
    activate: Annotated[bool, typer.Option(help="Activate when the checks pass")] = False,
    force: Annotated[bool, typer.Option(help="Activate even with QA errors")] = False,
    base: Annotated[
        int | None, typer.Option(help="Copy other levels from this generation (0: none)")
    ] = None,
    label: Annotated[str | None, typer.Option(help="Generation label")] = None,
    tolerance_m2: Annotated[float, typer.Option(help="Ignore defects smaller than this")] = 1.0,
    sliver_width_m: Annotated[float, typer.Option(help="Thinner defects are slivers")] = 2.0,
    report: Annotated[Path | None, typer.Option(help="Write the QA report (JSON) here")] = None,
) -> None:
    """Stage a boundary file as a new generation, check it, and activate it when asked.

    Exit code 0 when the file has no QA errors, 2 when it has (the report says which)."""
    import json

    from gridgis.boundaries.generations import ImportRequest, check_thresholds, import_file
    from gridgis.boundaries.imports import ImportOptions

    settings = get_settings()
    try:
        options = ImportOptions(
            level=level,
            layer=layer,
            code_field=code_field,
            name_field=name_field,
            parent_field=parent_field,
            kind_field=kind_field,
            population_field=population_field,
            crs=crs,
            encoding=encoding,
        )
        request = ImportRequest(
            activate=activate or force,
            force=force,
            base_generation=base,
            label=label,
            actor="cli",
            thresholds=check_thresholds(tolerance_m2, sliver_width_m),
        )
    except GridgisError as exc:
        raise _fail(exc.message) from exc
    with _engine(settings) as engine, engine.connect() as conn:
        _migrate(conn)
        conn.commit()
        try:
            with conn.begin(), console.status(f"importing {file.name}"):
                result = import_file(conn, file, options, request)
        except GridgisError as exc:
            raise _fail(f"{exc.message} ({exc.field})" if exc.field else exc.message) from exc
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(result, ensure_ascii=False, indent=1, default=str) + "\n")
        console.print(f"report written to {report}")
    _print_report(result)
    if result["errors"]:
        raise typer.Exit(code=2)


@generations_app.command("list")
def generations_list() -> None:
    """List generations (newest first): status, areas per level, QA errors and warnings."""
    from gridgis.boundaries.generations import list_generations

    with _engine(get_settings()) as engine, engine.connect() as conn:
        _migrate(conn)
        rows = list_generations(conn)
    table = Table(title="boundary generations")
    for column in ("id", "status", "label", "areas", "errors", "warnings", "created", "activated"):
        table.add_column(column)
    for g in rows:
        table.add_row(
            str(g["id"]),
            g["status"],
            g["label"],
            ", ".join(f"{level} {n}" for level, n in sorted(g["areas"].items())),
            str(g["errors"]),
            str(g["warnings"]),
            f"{g['created_at']:%Y-%m-%d %H:%M}",
            f"{g['activated_at']:%Y-%m-%d %H:%M}" if g["activated_at"] else "-",
        )
    console.print(table)


@generations_app.command("activate")
def generations_activate(
    generation: Annotated[int, typer.Argument(help="Generation id (an older one rolls back)")],
    force: Annotated[bool, typer.Option(help="Activate even with QA errors")] = False,
) -> None:
    """Make a generation the one lookups use (one transaction, audited)."""
    from gridgis.boundaries.generations import activate_generation

    with _engine(get_settings()) as engine, engine.begin() as conn:
        try:
            outcome = activate_generation(conn, generation, actor="cli", force=force)
        except GridgisError as exc:
            raise _fail(exc.message) from exc
    if outcome["changed"]:
        console.print(f"generation {generation} is active (was {outcome['previous']})")
    else:
        console.print(f"generation {generation} was already active")


# -- API keys ----------------------------------------------------------------------------------
@apikey_app.command("create")
def apikey_create(
    role: Annotated[str, typer.Option(help="dispatcher, system, planner or admin")],
    name: Annotated[str, typer.Option(help="Who uses it (shown in the audit trail)")],
    unit: Annotated[
        int | None, typer.Option(help="A system key acting for this unit (patrol tasks) only")
    ] = None,
) -> None:
    """Create an API key. The key is printed once and never stored: copy it now."""
    from gridgis.audit import record
    from gridgis.auth import create_api_key
    from gridgis.settings import resolve_secret_key

    settings = get_settings()
    with _engine(settings) as engine, engine.begin() as conn:
        try:
            key_id, key = create_api_key(
                conn, resolve_secret_key(settings), name=name, role=role, unit_id=unit
            )
        except GridgisError as exc:
            raise _fail(exc.message) from exc
        record(
            conn,
            actor="cli",
            action="apikey.create",
            entity="api_key",
            entity_id=str(key_id),
            after={"name": name, "role": role, "unit_id": unit},
        )
    console.print(f"created {role} key #{key_id} '{name}' (shown once, store it safely):")
    typer.echo(key)


@apikey_app.command("list")
def apikey_list() -> None:
    """List keys (never the keys themselves)."""
    from gridgis.auth import list_api_keys

    with _engine(get_settings()) as engine, engine.connect() as conn:
        keys = list_api_keys(conn)
    table = Table(title="API keys")
    for column in ("id", "name", "role", "hint", "created", "last used", "revoked"):
        table.add_column(column)
    for k in keys:
        table.add_row(
            str(k["id"]),
            str(k["name"]),
            str(k["role"]),
            f"{k['key_hint']}...",
            f"{k['created_at']:%Y-%m-%d %H:%M}",
            f"{k['last_used_at']:%Y-%m-%d %H:%M}" if k["last_used_at"] else "-",
            f"{k['revoked_at']:%Y-%m-%d %H:%M}" if k["revoked_at"] else "-",
        )
    console.print(table)


@apikey_app.command("revoke")
def apikey_revoke(key: Annotated[str, typer.Argument(help="The key's name or id")]) -> None:
    """Revoke a key (takes effect within 10 seconds in running servers)."""
    from gridgis.audit import record
    from gridgis.auth import revoke_api_key

    with _engine(get_settings()) as engine, engine.begin() as conn:
        try:
            key_id = revoke_api_key(conn, key)
        except GridgisError as exc:
            raise _fail(exc.message) from exc
        record(conn, actor="cli", action="apikey.revoke", entity="api_key", entity_id=str(key_id))
    console.print(f"revoked key #{key_id}")


# -- serving -----------------------------------------------------------------------------------
def _reuseport_socket(host: str, port: int) -> socket.socket:
    """A TCP listening socket other processes may bind too (the kernel spreads connections)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio only sets TCP_NODELAY on connections whose socket says so.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _serve_worker(host: str, port: int) -> None:
    """One API process on a shared SO_REUSEPORT socket.

    Each worker owns a TCP socket asyncio recognises, so every connection gets TCP_NODELAY;
    with uvicorn's own multi-worker mode, responses larger than one segment waited ~40 ms
    on Nagle's algorithm (measured in docs/PERFORMANCE.md)."""
    import uvicorn

    from api.main import create_app

    config = uvicorn.Config(create_app(), log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[_reuseport_socket(host, port)])


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=16)] = 1,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs)."""
    import multiprocessing
    import signal

    import uvicorn

    settings = get_settings()
    try:
        url = prepare_database(settings)
    except GridgisError as exc:
        raise _fail(exc.message) from exc
    # The API processes read the same URL without starting anything themselves.
    os.environ.setdefault("GRIDGIS_DATABASE_URL", url)
    console.print(f"gridgis API on http://{host}:{port} (docs at /docs), {workers} worker(s)")
    if workers == 1:
        uvicorn.run("api.main:create_app", factory=True, host=host, port=port, access_log=False)
        return
    try:  # fail early and clearly when the port is taken
        _reuseport_socket(host, port).close()
    except OSError as exc:
        raise _fail(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_serve_worker, args=(host, port), daemon=True)
        for _ in range(workers)
    ]
    for process in processes:
        process.start()

    def stop(signum: int, frame: object) -> None:
        for process in processes:
            if process.is_alive():
                process.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for process in processes:
        process.join()


@app.command("up")
def up(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    seed: Annotated[int, typer.Option()] = 2080,
    volunteers: Annotated[int, typer.Option(min=0, max=1_000_000)] = 30_000,
) -> None:
    """The main job: start the database, migrate, load the Zhangzhou demo, serve the API.

    In development (GRIDGIS_ENV=dev, the default) it also makes a fresh admin key named "dev",
    prints it once and keeps it in .gridgis/dev-api-key (mode 600) for local tools; there is
    no such key in production."""
    demo_load(seed=seed, volunteers=volunteers, migrate=True)
    settings = get_settings()
    if settings.env == "dev":
        _issue_dev_key(settings)
    serve(host=host, port=port, workers=1)


def _issue_dev_key(settings: Settings) -> None:
    from gridgis.audit import record
    from gridgis.auth import create_api_key, revoke_api_key
    from gridgis.errors import NotFound
    from gridgis.settings import resolve_secret_key

    with _engine(settings) as engine, engine.begin() as conn:
        with suppress(NotFound):
            revoke_api_key(conn, "dev")
        key_id, key = create_api_key(conn, resolve_secret_key(settings), name="dev", role="admin")
        record(
            conn,
            actor="cli",
            action="apikey.create",
            entity="api_key",
            entity_id=str(key_id),
            after={"name": "dev", "role": "admin"},
        )
    path = settings.home / "dev-api-key"
    path.write_text(key + "\n")
    path.chmod(0o600)
    console.print(f"development admin key (shown once; also in {path}):")
    typer.echo(key)


# -- coverage and maps ---------------------------------------------------------------------------
coverage_app = typer.Typer(help="Coverage runs: who reaches every H3 cell within the target.")
map_app = typer.Typer(help="Offline HTML maps (Leaflet inlined, no CDN).")
app.add_typer(coverage_app, name="coverage")
app.add_typer(map_app, name="map")


def _split(value: str | None) -> tuple[str, ...] | None:
    items = tuple(v.strip() for v in (value or "").split(",") if v.strip())
    return items or None


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _mins(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 60:.1f}"


def _coverage_table(title: str, rows: list[dict[str, object]]) -> Table:
    table = Table(title=title)
    for column, justify in (
        ("area", "left"),
        ("population", "right"),
        ("people within target", "right"),
        ("area within target", "right"),
        ("mean ETA (min)", "right"),
        ("p90 ETA (min)", "right"),
        ("responders / 10k", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        per_10k = row["responders_per_10k"]
        table.add_row(
            f"{row['name']} ({row['code']})",
            f"{row['population']:,.0f}",
            _pct(row["population_share_within_target"]),  # type: ignore[arg-type]
            _pct(row["area_share_within_target"]),  # type: ignore[arg-type]
            _mins(row["eta_mean_s"]),  # type: ignore[arg-type]
            _mins(row["eta_p90_s"]),  # type: ignore[arg-type]
            "n/a" if per_10k is None else f"{per_10k:.1f}",
        )
    return table


def _run_with_progress(conn: Connection, settings: Settings, request: object) -> int:
    from gridgis.coverage.runs import CoverageRequest, run_coverage
    from gridgis.dispatch.eta import eta_model_from_settings

    assert isinstance(request, CoverageRequest)
    with _progress() as bar:
        task = bar.add_task("coverage", total=None)

        def report(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        run = run_coverage(
            conn,
            eta_model_from_settings(settings),
            request,
            stale_after_s=settings.stale_after_s,
            progress=report,
        )
    return run.id


@coverage_app.command("run")
def coverage_run(
    roles: Annotated[str | None, typer.Option(help="Comma-separated roles (default: all)")] = None,
    statuses: Annotated[str, typer.Option(help="Comma-separated statuses counted")] = "available",
    target: Annotated[
        float | None, typer.Option(help="Target in seconds (default GRIDGIS_ETA_TARGET_S)")
    ] = None,
    k: Annotated[int, typer.Option(min=1, max=10, help="Covered by at least k responders")] = 1,
    resolution: Annotated[int, typer.Option(min=5, max=10, help="H3 resolution")] = 9,
    generation: Annotated[int | None, typer.Option(help="Generation (default active)")] = None,
) -> None:
    """Compute and store a coverage run; print the city and county summary."""
    from gridgis.coverage.runs import CoverageRequest, area_summary, get_run

    settings = get_settings()
    request = CoverageRequest(
        roles=_split(roles),
        statuses=_split(statuses) or ("available",),
        target_s=target,
        k=k,
        resolution=resolution,
        generation_id=generation,
    )
    with _engine(settings) as engine, engine.connect() as conn:
        _migrate(conn)
        try:
            run_id = _run_with_progress(conn, settings, request)
            conn.commit()
            run = get_run(conn, run_id)
            rows = area_summary(conn, run_id, "city") + area_summary(conn, run_id, "county")
        except GridgisError as exc:
            raise _fail(exc.message) from exc
    params = run.parameters
    console.print(
        _coverage_table(
            f"coverage run {run.id}: {', '.join(params['roles'] or ['all roles'])}; "
            f"{', '.join(params['statuses'])}; target {params['target_s'] / 60:g} min; "
            f"k={params['k']}; H3 res {params['resolution']}",
            rows,
        )
    )
    timings = run.summary.get("timings_s", {})
    console.print(
        f"{run.cell_count:,} cells, {run.summary.get('responders_counted', 0):,} responders "
        f"counted; {run.duration_s or 0:.1f} s (fetch {timings.get('fetch')} s, compute "
        f"{timings.get('compute')} s, store {timings.get('store')} s)"
    )


@coverage_app.command("list")
def coverage_list(limit: Annotated[int, typer.Option(min=1, max=500)] = 20) -> None:
    """List stored coverage runs, newest first."""
    from gridgis.coverage.runs import list_runs

    with _engine(get_settings()) as engine, engine.connect() as conn:
        _migrate(conn)
        found = list_runs(conn, limit=limit)
    table = Table(title="coverage runs")
    for column in ("id", "created", "roles", "k", "target", "res", "people within target"):
        table.add_column(column)
    for run in found:
        p = run.parameters
        table.add_row(
            str(run.id),
            f"{run.created_at:%Y-%m-%d %H:%M}",
            ", ".join(p.get("roles") or ["all"]),
            str(p.get("k")),
            f"{float(p.get('target_s', 0)) / 60:g} min",
            str(p.get("resolution")),
            _pct(run.summary.get("population_share_within_target")),
        )
    console.print(table)


@coverage_app.command("summary")
def coverage_summary(
    run_id: Annotated[int, typer.Argument(help="Coverage run id")],
    level: Annotated[
        Literal["city", "county", "township", "grid"], typer.Option(help="Area level")
    ] = "county",
) -> None:
    """Print a stored run's statistics for one level."""
    from gridgis.coverage.runs import area_summary

    with _engine(get_settings()) as engine, engine.connect() as conn:
        try:
            rows = area_summary(conn, run_id, level)
        except GridgisError as exc:
            raise _fail(exc.message) from exc
    console.print(_coverage_table(f"coverage run {run_id}: {level}", rows))


def _read_candidates(path: Path) -> list[list[float]]:
    """lon,lat per line (a header line and blank lines are skipped)."""
    points = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 2 or not parts[0]:
            continue
        try:
            points.append([float(parts[0]), float(parts[1])])
        except ValueError:
            if number == 1:
                continue
            raise _fail(f"{path}:{number}: expected lon,lat") from None
    return points


@coverage_app.command("plan")
def coverage_plan(
    add: Annotated[int, typer.Option(min=1, max=200, help="How many new posts")],
    role: Annotated[str, typer.Option(help="Role of the new posts")] = "volunteer",
    run: Annotated[int | None, typer.Option(help="Plan on this run (default: a new run)")] = None,
    candidates: Annotated[
        Path | None, typer.Option(help="CSV of lon,lat candidate sites (default: grid centres)")
    ] = None,
    roles: Annotated[str | None, typer.Option(help="Roles counted by a new run")] = None,
    k: Annotated[int, typer.Option(min=1, max=10)] = 1,
    resolution: Annotated[int, typer.Option(min=5, max=10)] = 9,
    time_limit: Annotated[float, typer.Option(help="Seconds for the exact solver")] = 20.0,
) -> None:
    """Choose where to add posts to cover the most people within the target."""
    from gridgis.coverage.plan import plan_posts
    from gridgis.coverage.runs import CoverageRequest
    from gridgis.dispatch.eta import eta_model_from_settings

    settings = get_settings()
    points = _read_candidates(candidates) if candidates is not None else None
    with _engine(settings) as engine, engine.connect() as conn:
        _migrate(conn)
        try:
            run_id = run
            if run_id is None:
                request = CoverageRequest(roles=_split(roles), k=k, resolution=resolution)
                run_id = _run_with_progress(conn, settings, request)
                conn.commit()
            with console.status("solving the covering problem"):
                result = plan_posts(
                    conn,
                    eta_model_from_settings(settings),
                    run_id=run_id,
                    add=add,
                    role=role,
                    candidates=points,
                    time_limit_s=time_limit,
                )
        except GridgisError as exc:
            raise _fail(exc.message) from exc
    sites = Table(title=f"+{len(result.sites)} {role} posts on run {run_id} ({result.method})")
    for column in ("#", "site", "grid", "lon", "lat", "people gained"):
        sites.add_column(column)
    for site in result.sites:
        sites.add_row(
            str(site.rank),
            site.label,
            site.grid_code or "-",
            f"{site.lon:.6f}",
            f"{site.lat:.6f}",
            f"{site.population_gained:,.0f}",
        )
    console.print(sites)
    changes = Table(title="people within target, before -> after")
    for column in ("area", "before", "after"):
        changes.add_column(column)
    for change in [result.city, *result.counties]:
        if change is not None:
            changes.add_row(
                f"{change.name} ({change.code})",
                _pct(change.before.population_share_within_target),
                _pct(change.after.population_share_within_target),
            )
    console.print(changes)
    console.print(
        f"gained {result.population_gained:,.0f} people; upper bound "
        f"{result.upper_bound:,.0f}; gap {100 * result.gap:.2f}%"
    )


@map_app.command("assets")
def map_assets(force: Annotated[bool, typer.Option(help="Fetch again")] = False) -> None:
    """Fetch the pinned Leaflet npm packages that offline maps inline (setup runs this)."""
    from gridgis.mapping.assets import VENDOR_DIR, install_assets

    try:
        installed = install_assets(force=force)
    except GridgisError as exc:
        raise _fail(exc.message) from exc
    if installed:
        console.print(
            "installed " + ", ".join(f"{p.name}@{p.version} ({p.licence})" for p in installed)
        )
    else:
        console.print(f"map assets are up to date ({VENDOR_DIR})")


@map_app.command("coverage")
def map_coverage(
    run: Annotated[int, typer.Option(help="Coverage run id")],
    out: Annotated[Path, typer.Option(help="Output HTML")] = Path("maps/coverage.html"),
    plan_add: Annotated[int, typer.Option(min=0, max=200, help="Also plan N posts")] = 0,
    plan_role: Annotated[str, typer.Option(help="Role of planned posts")] = "volunteer",
) -> None:
    """Write the coverage map of a run (layers: ETA, grid shares, responders, stations, ...)."""
    from gridgis.coverage.plan import plan_posts
    from gridgis.dispatch.eta import eta_model_from_settings
    from gridgis.mapping.coverage_map import coverage_map_html, write_map

    settings = get_settings()
    with _engine(settings) as engine, engine.connect() as conn, _progress() as bar:
        task = bar.add_task("map", total=None)

        def report(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        try:
            plan = None
            if plan_add:
                report("planning", 0, 1)
                plan = plan_posts(
                    conn,
                    eta_model_from_settings(settings),
                    run_id=run,
                    add=plan_add,
                    role=plan_role,
                )
            page = coverage_map_html(
                conn,
                run,
                tiles=settings.tiles,
                stale_after_s=settings.stale_after_s,
                plan=plan,
                progress=report,
            )
        except GridgisError as exc:
            raise _fail(exc.message) from exc
    write_map(page, out)
    console.print(f"wrote {out} ({len(page.encode()) / 1e6:.1f} MB, works offline)")


@map_app.command("dispatch")
def map_dispatch(
    lon: Annotated[float, typer.Option(help="WGS84 longitude of the call")],
    lat: Annotated[float, typer.Option(help="WGS84 latitude of the call")],
    n: Annotated[int, typer.Option(min=1, max=100)] = 5,
    roles: Annotated[str | None, typer.Option(help="Comma-separated roles")] = None,
    out: Annotated[Path, typer.Option(help="Output HTML")] = Path("maps/dispatch.html"),
) -> None:
    """Write the map of a call: its grid and the nearest responders with their ETAs."""
    from gridgis.dispatch.eta import eta_model_from_settings
    from gridgis.mapping.coverage_map import write_map
    from gridgis.mapping.dispatch_map import dispatch_map_html

    settings = get_settings()
    with _engine(settings) as engine, engine.connect() as conn:
        try:
            page = dispatch_map_html(
                conn,
                lon,
                lat,
                eta_model_from_settings(settings),
                tiles=settings.tiles,
                n=n,
                roles=_split(roles),
                stale_after_s=settings.stale_after_s,
            )
        except GridgisError as exc:
            raise _fail(exc.message) from exc
    write_map(page, out)
    console.print(f"wrote {out}")


if __name__ == "__main__":
    app()


def _register_patrol_commands() -> None:
    from gridgis.patrols_cli import demo_patrols, demo_service_posts

    demo_app.command("patrols")(demo_patrols)
    demo_app.command("service-posts")(demo_service_posts)


_register_patrol_commands()
