"""`gridgis up`: start the database, migrate, load the demo and serve the API."""

from __future__ import annotations

from typing import Annotated

import typer

from gridgis.cli.common import console, open_engine
from gridgis.cli.demo import demo_load
from gridgis.cli.serve import serve
from gridgis.settings import Settings, get_settings


def up(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    seed: Annotated[int, typer.Option()] = 2080,
    volunteers: Annotated[int, typer.Option(min=0, max=1_000_000)] = 30_000,
) -> None:
    """The main job: start the database, migrate, load the Zhangzhou demo, serve the API.

    In development (GRIDGIS_ENV=dev, the default) it also makes a fresh admin key dev-<time>,
    prints it once and keeps it in .gridgis/dev-api-key (mode 600) for local tools, and
    creates the console users dev-dispatcher, dev-planner and dev-admin when missing, printing
    their passwords once and keeping them in .gridgis/dev-users (mode 600); there are no such
    keys or users in production."""
    demo_load(seed=seed, volunteers=volunteers, migrate=True)
    settings = get_settings()
    if settings.env == "dev":
        _issue_dev_key(settings)
        _issue_dev_users(settings)
    serve(host=host, port=port, workers=1)


def _issue_dev_key(settings: Settings) -> None:
    from datetime import UTC, datetime

    from gridgis.audit import record
    from gridgis.auth import create_api_key, list_api_keys, revoke_api_key
    from gridgis.private_files import write_private
    from gridgis.settings import resolve_secret_key

    # Key names are never reused: each `up` makes dev-<time> and revokes the earlier ones.
    name = f"dev-{datetime.now(UTC):%Y%m%d-%H%M%S-%f}"
    with open_engine(settings) as engine, engine.begin() as conn:
        for old in list_api_keys(conn):
            dev = old["name"] == "dev" or str(old["name"]).startswith("dev-")
            if dev and old["revoked_at"] is None:
                revoke_api_key(conn, str(old["id"]))
        key_id, key = create_api_key(conn, resolve_secret_key(settings), name=name, role="admin")
        record(
            conn,
            actor="cli",
            action="apikey.create",
            entity="api_key",
            entity_id=str(key_id),
            after={"name": name, "role": "admin"},
        )
    path = settings.home / "dev-api-key"
    write_private(path, key + "\n")
    console.print(f"development admin key (shown once; also in {path}):")
    typer.echo(key)


def _issue_dev_users(settings: Settings) -> None:
    from gridgis.cli.user import issue_dev_users

    with open_engine(settings) as engine, engine.begin() as conn:
        created = issue_dev_users(conn, settings.home)
    path = settings.home / "dev-users"
    if created:
        console.print(f"development console users (shown once; also in {path}):")
        for name, password in created.items():
            typer.echo(f"{name} {password}")
    else:
        console.print(f"development console users: dev-dispatcher, dev-planner, dev-admin ({path})")
