"""The `gridgis` command: database, demo data, lookups, export, imports, coverage, maps, the API."""

from __future__ import annotations

import typer

from gridgis.cli import (
    apikey,
    coverage,
    db,
    demo,
    export,
    imports,
    locate,
    maps,
    patrols,
    roads,
    serve,
    up,
    user,
)
from gridgis.cli.common import prepare_database

__all__ = ["app", "prepare_database"]

app = typer.Typer(help="gridgis: grid management for city social governance, on PostGIS.")
app.add_typer(db.db_app, name="db")
app.add_typer(demo.demo_app, name="demo")
patrols.register(demo.demo_app)
app.add_typer(export.export_app, name="export")
app.add_typer(apikey.apikey_app, name="apikey")
app.add_typer(user.user_app, name="user")
app.command("locate")(locate.locate_command)
app.add_typer(imports.import_app, name="import")
app.add_typer(imports.generations_app, name="generations")
imports.import_app.command("roads")(roads.import_roads)
app.add_typer(roads.roads_app, name="roads")
app.command("serve")(serve.serve)
app.command("up")(up.up)
app.add_typer(coverage.coverage_app, name="coverage")
app.add_typer(maps.map_app, name="map")
