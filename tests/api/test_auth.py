"""Keys and roles: 401 without a valid key, 403 for the wrong role, on every route but health."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection

from api.main import create_app
from api.security import (
    PUBLIC,
    ROUTE_PERMISSIONS,
    SESSION_ROUTES,
    documented_routes,
    permission_for,
)
from gridgis.auth import KEY_ROLES, PERMISSIONS, create_api_key, revoke_api_key
from gridgis.errors import InvalidInput
from gridgis.settings import Settings, resolve_secret_key


def _routes(client: TestClient) -> list[tuple[str, str]]:
    routes = documented_routes(client.app)  # type: ignore[arg-type]
    assert len(routes) >= 15  # the lookup, dispatch and incident APIs at least
    return routes


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_route_has_a_declared_permission(client: TestClient) -> None:
    declared = ROUTE_PERMISSIONS.keys() | PUBLIC | SESSION_ROUTES
    undeclared = [r for r in _routes(client) if r not in declared]
    assert undeclared == []


def test_health_is_open(client: TestClient) -> None:
    response = client.get("/v1/health", headers={"X-API-Key": ""})
    assert response.status_code == 200


@pytest.mark.parametrize("key", [None, "", "nonsense", "ggk_" + "x" * 43, "ggk_" + "y" * 500])
def test_without_a_valid_key_every_route_is_401(client: TestClient, key: str | None) -> None:
    headers = {} if key is None else {"X-API-Key": key}
    client.headers.pop("X-API-Key", None)
    for method, path in _routes(client):
        if (method, path) in PUBLIC:
            continue
        response = client.request(method, _concrete(path), headers=headers)
        assert response.status_code == 401, (method, path, response.text)
        body = response.json()
        assert body["error"] == "unauthenticated"
        assert response.headers["www-authenticate"].startswith("APIKey")


@pytest.mark.parametrize("role", KEY_ROLES)
def test_role_matrix(client: TestClient, api_keys: dict[str, str], role: str) -> None:
    """Each role reaches exactly the routes its permissions allow (other statuses may be 4xx
    for the dummy input, but never 401/403 when allowed and always 403 when not)."""
    for method, path in _routes(client):
        if (method, path) in PUBLIC or (method, path) in SESSION_ROUTES:
            continue  # sign-in routes: tested with sessions in test_accounts_api.py
        allowed = role in PERMISSIONS[permission_for(method, path)]
        response = client.request(
            method, _concrete(path), headers={"X-API-Key": api_keys[role]}, json={}
        )
        if allowed:
            assert response.status_code not in (401, 403), (role, method, path, response.text)
            assert response.status_code < 500, (role, method, path, response.text)
        else:
            assert response.status_code == 403, (role, method, path, response.status_code)
            assert response.json()["error"] == "forbidden"


def test_auth_comes_before_input_validation(client: TestClient) -> None:
    response = client.get("/v1/locate", params={"lon": "east"}, headers={"X-API-Key": "bad"})
    assert response.status_code == 401


def test_revoked_key_stops_working(
    client: TestClient, conn: Connection, settings: Settings
) -> None:
    _, key = create_api_key(conn, resolve_secret_key(settings), name="short-lived", role="admin")
    ok = client.get("/v1/areas/350602", headers={"X-API-Key": key})
    assert ok.status_code == 200
    revoke_api_key(conn, "short-lived")
    client.app.state.key_cache.clear()  # type: ignore[attr-defined]
    assert client.get("/v1/areas/350602", headers={"X-API-Key": key}).status_code == 401


def test_production_refuses_a_placeholder_secret(settings: Settings) -> None:
    for secret in ("", "change-me", "secret"):
        with pytest.raises(InvalidInput, match="GRIDGIS_SECRET_KEY"):
            create_app(settings.model_copy(update={"env": "production", "secret_key": secret}))
    strong = "Vq3t9ZpL2mXc8RbN4kWd7HsJ6yFg1QeA0uTo5IiE"
    app = create_app(settings.model_copy(update={"env": "production", "secret_key": strong}))
    assert app.state.secret_key == strong


def test_keys_are_stored_hashed(conn: Connection, settings: Settings) -> None:
    _, key = create_api_key(conn, resolve_secret_key(settings), name="hash-check", role="planner")
    stored = conn.exec_driver_sql(
        "SELECT key_hash, key_hint FROM api_keys WHERE name = 'hash-check'"
    ).one()
    assert key not in stored.key_hash
    assert len(stored.key_hash) == 64
    assert key.startswith(stored.key_hint)
