"""Engine and session factory; resolves the database URL (configured server or embedded cluster)."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from gridgis.settings import Settings


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
    return create_engine(
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
