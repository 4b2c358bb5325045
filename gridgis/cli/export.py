"""`gridgis export`: data for GIS tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from gridgis.cli.common import console, fail, open_engine
from gridgis.errors import GridgisError
from gridgis.settings import get_settings
from gridgis.vocabulary import AreaLevel

export_app = typer.Typer(help="Export data for GIS tools.")


@export_app.command("areas")
def export_areas(
    out: Annotated[Path, typer.Option(help="Output file (.geojson, .gpkg or .shp)")],
    level: Annotated[AreaLevel | None, typer.Option(help="Only this level")] = None,
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
    with open_engine(get_settings()) as engine, engine.connect() as conn:
        try:
            count = export_areas_file(conn, out, fmt=fmt, level=level, generation=generation)
        except GridgisError as exc:
            raise fail(exc.message) from exc
    console.print(f"wrote {count:,} areas to {out} ({fmt})")
