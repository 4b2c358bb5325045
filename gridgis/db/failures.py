"""One-line explanations of database failures for people at a terminal: what failed, what to do."""

from __future__ import annotations

import psycopg.errors
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from gridgis.settings import Settings


def _first_line(exc: BaseException | None) -> str:
    text = str(exc or "").strip()
    return text.splitlines()[0] if text else "no detail"


def describe_database_failure(
    exc: DBAPIError | PoolTimeout, settings: Settings, *, bulk: bool = False
) -> str:
    """A one-line message naming the failure and the remedy (never a traceback)."""
    if isinstance(exc, PoolTimeout):
        return (
            "no database connection became free in time; run the command again when the "
            "database is less busy (GRIDGIS_POOL_TIMEOUT_S)."
        )
    orig = exc.orig
    if isinstance(orig, psycopg.errors.QueryCanceled):
        name, limit = (
            ("GRIDGIS_BULK_STATEMENT_TIMEOUT_MS", settings.bulk_statement_timeout_ms)
            if bulk
            else ("GRIDGIS_STATEMENT_TIMEOUT_MS", settings.statement_timeout_ms)
        )
        return (
            f"a database statement ran longer than the {limit:,} ms allowed and was cancelled; "
            f"set {name} higher ({'0 = no limit' if bulk else 'in milliseconds'}) "
            "and run the command again."
        )
    if isinstance(orig, psycopg.errors.DiskFull):
        return (
            "the database server ran out of disk space; free space where its data lives, "
            "then run the command again."
        )
    if isinstance(orig, psycopg.errors.OutOfMemory):
        return (
            "the database server ran out of memory; load less at once (e.g. fewer "
            "--volunteers) or give the server more memory, then run the command again."
        )
    if exc.connection_invalidated or isinstance(orig, psycopg.OperationalError):
        return (
            f"the database is unreachable ({_first_line(orig)}); check that it runs "
            "(`gridgis db status`, or the server behind GRIDGIS_DATABASE_URL) and run the "
            "command again."
        )
    if isinstance(orig, psycopg.errors.UndefinedTable | psycopg.errors.UndefinedColumn):
        return (
            f"the database schema is behind this version of gridgis ({_first_line(orig)}); "
            "run `gridgis db migrate`, then the command again."
        )
    return f"the database refused the work: {_first_line(orig)}."
