"""`gridgis import roads` and `gridgis roads`: stage, check, activate, roll back road networks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from gridgis.cli.common import console, fail, migrate_schema, open_engine, progress_bar
from gridgis.errors import GridgisError
from gridgis.settings import get_settings
from gridgis.vocabulary import RoadProfile

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from gridgis.roads.networks import Progress, RoadImport

ActivateOption = Annotated[bool, typer.Option(help="Activate when the checks pass")]
ForceOption = Annotated[bool, typer.Option(help="Activate even with QA errors")]

roads_app = typer.Typer(help="Road networks: list, activate (and roll back).")


def print_report(report: dict[str, Any]) -> None:
    """The summary table of an import and its errors and warnings."""
    checks = report["checks"]
    table = Table(title=f"road network {report['network_id']}: {report['label']}")
    table.add_column("check")
    table.add_column("value", justify="right")
    rows = (
        ("profile", report["profile"]),
        ("ways read / used", f"{checks['ways_read']} / {checks['ways_used']}"),
        ("nodes", checks["nodes"]),
        ("edges (one-way)", f"{checks['edges']} ({checks['one_way_edges']})"),
        ("length km", checks["length_km"]),
        ("largest component", f"{checks['largest_component_share']:.1%}"),
        ("dead ends", f"{checks['dead_end_share']:.1%}"),
        ("edges with maxspeed", checks["edges_with_maxspeed"]),
        ("edges without speed", checks["edges_without_speed"]),
        ("urban edges", checks["urban_edges"]),
        ("grids near a road", f"{checks['grids_reached']} / {checks['grids']}"),
    )
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)
    for error in report["errors"]:
        console.print(f"[red]error[/red]: {error}", highlight=False)
    for warning in report["warnings"]:
        console.print(f"[yellow]warning[/yellow]: {warning}", highlight=False)
    if report.get("repriced_from"):
        console.print(
            f"repriced from network {report['repriced_from']} with the grids of generation "
            f"{report['priced_with_generation']}"
        )
    if report.get("speed_table_note"):
        console.print(f"[yellow]note[/yellow]: {report['speed_table_note']}", highlight=False)
    activation = report.get("activation")
    if activation:
        console.print(f"network {activation['active']} is active (was {activation['previous']})")
    elif report.get("activation_refused"):
        console.print(f"[red]not activated[/red]: {report['activation_refused']}")


def _stage_and_report(
    stage: Callable[[Connection, RoadImport, Progress], dict[str, Any]], **request: Any
) -> None:
    """Run a staging (an import, a repricing) of a `RoadImport(**request)` in one transaction
    under the bulk statement timeout, with a progress bar; print its report; exit code 2 when
    the network has QA errors."""
    from gridgis.roads.networks import RoadImport

    settings = get_settings()
    asked = RoadImport(statement_timeout_ms=settings.bulk_statement_timeout_ms, **request)
    with open_engine(settings) as engine, engine.connect() as conn:
        migrate_schema(conn)
        conn.commit()
        try:
            with conn.begin(), progress_bar() as bar:
                task = bar.add_task("reading", total=None)

                def report_progress(name: str, done: int, total: int) -> None:
                    bar.update(task, description=name, completed=done, total=total or None)

                report = stage(conn, asked, report_progress)
        except GridgisError as exc:
            raise fail(f"{exc.message} ({exc.field})" if exc.field else exc.message) from exc
    print_report(report)
    if report["errors"]:
        raise typer.Exit(code=2)


def import_roads(
    file: Annotated[Path, typer.Argument(help="OSM extract (.osm.pbf)")],
    profile: Annotated[RoadProfile, typer.Option(help="Who travels the network")] = "car",
    speeds: Annotated[
        Path | None, typer.Option(help="CSV of speeds overriding the defaults' rows")
    ] = None,
    activate: ActivateOption = False,
    force: ForceOption = False,
    label: Annotated[str | None, typer.Option(help="Network label")] = None,
) -> None:
    """Build a routable network from an OSM extract, check it, and activate it when asked.

    Exit code 0 when the network has no QA errors, 2 when it has (the report says which)."""
    from gridgis.roads.networks import import_network

    _stage_and_report(
        lambda conn, request, step: import_network(conn, file, request, step),
        profile=profile,
        speeds_file=speeds,
        label=label,
        activate=activate,
        force=force,
    )


@roads_app.command("list")
def roads_list() -> None:
    """List road networks (newest first): status, size, QA errors and warnings."""
    from gridgis.roads.networks import list_networks

    with open_engine(get_settings()) as engine, engine.connect() as conn:
        migrate_schema(conn)
        rows = list_networks(conn)
    table = Table(title="road networks")
    columns = ("id", "status", "label", "profile", "nodes", "edges", "errors", "warnings")
    for column in (*columns, "pricing"):
        table.add_column(column)
    for r in rows:
        priced = r["priced_with_generation"]
        table.add_row(
            *(str(r[c]) for c in columns),
            f"{r['pricing']} (generation {priced if priced is not None else '?'})",
        )
    console.print(table)


@roads_app.command("reprice")
def roads_reprice(
    network: Annotated[
        int | None, typer.Argument(help="Network id (default: the active network)")
    ] = None,
    speeds: Annotated[
        Path | None, typer.Option(help="CSV of speeds overriding the network's table's rows")
    ] = None,
    activate: ActivateOption = False,
    force: ForceOption = False,
    label: Annotated[str | None, typer.Option(help="Label of the new network")] = None,
) -> None:
    """Stage a copy of a network priced by the active boundary generation's urban and rural
    grids (after the boundaries changed), check it, and activate it when asked.

    Exit code 0 when the copy has no QA errors, 2 when it has (the report says which)."""
    from gridgis.roads.networks import reprice_network

    _stage_and_report(
        lambda conn, request, step: reprice_network(conn, network, request, step),
        speeds_file=speeds,
        label=label,
        activate=activate,
        force=force,
    )


@roads_app.command("activate")
def roads_activate(
    network: Annotated[int, typer.Argument(help="Network id (an older one rolls back)")],
    force: ForceOption = False,
) -> None:
    """Make a network the one road ETAs use (one transaction, audited)."""
    from gridgis.roads.networks import activate_network

    with open_engine(get_settings()) as engine, engine.begin() as conn:
        try:
            outcome = activate_network(conn, network, actor="cli", force=force)
        except GridgisError as exc:
            raise fail(exc.message) from exc
    if outcome["changed"]:
        console.print(f"road network {network} is active (was {outcome['previous']})")
    else:
        console.print(f"road network {network} was already active")
