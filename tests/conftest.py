"""Test fixtures: a real PostGIS (embedded cluster or GRIDGIS_DATABASE_URL), one test database,
the demo loaded once, and every test inside a transaction that is rolled back."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from gridgis.settings import Settings, get_settings

if TYPE_CHECKING:
    from gridgis.demo.generate import DemoData

# Several checkouts may share one server: each names its own test database.
TEST_DATABASE = os.environ.get("GRIDGIS_TEST_DATABASE", "gridgis_test")
DEMO_SEED = 2080
DEMO_VOLUNTEERS = 2_000
IN_CI = bool(os.environ.get("CI"))
DB_DIRS = ("db", "api")

_skipped_db_tests: list[str] = []

# Property tests draw the same examples on every run (a failure in CI can be replayed, and a
# run cannot fail by the luck of its draw) and have no per-example deadline (a garbage
# collection pause is not a defect). HYPOTHESIS_PROFILE=explore draws new examples each run.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, database=None)
hypothesis_settings.register_profile("explore", deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/db and tests/api needs PostGIS."""
    for item in items:
        if Path(str(item.fspath)).parent.name in DB_DIRS:
            item.add_marker(pytest.mark.db)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "db" in report.keywords:
        _skipped_db_tests.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped database test is a failure: the run must prove the database work."""
    if IN_CI and _skipped_db_tests:
        print(f"\nCI: {len(_skipped_db_tests)} database test(s) skipped; failing the run.")
        session.exitstatus = 1


def _admin_and_test_urls(settings: Settings) -> tuple[str, str]:
    """(admin conninfo for CREATE DATABASE, SQLAlchemy URL of the test database)."""
    if settings.database_url is not None:
        url = make_url(settings.database_url)
    else:
        from gridgis.cli import prepare_database

        url = make_url(prepare_database(settings, quiet=True))
    admin = url.set(drivername="postgresql", database="postgres")
    test = url.set(database=TEST_DATABASE)
    return (
        admin.render_as_string(hide_password=False),
        test.render_as_string(hide_password=False),
    )


@pytest.fixture(scope="session")
def settings() -> Settings:
    # No expiry timer: it would delete fixes from the shared test database outside the
    # rolled-back transactions (expiry itself is tested directly). Tests drive Open311 far
    # faster than a citizen would: its rate limit is tested with its own small budget.
    return get_settings(env="test", expire_positions_every_s=0, open311_requests_per_minute=100_000)


@pytest.fixture(scope="session")
def test_database_url(settings: Settings) -> str:
    """Create a fresh test database with PostGIS; skip locally / fail in CI if impossible."""
    from gridgis.db.embedded import ensure_database
    from gridgis.errors import GridgisError

    try:
        admin, test = _admin_and_test_urls(settings)
        ensure_database(admin, TEST_DATABASE, drop_first=True)
    except (GridgisError, OSError, Exception) as exc:
        message = f"PostGIS is not available for the tests: {exc}"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return test


@pytest.fixture(scope="session")
def demo() -> DemoData:
    """The demo dataset the test database is loaded with (generated once per session)."""
    from gridgis.demo.generate import generate_demo

    return generate_demo(seed=DEMO_SEED, volunteers=DEMO_VOLUNTEERS)


@pytest.fixture(scope="session")
def engine(settings: Settings, test_database_url: str, demo: DemoData) -> Iterator[Engine]:
    """The test database, migrated, with the demo (small volunteer force) loaded once."""
    from gridgis.db.engine import make_engine
    from gridgis.db.migrate import upgrade
    from gridgis.demo.load import load_demo

    engine = make_engine(settings, url=test_database_url, pool_size=4)
    with engine.connect() as conn:
        upgrade(conn)
        load_demo(conn, demo)
        conn.commit()
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def api_keys(settings: Settings, engine: Engine) -> dict[str, str]:
    """One committed API key per role, for the test database."""
    from gridgis.auth import KEY_ROLES, create_api_key
    from gridgis.settings import resolve_secret_key

    secret = resolve_secret_key(settings)
    keys = {}
    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM api_keys")
        for role in KEY_ROLES:
            _, keys[role] = create_api_key(connection, secret, name=f"test-{role}", role=role)
    return keys


@pytest.fixture()
def conn(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            transaction.rollback()


@pytest.fixture()
def session(conn: Connection) -> Iterator[Session]:
    """An ORM session joined to the test's transaction (its commits become savepoints)."""
    with Session(bind=conn, join_transaction_mode="create_savepoint") as db:
        yield db


@pytest.fixture()
def client(  # type: ignore[no-untyped-def]
    settings: Settings, test_database_url: str, conn: Connection, api_keys: dict[str, str]
):
    """A TestClient (sending an admin key) whose requests run inside the test's rolled-back
    transaction. Tests of other roles or of no key override the X-API-Key header."""
    from fastapi.testclient import TestClient

    from api.deps import get_reader, get_session
    from api.main import create_app

    app = create_app(settings.model_copy(update={"database_url": test_database_url}))

    def session_in_test_transaction() -> Iterator[Session]:
        with Session(bind=conn, join_transaction_mode="create_savepoint") as db:
            yield db
            db.commit()

    @contextmanager
    def open_reader_in_test_transaction() -> Iterator[Connection]:
        # A savepoint, as the session has: a failed read must not poison the test's transaction.
        savepoint = conn.begin_nested()
        try:
            yield conn
        except Exception:
            savepoint.rollback()
            raise
        savepoint.commit()

    def reader_in_test_transaction() -> Callable[[], AbstractContextManager[Connection]]:
        return open_reader_in_test_transaction

    app.dependency_overrides[get_session] = session_in_test_transaction
    app.dependency_overrides[get_reader] = reader_in_test_transaction
    with TestClient(app, headers={"X-API-Key": api_keys["admin"]}) as test_client:
        # The gate (api/gate.py) looks keys up before any dependency runs: in the test's
        # transaction too, so keys a test creates are seen.
        app.state.session_factory = lambda: Session(
            bind=conn, join_transaction_mode="create_savepoint"
        )
        yield test_client
