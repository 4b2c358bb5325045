"""Security headers on every response, in one place: no sniffing, no framing, no referrer; a
Content-Security-Policy on every HTML page (a route may send its own); operational data is
never stored by browsers or proxies."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Pages we serve from static files (the console): scripts and styles from this server only.
DEFAULT_HTML_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# JSON and other non-HTML answers: nothing in them may run or load anything if opened.
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
# FastAPI's interactive documentation pages load their viewer from a CDN and start it with an
# inline script; they show only this API's own OpenAPI document.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
PAGE_POLICIES: dict[str, str] = {"/docs": DOCS_POLICY, "/redoc": DOCS_POLICY}
# Paths whose answers are operational data (areas, responders, incidents, maps).
NO_STORE_PREFIXES = ("/v1/", "/maps/")


def add_security_headers(path: str, headers: MutableHeaders) -> None:
    """Fill in the headers a response did not set itself."""
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    if "content-security-policy" not in headers:
        if headers.get("content-type", "").startswith("text/html"):
            headers["Content-Security-Policy"] = PAGE_POLICIES.get(path, DEFAULT_HTML_POLICY)
        else:
            headers["Content-Security-Policy"] = API_POLICY
    if path.startswith(NO_STORE_PREFIXES):
        headers.setdefault("Cache-Control", "no-store")


class SecurityHeaders:
    """ASGI middleware applying add_security_headers to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_security_headers(path, MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_with_headers)
