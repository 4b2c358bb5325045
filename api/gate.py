"""The gate in front of every route: authenticate and authorize from the headers alone, then
let the body through only up to the route's size limit. Nothing is read from the body of a
request that is not allowed in, and no body is read beyond its limit."""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import body_too_large_response, database_down_response, domain_error_response
from api.security import (
    authorize,
    documented_routes,
    permission_for,
    principal_from_headers,
    template_regex,
)
from gridgis import auth
from gridgis.accounts.sessions import SessionInfo
from gridgis.errors import Forbidden, Unauthenticated

log = logging.getLogger("gridgis.security")

# Routes that take a file upload (multipart): the upload limit plus room for the form fields.
UPLOAD_ROUTES = frozenset({("POST", "/v1/imports")})
MULTIPART_OVERHEAD = 1024 * 1024
# Refused requests are logged, at most this many lines per client address and window.
REJECTIONS_LOGGED_PER_WINDOW = 20
REJECTION_WINDOW_S = 60.0


class BodyTooLarge(Exception):
    """The body grew past its route's limit while it was being received."""


class RejectionLog:
    """Logs 401s and 403s with the key's prefix and the client address, rate-limited per
    address so a flood of bad requests cannot flood the log (what was left out is counted
    and reported with the next line from that address)."""

    def __init__(self) -> None:
        self.windows: dict[str, tuple[float, int, int]] = {}  # address -> (start, shown, held)

    def record(self, scope: Scope, status: int, presented: str | None, reason: str) -> None:
        client = scope.get("client")
        address = client[0] if client else "unknown"
        now = time.monotonic()
        start, shown, held = self.windows.get(address, (now, 0, 0))
        if now - start > REJECTION_WINDOW_S:
            start, shown = now, 0
        if shown >= REJECTIONS_LOGGED_PER_WINDOW:
            self.windows[address] = (start, shown, held + 1)
            return
        if len(self.windows) > 10_000:
            self.windows.clear()
        self.windows[address] = (start, shown + 1, 0)
        prefix = (presented or "")[: len(auth.KEY_PREFIX) + 4] or "-"
        log.warning(
            "refused %s %s %s from %s key=%s: %s%s",
            status,
            scope.get("method"),
            scope.get("path"),
            address,
            prefix,
            reason,
            f" ({held} more from this address not logged)" if held else "",
        )


def _template_of(app: Any, method: str, path: str) -> str | None:
    """The documented route template a concrete path falls under (literal templates before
    parameterised ones, as in api/security.py), or None for paths that are not API routes
    (documentation, static files, unknown paths): those pass through."""
    templates = getattr(app.state, "gate_templates", None)
    if templates is None:
        templates = {}
        for m, template in sorted(documented_routes(app), key=lambda r: (r[1].count("{"), r[1])):
            templates.setdefault(m, []).append((template_regex(template), template))
        app.state.gate_templates = templates
    for regex, template in templates.get(method, ()):
        if regex.match(path):
            return str(template)
    return None


def body_limit(settings: Any, method: str, path: str) -> int:
    """The most bytes a route's request body may have."""
    if (method, path) in UPLOAD_ROUTES:
        return int(settings.max_upload_bytes) + MULTIPART_OVERHEAD
    return int(settings.max_json_body_bytes)


class Gate:
    """ASGI middleware: the authentication and body-size checks, before any routing work.

    Routes that are not API routes (documentation, static files) and unknown paths pass
    through; the route permission table (api/security.py) decides who may call the rest."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.rejections = RejectionLog()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        app = scope["app"]
        method = scope["method"]
        template = _template_of(app, method, scope["path"])
        if template is None:
            await self.app(scope, receive, send)
            return
        permission = permission_for(method, template)
        headers = Headers(scope=scope)
        if permission != "public":
            presented = headers.get("x-api-key")
            try:
                principal = await principal_from_headers(app.state, headers, method)
                authorize(principal, permission)
            except (Unauthenticated, Forbidden) as exc:
                response = domain_error_response(exc)
                self.rejections.record(scope, response.status_code, presented, exc.message)
                await response(scope, receive, send)
                return
            except (OperationalError, PoolTimeout):
                await database_down_response()(scope, receive, send)
                return
            state = scope.setdefault("state", {})
            state["user" if isinstance(principal, SessionInfo) else "api_key"] = principal
        limit = body_limit(app.state.settings, method, template)
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await body_too_large_response(limit)(scope, receive, send)
            return
        await self._within_limit(scope, receive, send, limit)

    async def _within_limit(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        too_large = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            if too_large:
                raise BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large:
                # Whatever the route made of the cut-off body, the answer is 413.
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await body_too_large_response(limit)(scope, receive, send)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            if not started:
                await body_too_large_response(limit)(scope, receive, send)
