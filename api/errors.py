"""The one place that maps domain and database errors to HTTP status codes and JSON bodies."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from gridgis.errors import (
    Conflict,
    EmbeddedClusterError,
    Forbidden,
    GridgisError,
    InvalidInput,
    NotFound,
    OutsideCoverage,
    RateLimited,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger("gridgis.api")

# Every GridgisError subclass finds its status here through its own class or a parent's
# (tests/unit/test_error_table.py walks them all). An error of the caller is 4xx; a failure on the
# server's side is 5xx.
STATUS_BY_ERROR: dict[type[GridgisError], int] = {
    InvalidInput: 422,
    NotFound: 404,
    OutsideCoverage: 404,
    Conflict: 409,
    Unavailable: 503,
    EmbeddedClusterError: 503,
    Unauthenticated: 401,
    Forbidden: 403,
    RateLimited: 429,
}
# Server-side failures whose own message names server internals (paths, commands): the client
# gets this instead, the log gets the detail.
PUBLIC_MESSAGE_BY_ERROR: dict[type[GridgisError], str] = {
    EmbeddedClusterError: "The database server could not be started or reached; try again "
    "shortly (an operator finds the cause in the server log).",
}


def error_body(
    code: str, message: str, field: str | None = None, **extra: object
) -> dict[str, object]:
    """The JSON shape of every error response."""
    body: dict[str, object] = {"error": code, "message": message}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return body


def status_for(error: type[GridgisError]) -> int:
    """The HTTP status of a domain error class: its own entry or its nearest parent's; an
    error nobody classified is the server's fault (500), never the caller's."""
    for cls in error.__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def _public_message(exc: GridgisError) -> str:
    for cls in type(exc).__mro__:
        if cls in PUBLIC_MESSAGE_BY_ERROR:
            return PUBLIC_MESSAGE_BY_ERROR[cls]
    return exc.message


def _field_of(loc: Sequence[object]) -> str:
    parts = [str(p) for p in loc if p not in ("query", "body", "path", "header")]
    return ".".join(parts) or "request"


def domain_error_response(exc: GridgisError) -> JSONResponse:
    """The response for a domain error (also sent by api/gate.py before routing)."""
    status = status_for(type(exc))
    headers = {"WWW-Authenticate": 'APIKey header="X-API-Key"'} if status == 401 else None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after_s)}
    if status >= 500:
        log.error("%s: %s", type(exc).__name__, exc.message)
    return JSONResponse(
        error_body(exc.code, _public_message(exc), exc.field), status_code=status, headers=headers
    )


def database_down_response() -> JSONResponse:
    """503 with Retry-After: the database is unreachable."""
    return JSONResponse(
        error_body("database_unavailable", "The database is unreachable; try again shortly."),
        status_code=503,
        headers={"Retry-After": "5"},
    )


def body_too_large_response(limit: int) -> JSONResponse:
    """413: the request body is larger than the route accepts."""
    return JSONResponse(
        error_body(
            "payload_too_large",
            f"The request body is larger than this route accepts ({limit:,} bytes).",
            "body",
        ),
        status_code=413,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers; routes and the library never build error responses themselves."""

    @app.exception_handler(GridgisError)
    async def _domain(_: Request, exc: GridgisError) -> JSONResponse:
        return domain_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field = _field_of(first.get("loc", ()))
        details = [
            {"field": _field_of(e.get("loc", ())), "message": str(e.get("msg", ""))} for e in errors
        ]
        return JSONResponse(
            error_body("invalid_input", f"{field}: {first.get('msg')}", field, details=details),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not parse the body (not JSON, not UTF-8)
            return JSONResponse(
                error_body("invalid_input", f"body: {exc.detail}", "body"), status_code=422
            )
        code = "not_found" if exc.status_code == 404 else "http_error"
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    async def _database_down(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", exc.__class__.__name__)
        return database_down_response()

    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(PoolTimeout, _database_down)

    @app.exception_handler(DBAPIError)
    async def _dbapi(request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return await _database_down(request, exc)
        log.exception("database error")
        return JSONResponse(
            error_body("database_error", "The database rejected the request."), status_code=500
        )
