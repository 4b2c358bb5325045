"""`gridgis up`: start the database, migrate, load the demo and serve the API."""

from __future__ import annotations

from contextlib import suppress
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

    In development (GRIDGIS_ENV=dev, the default) it also makes a fresh admin key named "dev",
    prints it once and keeps it in .gridgis/dev-api-key (mode 600) for local tools; there is
    no such key in production."""
    demo_load(seed=seed, volunteers=volunteers, migrate=True)
    settings = get_settings()
    if settings.env == "dev":
        _issue_dev_key(settings)
    serve(host=host, port=port, workers=1)


def _issue_dev_key(settings: Settings) -> None:
    from gridgis.audit import record
    from gridgis.auth import create_api_key, revoke_api_key
    from gridgis.errors import NotFound
    from gridgis.settings import resolve_secret_key

    with open_engine(settings) as engine, engine.begin() as conn:
        with suppress(NotFound):
            revoke_api_key(conn, "dev")
        key_id, key = create_api_key(conn, resolve_secret_key(settings), name="dev", role="admin")
        record(
            conn,
            actor="cli",
            action="apikey.create",
            entity="api_key",
            entity_id=str(key_id),
            after={"name": "dev", "role": "admin"},
        )
    path = settings.home / "dev-api-key"
    path.write_text(key + "\n")
    path.chmod(0o600)
    console.print(f"development admin key (shown once; also in {path}):")
    typer.echo(key)
