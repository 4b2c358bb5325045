"""The dispatchers' console: its pages under /console/ (the root redirects there) and its
static files, versioned by content so they can be cached for good.

The console is plain HTML and ES modules in api/console/ plus the pinned Leaflet files the
offline maps already fetch (gridgis/mapping/static/vendor). It uses only the public /v1 API,
logged in with a user session (cookie + CSRF header). These routes are plain Starlette routes:
they sit outside the API's key check and outside the OpenAPI document; /console/ itself
checks the session and sends anyone without one to the login page."""

from __future__ import annotations

import hashlib
import html
import mimetypes
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from gridgis.mapping.assets import VENDOR_DIR
from gridgis.mapping.policy import OSM_URL

CONSOLE_DIR = Path(__file__).resolve().parents[1] / "console"
SESSION_COOKIE = "gridgis_session"
# Leaflet's files the console loads (the same pinned packages the offline maps inline).
VENDOR_FILES = (
    "leaflet/dist/leaflet.js",
    "leaflet/dist/leaflet.css",
    "leaflet/dist/images/layers.png",
    "leaflet/dist/images/layers-2x.png",
    "leaflet/dist/images/marker-icon.png",
    "leaflet/dist/images/marker-icon-2x.png",
    "leaflet/dist/images/marker-shadow.png",
)
STATIC_SUFFIXES = {".js", ".css", ".json", ".png", ".svg", ".wav", ".ico"}


def _console_files() -> dict[str, Path]:
    """Relative URL path -> file, for everything the console may serve."""
    files = {
        path.relative_to(CONSOLE_DIR).as_posix(): path
        for path in sorted(CONSOLE_DIR.rglob("*"))
        if path.is_file() and path.suffix in STATIC_SUFFIXES
    }
    for name in VENDOR_FILES:
        files["vendor/" + name] = VENDOR_DIR / name
    return files


def _version(files: dict[str, Path]) -> str:
    """A short hash of every served file: a new release gets new URLs, so old caches never
    serve stale modules."""
    digest = hashlib.sha256()
    for name, path in sorted(files.items()):
        digest.update(name.encode())
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"missing")
    for page in ("index.html", "login.html", "planner.html"):
        digest.update((CONSOLE_DIR / page).read_bytes())
    return digest.hexdigest()[:12]


def tile_template(tiles: str) -> str:
    """The base-map URL template for GRIDGIS_TILES ('' for none)."""
    value = tiles.strip()
    if value.lower() in ("", "none"):
        return ""
    if value.lower() == "osm":
        return OSM_URL
    return value


def content_security_policy(tiles: str) -> str:
    """Scripts, styles and data from this origin only; images also from the tile host."""
    images = ["'self'", "data:"]
    template = tile_template(tiles)
    if template.startswith(("http://", "https://")):
        parts = urlsplit(template.replace("{s}", "a"))
        host = parts.netloc
        if "{s}" in template:
            host = "*." + host.split(".", 1)[1] if "." in host else host
        images.append(f"{parts.scheme}://{host}")
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src {' '.join(images)}; connect-src 'self'; media-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )


class Console:
    """The console's pages and files for one app (settings fixed at build time)."""

    def __init__(self, tiles: str, eta_target_s: float) -> None:
        self.files = _console_files()
        self.version = _version(self.files)
        self.csp = content_security_policy(tiles)
        self.values = {
            "version": self.version,
            "static": f"/console/static/{self.version}",
            "tiles": tile_template(tiles),
            "target": f"{eta_target_s:g}",
        }

    def _page(self, name: str) -> HTMLResponse:
        text = (CONSOLE_DIR / name).read_text(encoding="utf-8")
        for key, value in self.values.items():
            text = text.replace("{{" + key + "}}", html.escape(value, quote=True))
        return HTMLResponse(
            text,
            # The other security headers come from api/headers.py, as for every response.
            headers={"Content-Security-Policy": self.csp, "Cache-Control": "no-store"},
        )

    async def root(self, request: Request) -> Response:
        return RedirectResponse("/console/", status_code=307)

    async def index(self, request: Request) -> Response:
        if not await self._has_session(request):
            return RedirectResponse("/console/login", status_code=303)
        return self._page("index.html")

    async def planner(self, request: Request) -> Response:
        if not await self._has_session(request):
            return RedirectResponse("/console/login", status_code=303)
        return self._page("planner.html")

    async def login(self, request: Request) -> Response:
        return self._page("login.html")

    async def static(self, request: Request) -> Response:
        if request.path_params["version"] != self.version:
            # An old page asking for old files: they are gone; reloading fetches the new ones.
            return Response("Not found", status_code=404, headers={"Cache-Control": "no-store"})
        path = self.files.get(request.path_params["path"])
        if path is None or not path.is_file():
            return Response("Not found", status_code=404)
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix == ".js":
            media_type = "text/javascript"
        return FileResponse(
            path,
            media_type=media_type,
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    async def _has_session(self, request: Request) -> bool:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return False
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(self._lookup, request.app, token)

    @staticmethod
    def _lookup(app: Starlette, token: str) -> bool:
        from gridgis.accounts.sessions import lookup

        with app.state.session_factory() as db:
            found = lookup(db, token, datetime.now(UTC))
            db.commit()
        return found is not None


def install_console(app: Starlette, tiles: str, eta_target_s: float) -> None:
    """Add the console's routes to `app` (outside the API's key check and its OpenAPI)."""
    console = Console(tiles, eta_target_s)
    app.state.console_version = console.version
    app.router.routes.extend(
        [
            Route("/", console.root, methods=["GET"], include_in_schema=False),
            Route("/console", console.root, methods=["GET"], include_in_schema=False),
            Route("/console/", console.index, methods=["GET"], include_in_schema=False),
            Route("/console/login", console.login, methods=["GET"], include_in_schema=False),
            Route("/console/planner", console.planner, methods=["GET"], include_in_schema=False),
            Route(
                "/console/static/{version}/{path:path}",
                console.static,
                methods=["GET"],
                include_in_schema=False,
            ),
        ]
    )
