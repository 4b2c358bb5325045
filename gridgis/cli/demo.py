"""`gridgis demo`: generate and load the modelled Zhangzhou dataset and its incident history."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gridgis.cli.common import console, fail, migrate_schema, open_engine, progress_bar
from gridgis.errors import GridgisError
from gridgis.settings import get_settings
from gridgis.vocabulary import AREA_LEVELS

demo_app = typer.Typer(help="The modelled Zhangzhou demo dataset.")


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

    with progress_bar() as bar:
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
    with open_engine(settings, bulk=True) as engine, progress_bar() as bar:
        task = bar.add_task("generating", total=None)

        def report(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        data = generate_demo(seed=seed, volunteers=volunteers, progress=report)
        with engine.connect() as conn:
            if migrate:
                migrate_schema(conn)
            summary = load_demo(conn, data, progress=report)
            conn.commit()
    table = Table(title=f"Zhangzhou demo (seed {seed}, modelled data) loaded")
    table.add_column("what")
    table.add_column("count", justify="right")
    for level in AREA_LEVELS:
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
    with open_engine(settings, bulk=True) as engine, progress_bar() as bar:
        task = bar.add_task("incidents", total=None)

        def report(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        with engine.connect() as conn:
            migrate_schema(conn)
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
                raise fail(exc.message) from exc
            conn.commit()
    table = Table(title=f"demo incidents (seed {seed}, modelled data)")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("incidents", f"{summary.incidents:,}")
    table.add_row("events", f"{summary.events:,}")
    table.add_row("follow-up calls", f"{summary.follow_ups:,}")
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


@demo_app.command("roads")
def demo_roads(
    out: Annotated[Path, typer.Argument(help="The .osm.pbf file to write")],
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same network)")] = 2080,
    spacing: Annotated[float, typer.Option(min=50.0, help="Urban street spacing (m)")] = 150.0,
    rural_every: Annotated[
        int, typer.Option(min=1, help="Rural roads every n-th lattice line")
    ] = 4,
) -> None:
    """Write a MODELLED road network over the demo city (not OSM data), for `import roads`."""
    from gridgis.demo.roads import generate_roads, write_pbf

    with progress_bar() as bar:
        task = bar.add_task("generating", total=None)

        def report(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        roads = generate_roads(seed, spacing_m=spacing, rural_every=rural_every, progress=report)
        write_pbf(roads, out)
    console.print(
        f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB): {roads.node_count:,} nodes, "
        f"{roads.way_count:,} ways (modelled, seed {seed})"
    )
