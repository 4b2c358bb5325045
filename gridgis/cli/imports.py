"""`gridgis import` and `gridgis generations`: stage, check, activate and roll back boundaries."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gridgis.cli.common import console, fail, migrate_schema, open_engine
from gridgis.errors import GridgisError
from gridgis.settings import Settings, get_settings
from gridgis.vocabulary import AreaLevel

import_app = typer.Typer(help="Import real boundary files as a new, checked generation.")
generations_app = typer.Typer(help="Boundary generations: list, activate (and roll back).")


def _print_report(report: dict[str, object]) -> None:
    from gridgis.boundaries.generations import report_lines

    for line in report_lines(report):
        console.print(line, highlight=False)


@import_app.command("boundaries")
def import_boundaries(
    file: Annotated[Path, typer.Argument(help="GeoJSON, Shapefile (.shp or .zip) or GeoPackage")],
    level: Annotated[AreaLevel, typer.Option()],
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

    from gridgis.boundaries.generations import import_file, import_options

    settings = get_settings()
    try:
        options, request = import_options(
            level,
            layer=layer,
            code_field=code_field,
            name_field=name_field,
            parent_field=parent_field,
            kind_field=kind_field,
            population_field=population_field,
            crs=crs,
            encoding=encoding,
            activate=activate,
            force=force,
            base=base,
            label=label,
            actor="cli",
            tolerance_m2=tolerance_m2,
            sliver_width_m=sliver_width_m,
        )
    except GridgisError as exc:
        raise fail(exc.message) from exc
    with open_engine(settings, bulk=True) as engine, engine.connect() as conn:
        migrate_schema(conn)
        conn.commit()
        try:
            with conn.begin(), console.status(f"importing {file.name}"):
                result = import_file(conn, file, options, request)
        except GridgisError as exc:
            raise fail(f"{exc.message} ({exc.field})" if exc.field else exc.message) from exc
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(result, ensure_ascii=False, indent=1, default=str) + "\n")
        console.print(f"report written to {report}")
    _print_report(result)
    if result.get("activated"):
        _print_road_pricing(settings)
    if result["errors"]:
        raise typer.Exit(code=2)


def _print_road_pricing(settings: Settings) -> None:
    """Say so when the active road network was priced with other grids than the active ones."""
    from gridgis.roads.networks import pricing_notice

    with open_engine(settings) as engine, engine.connect() as conn:
        notice = pricing_notice(conn)
    if notice:
        console.print(f"[yellow]note[/yellow]: {notice}", highlight=False)


@generations_app.command("list")
def generations_list() -> None:
    """List generations (newest first): status, areas per level, QA errors and warnings."""
    from gridgis.boundaries.generations import list_generations

    with open_engine(get_settings()) as engine, engine.connect() as conn:
        migrate_schema(conn)
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

    with open_engine(get_settings()) as engine, engine.begin() as conn:
        try:
            outcome = activate_generation(conn, generation, actor="cli", force=force)
        except GridgisError as exc:
            raise fail(exc.message) from exc
    if outcome["changed"]:
        console.print(f"generation {generation} is active (was {outcome['previous']})")
        _print_road_pricing(get_settings())
    else:
        console.print(f"generation {generation} was already active")
