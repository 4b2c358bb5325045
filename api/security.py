"""Authentication (an API key, or a sign-in session cookie) and role checks for every route
except /v1/health and sign-in, in one place."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Security
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from api.session_auth import COOKIE_NAME, principal_from_session_committed
from gridgis import audit, auth
from gridgis.accounts.sessions import SessionInfo
from gridgis.errors import Forbidden, Unauthenticated

# Open311's requests are open to read, as the specification expects, unless the city sets
# GRIDGIS_OPEN311_READ_REQUIRES_KEY: then they need the read permission.
OPEN311_READS = {
    ("GET", "/open311/v2/requests.{format}"),
    ("GET", "/open311/v2/requests/{service_request_id}.{format}"),
}
PUBLIC = {
    ("GET", "/v1/health"),
    ("POST", "/v1/auth/login"),
    # Open311 clients read the services without a key.
    ("GET", "/open311/v2/services.{format}"),
    ("GET", "/open311/v2/services/{service_code}.{format}"),
    *OPEN311_READS,
}
PUBLIC_ROUTE_ANSWERS = {("POST", "/v1/auth/login"): ("401", "403")}
# Routes about the caller's own sign-in session: a session cookie, never a key.
SESSION_ROUTES = {("GET", "/v1/auth/me"), ("POST", "/v1/auth/logout")}
# (method, path template) -> permission (see gridgis.auth.PERMISSIONS). A route missing here
# needs the admin permission: new routes are closed until someone decides who may use them.
ROUTE_PERMISSIONS: dict[tuple[str, str], str] = {
    ("GET", "/v1/locate"): "read",
    ("GET", "/v1/areas"): "read",
    ("GET", "/v1/areas/{code}"): "read",
    ("GET", "/v1/responders/nearest"): "read",
    ("GET", "/v1/responders"): "read",
    ("GET", "/v1/responders/{responder_id}"): "read",
    ("GET", "/v1/responders/{responder_id}/service-area"): "read",
    ("GET", "/v1/isochrones"): "read",
    ("GET", "/v1/routes"): "read",
    ("GET", "/v1/road-networks"): "read",
    ("POST", "/v1/road-networks/{network_id}/activate"): "admin",
    ("POST", "/v1/road-networks/{network_id}/reprice"): "admin",
    ("POST", "/v1/responders"): "staff",
    ("PATCH", "/v1/responders/{responder_id}"): "staff",
    ("PUT", "/v1/responders/{responder_id}/position"): "positions",
    ("POST", "/v1/positions/batch"): "positions",
    ("GET", "/v1/assignments"): "read",
    ("POST", "/v1/assignments"): "staff",
    ("DELETE", "/v1/assignments/{assignment_id}"): "staff",
    ("POST", "/v1/incidents"): "dispatch",
    ("POST", "/v1/incidents/{id}/events"): "dispatch",
    ("GET", "/v1/incidents"): "read",
    ("GET", "/v1/incidents/{id}"): "read",
    ("POST", "/v1/incidents/{id}/follow-up"): "dispatch",
    ("GET", "/v1/incidents/{id}/follow-up"): "read",
    ("GET", "/v1/incident-categories"): "read",
    ("GET", "/v1/kpis"): "read",
    ("POST", "/v1/coverage/runs"): "planning",
    ("GET", "/v1/coverage/runs"): "planning",
    ("GET", "/v1/coverage/runs/{run_id}"): "planning",
    ("DELETE", "/v1/coverage/runs/{run_id}"): "planning",
    ("GET", "/v1/coverage/runs/{run_id}/summary"): "planning",
    ("GET", "/v1/coverage/runs/{run_id}/cells"): "planning",
    ("POST", "/v1/coverage/plan"): "planning",
    ("GET", "/v1/coverage/progress"): "planning",
    ("GET", "/v1/coverage/runs/{run_id}/hexagons"): "planning",
    ("GET", "/v1/coverage/runs/{run_id}/areas"): "planning",
    ("GET", "/v1/coverage/runs/{run_id}/compare/{other_id}"): "planning",
    ("GET", "/v1/kpis/series"): "planning",
    ("GET", "/maps/coverage/{run_id}.html"): "planning",
    ("GET", "/maps/nearest.html"): "read",
    ("GET", "/v1/audit"): "admin",
    ("POST", "/v1/imports"): "admin",
    ("POST", "/open311/v2/requests.{format}"): "citizen_reports",
    ("GET", "/v1/generations"): "read",
    ("GET", "/v1/generations/{generation_id}"): "read",
    ("POST", "/v1/generations/{generation_id}/activate"): "admin",
    # Volunteer patrols and service posts: units' and the volunteers' app's system keys act
    # through "patrols" (a unit's key for its own unit only, checked by the library).
    ("POST", "/v1/units"): "admin",
    ("GET", "/v1/units"): "read",
    ("GET", "/v1/units/{unit_id}"): "read",
    ("POST", "/v1/patrols"): "patrols",
    ("GET", "/v1/patrols"): "read",
    ("GET", "/v1/patrols/stats"): "read",
    ("GET", "/v1/patrols/leaderboard"): "read",
    ("GET", "/v1/patrols/hours.geojson"): "read",
    ("GET", "/v1/patrols/{task_id}"): "read",
    ("DELETE", "/v1/patrols/{task_id}"): "patrols",
    ("POST", "/v1/patrols/{task_id}/claims"): "patrols",
    ("DELETE", "/v1/patrols/{task_id}/claims/{responder_id}"): "patrols",
    ("POST", "/v1/patrols/{task_id}/claims/{responder_id}/check-in"): "patrols",
    ("POST", "/v1/patrols/{task_id}/claims/{responder_id}/check-out"): "patrols",
    ("POST", "/v1/service-posts"): "admin",
    ("GET", "/v1/service-posts"): "read",
    ("GET", "/v1/service-posts/coverage"): "read",
    ("GET", "/v1/service-posts/{post_id}"): "read",
    ("POST", "/v1/service-posts/{post_id}/claims"): "patrols",
    ("DELETE", "/v1/service-posts/{post_id}/claims/{responder_id}"): "patrols",
    ("GET", "/v1/areas/search"): "read",
    ("GET", "/v1/areas/outlines"): "read",
    ("GET", "/v1/summary"): "read",
    ("GET", "/v1/incidents/queue"): "read",
    ("GET", "/v1/responders/in-view"): "read",
    ("GET", "/v1/stream"): "read",
}

# Authenticated keys are remembered briefly so the hot paths skip a lookup; a revoked key
# stops working within this many seconds.
KEY_CACHE_S = 10.0
TOUCH_EVERY_S = 60.0

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="An API key from `gridgis apikey create --role ROLE --name NAME`.",
)


def permission_for(method: str, path: str, *, open311_read_requires_key: bool = False) -> str:
    """The permission a route needs ("admin" when the table does not name it)."""
    if open311_read_requires_key and (method, path) in OPEN311_READS:
        return "read"
    if (method, path) in PUBLIC:
        return "public"
    if (method, path) in SESSION_ROUTES:
        return "session"
    return ROUTE_PERMISSIONS.get((method, path), "admin")


def documented_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, full path template) the app documents in its OpenAPI."""
    routes = []
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            routes.append((method.upper(), path))
    return routes


