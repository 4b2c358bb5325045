"""Every domain error has its HTTP status in the one error table; server-side failures are 5xx."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import gridgis
from api.errors import STATUS_BY_ERROR, install_error_handlers, status_for
from gridgis.errors import EmbeddedClusterError, GridgisError, Unavailable

# Failures on the server's side (and whatever derives from them); every other domain error
# says something about the request.
SERVER_SIDE = (Unavailable, EmbeddedClusterError)


def _all_domain_errors() -> list[type[GridgisError]]:
    """Every GridgisError subclass in the library (its modules imported, so none hides)."""
    for module in pkgutil.walk_packages(gridgis.__path__, "gridgis."):
        # Skip what runs on import: command entry points and Alembic's environment.
        if module.name.endswith("__main__") or module.name.startswith("gridgis.db.migrations"):
            continue
        importlib.import_module(module.name)
    found: list[type[GridgisError]] = []
    pending = [GridgisError]
    while pending:
        for sub in pending.pop().__subclasses__():
            found.append(sub)
            pending.append(sub)
    return found


ERRORS = _all_domain_errors()


def test_the_walk_finds_the_errors_outside_errors_py() -> None:
    assert EmbeddedClusterError in ERRORS
    assert any(e.__module__ != "gridgis.errors" for e in ERRORS)


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: e.__name__)
def test_every_domain_error_has_an_entry(error: type[GridgisError]) -> None:
    assert any(cls in STATUS_BY_ERROR for cls in error.__mro__ if cls is not GridgisError), (
        f"{error.__name__} has no entry (own or inherited) in api.errors.STATUS_BY_ERROR"
    )
    status = status_for(error)
    if issubclass(error, SERVER_SIDE):
        assert 500 <= status < 600, f"{error.__name__} is a server-side failure: {status}"
    else:
        assert 400 <= status < 500, f"{error.__name__} is about the request: {status}"


def test_an_unclassified_error_is_the_servers_fault() -> None:
    assert status_for(GridgisError) == 500


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/cluster")
    async def cluster() -> None:
        raise EmbeddedClusterError("pg_ctl failed: /srv/gridgis/.gridgis/server/postgresql.log")

    @app.get("/unavailable")
    async def unavailable() -> None:
        raise Unavailable("map assets are not installed")

    return app


def test_an_embedded_cluster_failure_is_503_without_server_paths() -> None:
    with TestClient(_app()) as client:
        response = client.get("/cluster")
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "embedded_cluster_error"
    assert "/srv/gridgis" not in body["message"]
    assert "server log" in body["message"]
    with TestClient(_app()) as client:
        assert client.get("/unavailable").status_code == 503
