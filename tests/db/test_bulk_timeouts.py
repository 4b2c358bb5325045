"""Bulk and maintenance work runs under its own statement limit, not the API's."""

from __future__ import annotations

from sqlalchemy import text

from gridgis.db.engine import allow_bulk_statements, make_engine
from gridgis.settings import Settings


def _timeout(conn) -> str:  # type: ignore[no-untyped-def]
    return str(conn.execute(text("SHOW statement_timeout")).scalar_one())


def test_bulk_engines_and_transactions_get_the_bulk_limit(
    settings: Settings, test_database_url: str
) -> None:
    limits = settings.model_copy(
        update={"statement_timeout_ms": 10_000, "bulk_statement_timeout_ms": 3_600_000}
    )
    api = make_engine(limits, url=test_database_url, pool_size=1)
    bulk = make_engine(limits, url=test_database_url, pool_size=1, bulk=True)
    try:
        with bulk.connect() as conn:
            assert _timeout(conn) == "1h"
        with api.connect() as conn:
            assert _timeout(conn) == "10s"
            conn.commit()
            with conn.begin():
                allow_bulk_statements(conn, limits)
                assert _timeout(conn) == "1h"
            assert _timeout(conn) == "10s"  # only for that transaction
            conn.rollback()
    finally:
        api.dispose()
        bulk.dispose()


def test_migrations_run_under_the_bulk_limit(settings: Settings, test_database_url: str) -> None:
    """upgrade() lifts the limit for its own transaction (a migration may rewrite every row)."""
    from gridgis.db.migrate import upgrade

    api = make_engine(settings, url=test_database_url, pool_size=1)
    seen: list[str] = []
    try:
        with api.connect() as conn:
            from sqlalchemy import event

            @event.listens_for(conn, "before_cursor_execute")
            def _spy(*args) -> None:  # type: ignore[no-untyped-def]
                if "alembic_version" in str(args[2]) and not seen:
                    seen.append(args[1].connection.execute("SHOW statement_timeout").fetchone()[0])

            upgrade(conn)
    finally:
        api.dispose()
    assert seen and seen[0] != f"{settings.statement_timeout_ms // 1000}s"