def document_public_routes(app: FastAPI) -> None:
    """Make the OpenAPI say the open routes are open: no key needed, never a 401 or 403."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()  # cached by FastAPI in app.openapi_schema: edited once, in place
        closed = OPEN311_READS if app.state.settings.open311_read_requires_key else set()
        for method, path in PUBLIC - closed:
            operation = schema["paths"].get(path, {}).get(method.lower())
            if operation is not None:
                operation["security"] = []
                for status in ("401", "403"):
                    # Only the app-wide key answers: sign-in documents its own 401 and 403.
                    if status not in PUBLIC_ROUTE_ANSWERS.get((method, path), ()):
                        operation["responses"].pop(status, None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def template_regex(path: str) -> re.Pattern[str]:
    parts = re.split(r"\{[^}]+\}", path)
    return re.compile("^" + "[^/]+".join(re.escape(part) for part in parts) + "$")


def resolve_permission(app: FastAPI, method: str, url_path: str) -> str:
    """The permission for a concrete URL: literal templates win over parameterised ones."""
    candidates = sorted(
        (path for m, path in documented_routes(app) if m == method),
        key=lambda path: (path.count("{"), path),
    )
    for path in candidates:
        if template_regex(path).match(url_path):
            return permission_for(
                method,
                path,
                open311_read_requires_key=app.state.settings.open311_read_requires_key,
            )
    return "admin"


# Each ends its transaction, so the request does not hold a pooled connection while it waits
# for its route: requests queued behind the dispatch threads while holding connections would
# leave none for the request being served (a pool timeout, measured in PERFORMANCE.md).
def _lookup(state: Any, presented: str | None) -> auth.ApiKeyInfo:
    with state.session_factory() as db:
        try:
            return auth.authenticate(db, state.secret_key, presented)
        finally:
            db.rollback()


def _touch(state: Any, key_id: int) -> None:
    with state.session_factory() as db:
        auth.touch(db, key_id, datetime.now(UTC))
        db.commit()


def _session(state: Any, method: str, headers: Mapping[str, str]) -> SessionInfo | None:
    with state.session_factory() as db:
        return principal_from_session_committed(db, method, headers, datetime.now(UTC))


Principal = auth.ApiKeyInfo | SessionInfo


async def principal_from_headers(
    state: Any, headers: Mapping[str, str], method: str = "GET"
) -> Principal:
    """Who is calling, from the request's headers alone (Unauthenticated otherwise): the one
    place a credential becomes a principal, used before the body is read (api/gate.py).

    An X-API-Key header wins; without one, a sign-in session cookie names a user (with the
    CSRF and same-origin checks for state-changing methods, api/session_auth.py). A key seen
    in the last KEY_CACHE_S seconds is checked without I/O, on the event loop; only a lookup
    or the periodic last-used update goes to the database (in the thread pool). Sessions are
    looked up on every request, so a sign-out or a disabled user takes effect at once."""
    presented = headers.get("x-api-key")
    if not presented:
        user = await run_in_threadpool(_session, state, method, headers)
        if user is not None:
            return user
    now = time.monotonic()
    cached = state.key_cache.get(presented) if presented else None
    if cached is not None and cached[0] > now:
        key: auth.ApiKeyInfo = cached[1]
    else:
        key = await run_in_threadpool(_lookup, state, presented)
        state.key_cache[presented] = (now + KEY_CACHE_S, key)
        if len(state.key_cache) > 10_000:  # never let hostile traffic grow it without bound
            state.key_cache.clear()
    last = state.key_touched.get(key.id, 0.0)
    if now - last > TOUCH_EVERY_S:
        state.key_touched[key.id] = now
        await run_in_threadpool(_touch, state, key.id)
    return key


def authorize(principal: Principal, permission: str) -> None:
    """Forbidden unless the principal's role has the permission; the session routes take a
    signed-in user only."""
    if isinstance(principal, SessionInfo):
        if permission != "session":
            auth.authorize_role(principal.role, permission, who="user", field=COOKIE_NAME)
        return
    if permission == "session":
        raise Unauthenticated("Sign in first (no valid session cookie).", field=COOKIE_NAME)
    auth.authorize(principal, permission)


def remember(state: Any, principal: Principal) -> None:
    """Leave the principal where routes and actor() find it (request.state / scope state)."""
    if isinstance(principal, SessionInfo):
        state.user = principal
    else:
        state.api_key = principal


def route_permission(request: Request) -> str:
    """The permission the request's route needs, resolved once per endpoint."""
    state = request.app.state
    # A request knows its endpoint, not the prefixed template.
    cache_key = (request.method, request.scope.get("endpoint"))
    permission: str | None = state.permissions.get(cache_key)
    if permission is None:
        permission = resolve_permission(request.app, request.method, request.url.path)
        state.permissions[cache_key] = permission
    return permission


