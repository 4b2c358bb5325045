"""/docs: Swagger UI served from pinned local files (fetched at setup), never from a CDN."""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from gridgis.mapping.assets import VENDOR_DIR

SWAGGER_DIR = VENDOR_DIR / "swagger-ui-dist"
STATIC_DIR = Path(__file__).with_name("static")


def _page(title: str, openapi_url: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(title)} - API documentation</title>
<link rel="stylesheet" href="/docs/vendor/swagger-ui.css">
</head>
<body data-openapi-url="{escape(openapi_url)}">
<div id="swagger-ui"></div>
<script src="/docs/vendor/swagger-ui-bundle.js"></script>
<script src="/docs/static/swagger-init.js"></script>
</body>
</html>
"""


def install_docs_page(app: FastAPI, openapi_url: str = "/openapi.json") -> None:
    """Serve /docs and its assets (open, like the OpenAPI document it shows)."""

    async def docs(_: Request) -> HTMLResponse:
        return HTMLResponse(_page(app.title, openapi_url))

    app.add_route("/docs", docs, include_in_schema=False)
    # check_dir=False: an install without the assets still starts; the files then 404.
    app.mount("/docs/vendor", StaticFiles(directory=SWAGGER_DIR, check_dir=False), "docs-vendor")
    app.mount("/docs/static", StaticFiles(directory=STATIC_DIR), "docs-static")
