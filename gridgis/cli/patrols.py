"""`gridgis demo patrols` and `gridgis demo service-posts`: modelled volunteer patrols and
cadres' service posts."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from gridgis.cli.common import console, fail, migrate_schema, open_engine, progress_bar
from gridgis.errors import GridgisError
from gridgis.settings import get_settings


def demo_patrols(
    weeks: Annotated[int, typer.Option(min=1, max=52, help="Weeks of history before today")] = 4,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same month)")] = 2080,
    units: Annotated[int, typer.Option(min=1, max=1000, help="How many units reserve")] = 60,
) -> None:
    """Replace the demo patrols with a modelled month: units reserving tasks, volunteers
    grabbing, cancelling and checking in and out (needs the demo loaded first)."""
    from gridgis.workflows.demo import generate_patrols

    settings = get_settings()
    with open_engine(settings) as engine, progress_bar() as bar:
        task = bar.add_task("patrols", total=None)

        def report(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        with engine.connect() as conn:
            migrate_schema(conn)
            try:
                summary = generate_patrols(
                    conn, weeks=weeks, seed=seed, units=units, progress=report
                )
            except GridgisError as exc:
                raise fail(exc.message) from exc
            conn.commit()
    table = Table(title=f"demo patrols (seed {seed}, modelled data)")
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, number in (
        ("units", summary.units),
        ("patrol tasks", summary.tasks),
        ("claims (grabs)", summary.claims),
        ("cancelled in time", summary.cancelled),
        ("cancelled late (no-show)", summary.no_shows),
        ("check-ins", summary.check_ins),
        ("check-outs", summary.check_outs),
    ):
        table.add_row(label, f"{number:,}")
    for reason, number in sorted(summary.refused.items()):
        table.add_row(f"grabs refused: {reason}", f"{number:,}")
    console.print(table)
    if summary.start and summary.end:
        console.print(
            f"tasks {summary.start:%Y-%m-%d} .. {summary.end:%Y-%m-%d} (UTC); "
            f"{summary.seconds:.1f} s"
        )


def demo_service_posts(
    seed: Annotated[int, typer.Option(help="Random seed")] = 2080,
) -> None:
    """Replace the demo service posts: posts in every grid, taken by the party cadres."""
    from gridgis.workflows.demo import generate_service_posts

    settings = get_settings()
    with open_engine(settings) as engine, engine.connect() as conn:
        migrate_schema(conn)
        try:
            summary = generate_service_posts(conn, seed=seed)
        except GridgisError as exc:
            raise fail(exc.message) from exc
        conn.commit()
    table = Table(title=f"demo service posts (seed {seed}, modelled data)")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("posts", f"{summary.posts:,}")
    table.add_row("posts claimed", f"{summary.claimed:,}")
    table.add_row("cadres with a post", f"{summary.cadres_with_posts:,}")
    table.add_row("grids", f"{summary.grids:,}")
    table.add_row("grids with every post claimed", f"{summary.grids_all_claimed:,}")
    console.print(table)
    console.print(f"{summary.seconds:.1f} s")


def register(demo_app: typer.Typer) -> None:
    """Add `patrols` and `service-posts` to `gridgis demo`."""
    demo_app.command("patrols")(demo_patrols)
    demo_app.command("service-posts")(demo_service_posts)
