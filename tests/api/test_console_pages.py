"""HTTP: the console's pages and static files — the redirects, the session check, the strict
Content-Security-Policy, versioned immutable assets, no way out of the served folders."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from api.routes.console import content_security_policy


def _static_base(html: str) -> str:
    match = re.search(r'src="(/console/static/[0-9a-f]{12})/js/login\.js"', html)
    assert match, html[:500]
    return match.group(1)


def test_root_redirects_to_the_console_and_it_wants_a_session(client: TestClient) -> None:
    root = client.get("/", follow_redirects=False, headers={"X-API-Key": ""})
    assert root.status_code == 307 and root.headers["location"] == "/console/"
    console = client.get("/console/", follow_redirects=False, headers={"X-API-Key": ""})
    assert console.status_code == 303 and console.headers["location"] == "/console/login"
    client.cookies.set("gridgis_session", "forged")
    forged = client.get("/console/", follow_redirects=False)
    client.cookies.clear()
    assert forged.status_code == 303


def test_login_page_is_served_with_a_strict_csp_and_no_inline_script(client: TestClient) -> None:
    page = client.get("/console/login", headers={"X-API-Key": ""})
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert page.headers["cache-control"] == "no-store"
    # Scripts only by src; no inline handlers.
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page.text) == []
    assert not re.search(r"\son[a-z]+=", page.text)


def test_static_files_are_versioned_and_immutable(client: TestClient) -> None:
    base = _static_base(client.get("/console/login").text)
    module = client.get(base + "/js/main.js", headers={"X-API-Key": ""})
    assert module.status_code == 200
    assert module.headers["content-type"].startswith("text/javascript")
    assert "immutable" in module.headers["cache-control"]
    leaflet = client.get(base + "/vendor/leaflet/dist/leaflet.js")
    assert leaflet.status_code == 200 and "Leaflet" in leaflet.text[:2000]
    catalogue = client.get(base + "/i18n/zh-CN.json").json()
    assert catalogue["app.title"] == "gridgis 调度台"
    english = client.get(base + "/i18n/en.json").json()
    assert set(english) == set(catalogue), "every message in both languages"
    stale = client.get("/console/static/000000000000/js/main.js")
    assert stale.status_code == 404


def test_static_serves_nothing_outside_its_files(client: TestClient) -> None:
    base = _static_base(client.get("/console/login").text)
    for path in (
        "/../routes/console.py",
        "/%2e%2e/routes/console.py",
        "/index.html",
        "/vendor/manifest.json",
        "/js/missing.js",
    ):
        assert client.get(base + path).status_code == 404, path


def test_csp_allows_images_from_the_configured_tile_host_only() -> None:
    osm = content_security_policy("osm")
    assert "img-src 'self' data: https://tile.openstreetmap.org" in osm
    intranet = content_security_policy("http://tiles.city.local/{z}/{x}/{y}.png")
    assert "img-src 'self' data: http://tiles.city.local;" in intranet
    assert "img-src 'self' data:;" in content_security_policy("none")
