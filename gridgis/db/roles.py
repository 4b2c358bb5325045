"""Database roles: migrations and loads run as the owner (GRIDGIS_DATABASE_URL); the API runs
as a least-privilege application role (GRIDGIS_APP_DATABASE_URL): no superuser, no DDL, and
on audit_log only INSERT and SELECT, so the trail is append-only for the API at the database
level. grant_app_privileges is re-run after every migration (new tables need their grants)."""

from __future__ import annotations

import re

from sqlalchemy import Connection, text

DEFAULT_APP_ROLE = "gridgis_app"
# Tables the application may insert into and read, never change or delete from.
APPEND_ONLY_TABLES = ("audit_log",)
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _quoted(conn: Connection, role: str) -> str:
    if not _ROLE_NAME.match(role):
        raise ValueError(f"role name {role!r}: use lower-case letters, digits and _")
    return str(conn.dialect.identifier_preparer.quote(role))


def ensure_app_role(conn: Connection, role: str, password: str) -> bool:
    """Create the application role (login, nothing else) or reset its password and attributes;
    returns True when it was created. Needs CREATEROLE (the cluster's superuser has it)."""
    name = _quoted(conn, role)
    exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    verb = "ALTER" if exists else "CREATE"
    # Neither statement takes a bound parameter for the password: a quoted literal
    # (standard_conforming_strings, on since PostgreSQL 9.1: only ' needs doubling).
    literal = "'" + password.replace("'", "''") + "'"
    conn.execute(
        text(
            f"{verb} ROLE {name} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
            f"NOBYPASSRLS INHERIT PASSWORD {literal}"
        )
    )
    return not exists


def grant_app_privileges(conn: Connection, role: str) -> None:
    """Give `role` what the API needs in the current database and nothing more: read and
    write the tables (append-only ones: insert and read), use the sequences and functions,
    make temporary tables. It owns nothing and may create nothing in the schema."""
    name = _quoted(conn, role)
    database = conn.execute(text("SELECT current_database()")).scalar_one()
    statements = [
        f"GRANT CONNECT, TEMPORARY ON DATABASE {conn.dialect.identifier_preparer.quote(database)}"
        f" TO {name}",
        f"GRANT USAGE ON SCHEMA public TO {name}",
        f"REVOKE CREATE ON SCHEMA public FROM {name}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {name}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {name}",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {name}",
    ]
    for table in APPEND_ONLY_TABLES:
        statements.append(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {name}")
        # Nobody but the owner may change it, PUBLIC included.
        statements.append(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM PUBLIC")
    for statement in statements:
        conn.execute(text(statement))
