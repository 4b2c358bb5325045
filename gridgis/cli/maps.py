"""`gridgis map`: offline HTML maps (Leaflet inlined, no CDN)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridgis.cli.common import console, fail, open_engine, progress_bar, split_list
from gridgis.errors import GridgisError
from gridgis.settings import get_settings

map_app = typer.Typer(help="Offline HTML maps (Leaflet inlined, no CDN).")


@map_app.command("assets")
def map_assets(force: Annotated[bool, typer.Option(help="Fetch again")] = False) -> None:
    """Fetch the pinned Leaflet npm packages that offline maps inline (setup runs this)."""
    from gridgis.mapping.assets import VENDOR_DIR, install_assets

    try:
        installed = install_assets(force=force)
    except GridgisError as exc:
        raise fail(exc.message) from exc
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
    with open_engine(settings) as engine, engine.connect() as conn, progress_bar() as bar:
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
            raise fail(exc.message) from exc
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
    """Write the map of a call: its grid and the nearest responders with their ETAs (and
    their road routes when GRIDGIS_ETA_MODEL=road)."""
    from gridgis.mapping.coverage_map import write_map
    from gridgis.mapping.dispatch_map import dispatch_map_html
    from gridgis.roads.provider import EtaProvider

    settings = get_settings()
    with open_engine(settings) as engine, engine.connect() as conn:
        try:
            page = dispatch_map_html(
                conn,
                lon,
                lat,
                EtaProvider(settings).model(conn),
                tiles=settings.tiles,
                n=n,
                roles=split_list(roles),
                stale_after_s=settings.stale_after_s,
            )
        except GridgisError as exc:
            raise fail(exc.message) from exc
    write_map(page, out)
    console.print(f"wrote {out}")