async def require_api_key(
    request: Request,
    presented: Annotated[str | None, Security(api_key_header)],
) -> auth.ApiKeyInfo | None:
    """Authenticate the caller and check the route's permission (401 / 403 otherwise).

    api/gate.py has normally done both before the body was read and left the principal in
    request.state; this repeats the permission check (cheap) and documents the header in
    the OpenAPI. `presented` is read by principal_from_headers from the same header."""
    permission = route_permission(request)
    if permission == "public":
        return None
    principal: Principal | None = getattr(request.state, "user", None) or getattr(
        request.state, "api_key", None
    )
    if principal is None:  # an app assembled without the gate
        principal = await principal_from_headers(request.app.state, request.headers, request.method)
    authorize(principal, permission)
    remember(request.state, principal)
    return principal if isinstance(principal, auth.ApiKeyInfo) else None


CurrentKey = Annotated[auth.ApiKeyInfo | None, Depends(require_api_key)]


def actor(request: Request) -> str:
    """Who is behind this request, for the audit trail: "key:NAME" carrying the key's id, or
    "user:NAME" for a signed-in user."""
    user = getattr(request.state, "user", None)
    if user is not None:
        return audit.user_actor(user.user_name)
    key = getattr(request.state, "api_key", None)
    if key is None:
        raise Forbidden("This action needs an API key or a signed-in user.", field="X-API-Key")
    return audit.key_actor(key.name, key_id=key.id)
