"""`gridgis locate`: the grid containing a point, its hierarchy and its team."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from gridgis.cli.common import console, fail, open_engine
from gridgis.errors import GridgisError
from gridgis.settings import get_settings


def locate_command(
    lon: Annotated[float, typer.Option(help="WGS84 longitude")],
    lat: Annotated[float, typer.Option(help="WGS84 latitude")],
) -> None:
    """Print the grid containing a point, its hierarchy and its team."""
    from gridgis.boundaries.lookup import locate

    with open_engine(get_settings()) as engine, engine.connect() as conn:
        try:
            result = locate(conn, lon, lat)
        except GridgisError as exc:
            raise fail(exc.message) from exc
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
