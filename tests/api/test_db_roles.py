"""The API's database role is least-privilege: not a superuser, no DDL, and audit_log is
append-only for it (insert and read; update, delete and truncate refused by PostgreSQL). The
API connects with GRIDGIS_APP_DATABASE_URL and works under that role."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from test_imports_api import CITY, CITY_BOX, geojson_bytes, post_import

from gridgis.auth import create_api_key
from gridgis.db.roles import ensure_app_role, grant_app_privileges
from gridgis.settings import Settings, resolve_secret_key


@pytest.fixture()
def app_url(engine: Engine, test_database_url: str) -> Iterator[str]:
    """A real application role, created for the test and dropped after it."""
    role = f"gridgis_app_test_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    with engine.begin() as conn:
        ensure_app_role(conn, role, password)
        grant_app_privileges(conn, role)
    url = make_url(test_database_url).set(username=role, password=password)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))


def test_the_app_role_cannot_rewrite_the_audit_trail(app_url: str) -> None:
    app_engine = create_engine(app_url)
    try:
        with app_engine.connect() as conn:
            transaction = conn.begin()
            assert not conn.execute(
                text(
                    "SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles "
                    "WHERE rolname = current_user"
                )
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO audit_log (actor, action, entity, entity_id) "
                    "VALUES ('t', 'test.append', 'test', '1')"
                )
            )
            assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one() >= 1
            for statement in (
                "UPDATE audit_log SET actor = 'someone else'",
                "DELETE FROM audit_log",
                "TRUNCATE audit_log",
                "CREATE TABLE sneaky (id int)",
                "ALTER TABLE areas ADD COLUMN sneaky int",
                "COPY (SELECT 1) TO PROGRAM 'true'",
            ):
                with (
                    pytest.raises(ProgrammingError, match=r"permission denied|must be"),
                    conn.begin_nested(),
                ):
                    conn.execute(text(statement))
            transaction.rollback()
    finally:
        app_engine.dispose()


def test_the_api_runs_as_the_app_role(
    app_url: str, settings: Settings, test_database_url: str, engine: Engine
) -> None:
    from api.main import create_app

    app_settings = settings.model_copy(
        update={"database_url": test_database_url, "app_database_url": app_url}
    )
    with engine.begin() as conn:
        _, key = create_api_key(
            conn,
            resolve_secret_key(settings),
            name=f"app-role-{secrets.token_hex(4)}",
            role="admin",
        )
    app = create_app(app_settings)
    run_id = None
    external_id = f"app-role-{secrets.token_hex(4)}"
    generation = None
    try:
        with TestClient(app, headers={"X-API-Key": key}) as client:
            assert app.state.engine.url.username == make_url(app_url).username
            assert client.get("/v1/locate", params={"lon": 117.65, "lat": 24.51}).status_code == 200
            created = client.post(
                "/v1/coverage/runs", json={"roles": ["police_unit"], "resolution": 7}
            )
            assert created.status_code == 201, created.text  # COPY of the cells as the app role
            # Its progress was written and removed on the app role's own transactions.
            assert client.get("/v1/coverage/progress").json() == {"runs": []}
            run_id = created.json()["id"]
            assert client.delete(f"/v1/coverage/runs/{run_id}").status_code == 204  # audited
            incident = client.post(
                "/v1/incidents",
                json={
                    "external_id": external_id,
                    "category": "theft",
                    "lon": 117.65,
                    "lat": 24.51,
                    "reported_at": datetime.now(UTC).isoformat(),
                },
            )
            assert incident.status_code == 201, incident.text  # with its audit entry
            staged = post_import(
                client,
                "city.geojson",
                geojson_bytes([({"code": CITY, "name": "测试市"}, box(*CITY_BOX))]),
                level="city",
                base=0,
            )
            assert staged.status_code == 201, staged.text  # staging an import, audited
            generation = staged.json()["generation"]
    finally:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "DELETE FROM audit_log WHERE (entity = 'generation' AND entity_id = :g) OR "
                    "(entity = 'incident' AND entity_id IN "
                    "(SELECT CAST(id AS text) FROM incidents WHERE external_id = :e))"
                ),
                {"g": str(generation), "e": external_id},
            )
            conn.execute(text("DELETE FROM incidents WHERE external_id = :e"), {"e": external_id})
            conn.execute(text("DELETE FROM generations WHERE id = :g"), {"g": generation})
            conn.execute(text("DELETE FROM coverage_runs WHERE id = :i"), {"i": run_id})
            conn.execute(
                text("DELETE FROM audit_log WHERE entity = 'coverage_run' AND entity_id = :i"),
                {"i": str(run_id)},
            )
