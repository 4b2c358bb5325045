"""`gridgis apikey`: create (shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from gridgis.cli.common import console, fail, open_engine
from gridgis.errors import GridgisError
from gridgis.settings import get_settings

apikey_app = typer.Typer(help="API keys: create (shown once), list, revoke.")


@apikey_app.command("create")
def apikey_create(
    role: Annotated[str, typer.Option(help="dispatcher, system, planner or admin")],
    name: Annotated[str, typer.Option(help="Who uses it (shown in the audit trail)")],
    unit: Annotated[
        int | None, typer.Option(help="A system key acting for this unit (patrol tasks) only")
    ] = None,
) -> None:
    """Create an API key. The key is printed once and never stored: copy it now."""
    from gridgis.audit import record
    from gridgis.auth import create_api_key
    from gridgis.settings import resolve_secret_key

    settings = get_settings()
    with open_engine(settings) as engine, engine.begin() as conn:
        try:
            key_id, key = create_api_key(
                conn, resolve_secret_key(settings), name=name, role=role, unit_id=unit
            )
        except GridgisError as exc:
            raise fail(exc.message) from exc
        record(
            conn,
            actor="cli",
            action="apikey.create",
            entity="api_key",
            entity_id=str(key_id),
            after={"name": name, "role": role, "unit_id": unit},
        )
    console.print(f"created {role} key #{key_id} '{name}' (shown once, store it safely):")
    typer.echo(key)


@apikey_app.command("list")
def apikey_list() -> None:
    """List keys (never the keys themselves)."""
    from gridgis.auth import list_api_keys

    with open_engine(get_settings()) as engine, engine.connect() as conn:
        keys = list_api_keys(conn)
    table = Table(title="API keys")
    for column in ("id", "name", "role", "hint", "created", "last used", "revoked"):
        table.add_column(column)
    for k in keys:
        table.add_row(
            str(k["id"]),
            str(k["name"]),
            str(k["role"]),
            f"{k['key_hint']}...",
            f"{k['created_at']:%Y-%m-%d %H:%M}",
            f"{k['last_used_at']:%Y-%m-%d %H:%M}" if k["last_used_at"] else "-",
            f"{k['revoked_at']:%Y-%m-%d %H:%M}" if k["revoked_at"] else "-",
        )
    console.print(table)


@apikey_app.command("revoke")
def apikey_revoke(key: Annotated[str, typer.Argument(help="The key's name or id")]) -> None:
    """Revoke a key (takes effect within 10 seconds in running servers)."""
    from gridgis.audit import record
    from gridgis.auth import revoke_api_key

    with open_engine(get_settings()) as engine, engine.begin() as conn:
        try:
            key_id = revoke_api_key(conn, key)
        except GridgisError as exc:
            raise fail(exc.message) from exc
        record(conn, actor="cli", action="apikey.revoke", entity="api_key", entity_id=str(key_id))
    console.print(f"revoked key #{key_id}")
