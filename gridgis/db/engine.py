"""Engine and session factory; resolves the database URL (configured server or embedded cluster)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from gridgis.settings import Settings

# A pooled connection idle at least this long is pinged before it is handed out: it may have
# outlived a database restart (a restart takes longer than this), and a connection that died
# must never fail a request once the database is back. Busy connections are handed out at
# once, so under load the ping costs nothing; an idle service pays one round trip.
PING_IF_IDLE_S = 0.2


def resolve_app_database_url(settings: Settings) -> str:
    """The URL the API connects with: GRIDGIS_APP_DATABASE_URL; else, with the embedded
    cluster, its application role (created by `gridgis db start`); else GRIDGIS_DATABASE_URL."""
    if settings.app_database_url is not None:
        return settings.app_database_url
    if settings.database_url is None:
        from gridgis.db.embedded import EmbeddedCluster

        cluster = EmbeddedCluster(settings)
        if cluster.has_app_role():
            return cluster.app_url()
    return resolve_database_url(settings)


def resolve_database_url(settings: Settings, *, database: str | None = None) -> str:
    """The SQLAlchemy URL to use: GRIDGIS_DATABASE_URL, else the embedded cluster's."""
    if settings.database_url is not None:
        if database is None:
            return settings.database_url
        from sqlalchemy.engine import make_url

        return (
            make_url(settings.database_url)
            .set(database=database)
            .render_as_string(hide_password=False)
        )
    from gridgis.db.embedded import EmbeddedCluster

    return EmbeddedCluster(settings).url(database)


def make_engine(
    settings: Settings,
    *,
    url: str | None = None,
    pool_size: int | None = None,
    generic_plans: bool = False,
    bulk: bool = False,
) -> Engine:
    """An engine with bounded connect and statement times, so callers fail fast.

    `bulk`: for bulk and maintenance work (migrations, demo loads, imports, coverage runs),
    whose statements run under GRIDGIS_BULK_STATEMENT_TIMEOUT_MS, not the API's limit.

    `generic_plans`: prepared statements keep one generic plan instead of being planned anew
    for every call. For the dispatch reads (fixed-shape index walks whose plan never depends
    on the values) PostgreSQL otherwise re-plans each call, because a LIMIT given as a
    parameter makes the generic plan look dear: ~0.4 ms of a ~1.2 ms nearest query."""
    timeout_ms = settings.bulk_statement_timeout_ms if bulk else settings.statement_timeout_ms
    options = f"-c statement_timeout={timeout_ms} -c jit=off"
    if generic_plans:
        options += " -c plan_cache_mode=force_generic_plan"
    engine = create_engine(
        url or resolve_database_url(settings),
        pool_size=pool_size or settings.pool_size,
        max_overflow=max(2, (pool_size or settings.pool_size) // 2),
        pool_timeout=settings.pool_timeout_s,
        pool_pre_ping=False,
        connect_args={
            "connect_timeout": settings.connect_timeout_s,
            # JIT compilation costs more than it saves on short dispatch queries.
            "options": options,
            "application_name": "gridgis",
        },
    )
    _ping_idle_connections(engine)
    return engine


def _ping_idle_connections(engine: Engine) -> None:
    """Ping a pooled connection before use when it sat idle for PING_IF_IDLE_S or more; when
    it is dead, every connection the pool made before now is discarded and a fresh one is
    made (SQLAlchemy's InvalidatePoolError), so the request never sees the dead one."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < PING_IF_IDLE_S:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                raise InvalidatePoolError(f"pooled connection died while idle: {exc}") from exc
            raise


def recover_together(engines: Sequence[Engine]) -> None:
    """When one of these engines finds the database gone, the others' pooled connections are
    discarded as well (each engine has its own pool; SQLAlchemy only resets the one that saw
    the disconnect), so no pool keeps connections that died in the outage."""

    def _on_error(context: ExceptionContext) -> None:
        if not context.is_disconnect:
            return
        failed = context.engine.pool if context.engine is not None else None
        for other in engines:
            if other.pool is not failed:
                other.dispose(close=False)

    for engine in engines:
        event.listen(engine, "handle_error", _on_error)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that do not expire objects on commit (API responses are built after commit)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def allow_bulk_statements(db: Connection | Session, settings: Settings) -> None:
    """For the rest of the current transaction, statements run under the bulk limit
    (GRIDGIS_BULK_STATEMENT_TIMEOUT_MS): bulk work started on a connection of the API's pool."""
    db.execute(
        text("SELECT set_config('statement_timeout', :ms, true)"),
        {"ms": str(settings.bulk_statement_timeout_ms)},
    )
