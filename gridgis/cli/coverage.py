"""`gridgis coverage`: coverage runs (who reaches every H3 cell within the target) and plans."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import Connection

from gridgis.cli.common import console, fail, migrate_schema, open_engine, progress_bar, split_list
from gridgis.errors import GridgisError
from gridgis.settings import Settings, get_settings
from gridgis.vocabulary import AVAILABLE, AreaLevel

coverage_app = typer.Typer(help="Coverage runs: who reaches every H3 cell within the target.")


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


def _run_with_progress(
    conn: Connection, settings: Settings, request: object, eta_model: str | None = None
) -> int:
    from gridgis.coverage.runs import CoverageRequest, run_coverage
    from gridgis.roads.provider import EtaProvider

    assert isinstance(request, CoverageRequest)
    model = EtaProvider(settings).coverage_model(conn, eta_model)
    with progress_bar() as bar:
        task = bar.add_task("coverage", total=None)

        def report(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        run = run_coverage(
            conn, model, request, stale_after_s=settings.stale_after_s, progress=report
        )
    return run.id


@coverage_app.command("run")
def coverage_run(
    roles: Annotated[str | None, typer.Option(help="Comma-separated roles (default: all)")] = None,
    statuses: Annotated[str, typer.Option(help="Comma-separated statuses counted")] = AVAILABLE,
    target: Annotated[
        float | None, typer.Option(help="Target in seconds (default GRIDGIS_ETA_TARGET_S)")
    ] = None,
    k: Annotated[int, typer.Option(min=1, max=10, help="Covered by at least k responders")] = 1,
    resolution: Annotated[int, typer.Option(min=5, max=10, help="H3 resolution")] = 9,
    generation: Annotated[int | None, typer.Option(help="Generation (default active)")] = None,
    eta_model: Annotated[
        str | None,
        typer.Option(help="straight_line or road (default: GRIDGIS_ETA_MODEL)"),
    ] = None,
) -> None:
    """Compute and store a coverage run; print the city and county summary."""
    from gridgis.coverage.runs import CoverageRequest, area_summary, get_run

    settings = get_settings()
    request = CoverageRequest(
        roles=split_list(roles),
        statuses=split_list(statuses) or (AVAILABLE,),
        target_s=target,
        k=k,
        resolution=resolution,
        generation_id=generation,
    )
    with open_engine(settings, bulk=True) as engine, engine.connect() as conn:
        migrate_schema(conn)
        try:
            run_id = _run_with_progress(conn, settings, request, eta_model)
            conn.commit()
            run = get_run(conn, run_id)
            rows = area_summary(conn, run_id, "city") + area_summary(conn, run_id, "county")
        except GridgisError as exc:
            raise fail(exc.message) from exc
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

    with open_engine(get_settings()) as engine, engine.connect() as conn:
        migrate_schema(conn)
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
    level: Annotated[AreaLevel, typer.Option(help="Area level")] = "county",
) -> None:
    """Print a stored run's statistics for one level."""
    from gridgis.coverage.runs import area_summary

    with open_engine(get_settings()) as engine, engine.connect() as conn:
        try:
            rows = area_summary(conn, run_id, level)
        except GridgisError as exc:
            raise fail(exc.message) from exc
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
            raise fail(f"{path}:{number}: expected lon,lat") from None
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
    with open_engine(settings, bulk=True) as engine, engine.connect() as conn:
        migrate_schema(conn)
        try:
            run_id = run
            if run_id is None:
                request = CoverageRequest(roles=split_list(roles), k=k, resolution=resolution)
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
            raise fail(exc.message) from exc
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
