"""`gridgis user`: console user accounts — create, list, disable, enable, reset-password."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import Connection

from gridgis.accounts import passwords, users
from gridgis.cli.common import console, fail, open_engine
from gridgis.errors import GridgisError
from gridgis.settings import Settings, get_settings

user_app = typer.Typer(help="Console user accounts for people (API keys stay for systems).")

CLI_ACTOR = "cli"
DEV_USERS = {"dev-dispatcher": "dispatcher", "dev-planner": "planner", "dev-admin": "admin"}


@contextmanager
def _transaction(settings: Settings) -> Iterator[Connection]:
    """One committed transaction on the configured database; domain errors exit with 1."""
    with open_engine(settings) as engine:
        try:
            with engine.begin() as conn:
                yield conn
        except GridgisError as exc:
            raise fail(exc.message) from exc


def _read_password(password_stdin: bool, generate: bool) -> tuple[str, bool]:
    """(password, whether it was generated and must be shown once)."""
    if password_stdin and generate:
        raise fail("use either --password-stdin or --generate, not both")
    if generate:
        return passwords.generate_password(), True
    if password_stdin:
        # Only the line ending goes: spaces may be part of a password.
        return sys.stdin.readline().removesuffix("\n").removesuffix("\r"), False
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True), False


def _show_once(name: str, password: str) -> None:
    console.print(f"password for {name} (shown once, store it safely):")
    typer.echo(password)


@user_app.command("create")
def create(
    name: Annotated[str, typer.Option(help="The sign-in name (letters, digits, . _ -)")],
    role: Annotated[str, typer.Option(help="dispatcher, planner or admin")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
    generate: Annotated[
        bool, typer.Option("--generate", help="Generate a password and print it once")
    ] = False,
) -> None:
    """Create a user. Without options the password is asked for twice (never echoed)."""
    try:
        users.check_name(name)
        users.check_role(role)
    except GridgisError as exc:
        raise fail(exc.message) from exc
    password, generated = _read_password(password_stdin, generate)
    with _transaction(get_settings()) as conn:
        user_id = users.create_user(conn, name=name, role=role, password=password, actor=CLI_ACTOR)
    console.print(f"created {role} user #{user_id} '{name}'")
    if generated:
        _show_once(name, password)


@user_app.command("list")
def list_command() -> None:
    """List users with their status (never a password or hash)."""
    with _transaction(get_settings()) as conn:
        rows = users.list_users(conn)
    table = Table(title="Users")
    for column in ("id", "name", "role", "created", "last sign-in", "sessions", "disabled"):
        table.add_column(column, no_wrap=column == "name")
    for u in rows:
        table.add_row(
            str(u["id"]),
            str(u["name"]),
            str(u["role"]),
            f"{u['created_at']:%Y-%m-%d %H:%M}",
            f"{u['last_login_at']:%Y-%m-%d %H:%M}" if u["last_login_at"] else "-",
            str(u["sessions"]),
            f"{u['disabled_at']:%Y-%m-%d %H:%M}" if u["disabled_at"] else "-",
        )
    console.print(table)


@user_app.command("disable")
def disable(user: Annotated[str, typer.Argument(help="The user's name or id")]) -> None:
    """Disable a user; their open sessions end at once."""
    with _transaction(get_settings()) as conn:
        user_id = users.disable_user(conn, user, now=datetime.now(UTC), actor=CLI_ACTOR)
    console.print(f"disabled user #{user_id}")


@user_app.command("enable")
def enable(user: Annotated[str, typer.Argument(help="The user's name or id")]) -> None:
    """Let a disabled user sign in again."""
    with _transaction(get_settings()) as conn:
        user_id = users.enable_user(conn, user, actor=CLI_ACTOR)
    console.print(f"enabled user #{user_id}")


@user_app.command("reset-password")
def reset_password(
    user: Annotated[str, typer.Argument(help="The user's name or id")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
    generate: Annotated[
        bool, typer.Option("--generate", help="Generate a password and print it once")
    ] = False,
) -> None:
    """Set a new password; the user's open sessions end."""
    password, generated = _read_password(password_stdin, generate)
    with _transaction(get_settings()) as conn:
        user_id = users.reset_password(conn, user, password, now=datetime.now(UTC), actor=CLI_ACTOR)
    console.print(f"new password set for user #{user_id}; their sessions ended")
    if generated:
        _show_once(user, password)


def issue_dev_users(conn: Connection, home: Path) -> dict[str, str]:
    """Create the development users that are missing, with generated passwords, and keep
    them in <home>/dev-users (mode 600). Returns {name: password} for the new ones only:
    existing users keep their passwords (they are in the file from the first run)."""
    created: dict[str, str] = {}
    for name, role in DEV_USERS.items():
        if users.find_user(conn, name) is not None:
            continue
        password = passwords.generate_password()
        users.create_user(conn, name=name, role=role, password=password, actor=CLI_ACTOR)
        created[name] = password
    if created:
        from gridgis.private_files import read_private, write_private

        path = home / "dev-users"
        home.mkdir(parents=True, exist_ok=True)
        kept = read_private(path).splitlines() if path.exists() else []
        kept = [line for line in kept if line.split(" ", 1)[0] not in created]
        lines = kept + [f"{name} {password}" for name, password in created.items()]
        write_private(path, "\n".join(lines) + "\n")
    return created
