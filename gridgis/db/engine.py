"""Engine and session factory; resolves the database URL (configured server or embedded cluster)."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from gridgis.settings import Settings


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
) -> Engine:
    """An engine with bounded connect and statement times, so callers fail fast.

    `generic_plans`: prepared statements keep one generic plan instead of being planned anew
    for every call. For the dispatch reads (fixed-shape index walks whose plan never depends
    on the values) PostgreSQL otherwise re-plans each call, because a LIMIT given as a
    parameter makes the generic plan look dear: ~0.4 ms of a ~1.2 ms nearest query."""
    options = f"-c statement_timeout={settings.statement_timeout_ms} -c jit=off"
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
