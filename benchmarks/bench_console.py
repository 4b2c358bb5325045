"""Console benchmark, measured in a real browser: login to the first map with grids drawn, and
click-to-nearest-drawn latency, beside the API's own latency for the same calls.

    .venv/bin/python -m benchmarks.bench_console [--volunteers 300000] [--clicks 100]
        [--database gridgis_bench]

Loads the demo with the requested volunteer force into gridgis_bench (as the other benchmarks
do), serves the API with uvicorn on loopback, logs a dispatcher in with headless Chromium
(Playwright, no network beyond loopback) and clicks the map. For each click the console asks
for the nearest responders and the grid (locate) at once; the floor is the same two requests
sent by a plain HTTP client with keep-alive (their sum, and the slower of the two), so the
ratio says what the browser, the JavaScript and the drawing add.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np
from sqlalchemy import text

from benchmarks import common
from benchmarks.common import (
    bench_database_url,
    machine_summary,
    prepare_scale_data,
    served_api,
)
from gridgis.settings import get_settings

USER = "bench-dispatcher"
PASSWORD = "bench console password"
LOGINS = 5


def _percentiles(values_ms: list[float]) -> tuple[float, float]:
    array = np.asarray(values_ms)
    return float(np.percentile(array, 50)), float(np.percentile(array, 95))


def _ensure_user(url: str) -> None:
    from gridgis.accounts.users import create_user
    from gridgis.db.engine import make_engine

    engine = make_engine(get_settings(), url=url, pool_size=1)
    try:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM users WHERE name = :n"), {"n": USER})
            create_user(conn, name=USER, role="dispatcher", password=PASSWORD)
    finally:
        engine.dispose()


def _login(page: Any, base: str) -> float:
    """Seconds from pressing the login button to the first map with grids drawn."""
    page.goto(base + "/console/login")
    page.fill("#username", USER)
    page.fill("#password", PASSWORD)
    started = time.perf_counter()
    page.click("#login-submit")
    page.wait_for_selector("body[data-map-ready=grid]", timeout=60_000)
    return time.perf_counter() - started


def _session_cookie(base: str) -> tuple[str, list[float]]:
    """A session for the benchmark user, and how long each of three logins took (ms)."""
    took, token = [], ""
    with httpx.Client(base_url=base, timeout=30) as client:
        for _ in range(3):
            started = time.perf_counter()
            response = client.post("/v1/auth/login", json={"username": USER, "password": PASSWORD})
            took.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            token = response.cookies.get("gridgis_session") or ""
    return token, took


def _api_floor(
    base: str, headers: dict[str, str], points: list[tuple[float, float]]
) -> dict[str, list[float]]:
    """The console's two requests per click, each timed, from a keep-alive HTTP client."""
    out: dict[str, list[float]] = {"nearest": [], "locate": [], "sum": [], "max": []}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for lon, lat in points:
            started = time.perf_counter()
            client.get("/v1/responders/nearest", params={"lon": lon, "lat": lat, "n": 5})
            middle = time.perf_counter()
            client.get("/v1/locate", params={"lon": lon, "lat": lat})
            done = time.perf_counter()
            nearest, locate = (middle - started) * 1000, (done - middle) * 1000
            out["nearest"].append(nearest)
            out["locate"].append(locate)
            out["sum"].append(nearest + locate)
            out["max"].append(max(nearest, locate))
    return out


def _incident_push(
    page: Any, base: str, api_key: str, points: list[tuple[float, float]], database_url: str
) -> dict[str, list[float]]:
    """A dispatch system posts incidents one at a time; each is timed from the POST to its row
    in the dispatcher's queue (pushed by the live stream: the queue does not poll), beside the
    POST's own latency (the floor). The incidents are deleted afterwards (their events with
    them)."""
    out: dict[str, list[float]] = {"post": [], "row": []}
    created: list[int] = []
    stamp = int(time.time())
    try:
        with httpx.Client(base_url=base, headers={"X-API-Key": api_key}, timeout=30) as client:
            for i, (lon, lat) in enumerate(points):
                body = {
                    "external_id": f"bench-push-{stamp}-{i}",
                    "category": "theft",
                    "lon": lon,
                    "lat": lat,
                    "reported_at": datetime.now(UTC).isoformat(),
                }
                started = time.perf_counter()
                response = client.post("/v1/incidents", json=body)
                posted = time.perf_counter()
                response.raise_for_status()
                incident = int(response.json()["id"])
                created.append(incident)
                page.locator(f"#queue li[data-id='{incident}']").wait_for(timeout=30_000)
                out["post"].append((posted - started) * 1000)
                out["row"].append((time.perf_counter() - started) * 1000)
    finally:
        _delete_incidents(database_url, created)
    return out


def _delete_incidents(url: str, ids: list[int]) -> None:
    from gridgis.db.engine import make_engine

    engine = make_engine(get_settings(), url=url, pool_size=1)
    try:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM incidents WHERE id = ANY(:ids)"), {"ids": ids})
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--volunteers", type=int, default=300_000)
    parser.add_argument("--clicks", type=int, default=100)
    parser.add_argument(
        "--pushes", type=int, default=30, help="incidents posted and timed to the queue"
    )
    parser.add_argument(
        "--database", default=common.BENCH_DATABASE, help="scale database (created if missing)"
    )
    args = parser.parse_args()
    common.BENCH_DATABASE = args.database
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is needed (scripts/setup.sh installs it)")
    os.environ["GRIDGIS_TILES"] = "none"  # no base map: nothing may leave loopback
    url = bench_database_url(get_settings())
    prepare_scale_data(url, args.volunteers)
    _ensure_user(url)
    print(machine_summary())
    print(f"demo with {args.volunteers:,} volunteers; {args.clicks} clicks; {LOGINS} logins")
    with served_api(url, workers=1) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
        )
        blocked: list[str] = []
        errors: list[str] = []
        cold, warm = [], []
        context = None
        for attempt in range(LOGINS):
            # A new context is a cold cache; the last logins reuse one (cached assets).
            if attempt < 2 or context is None:
                if context is not None:
                    context.close()
                context = browser.new_context(viewport={"width": 1600, "height": 900})
                context.route(
                    lambda u: not u.startswith(server.url + "/"),
                    lambda route: (blocked.append(route.request.url), route.abort()),
                )
                page = context.new_page()
                page.on("pageerror", lambda e: errors.append(str(e)))
            (cold if attempt < 2 else warm).append(_login(page, server.url))
            if attempt < LOGINS - 1:
                page.click("#logout")
                page.wait_for_url(re.compile(r".*/console/login$"))
        page.wait_for_selector("body[data-live=live]")
        box = page.locator("#map").bounding_box()
        assert box is not None
        rng = random.Random(7)
        wall_ms: list[float] = []
        page_ms: list[float] = []
        points: list[tuple[float, float]] = []
        seq = 0
        while len(wall_ms) < args.clicks:
            x = box["x"] + box["width"] * rng.uniform(0.3, 0.7)
            y = box["y"] + box["height"] * rng.uniform(0.3, 0.7)
            started = time.perf_counter()
            page.mouse.click(x, y)
            try:
                page.wait_for_selector(f"body[data-place-seq='{seq + 1}']", timeout=10_000)
            except PlaywrightTimeout:
                continue  # a marker took the click (it picks a responder): click elsewhere
            seq += 1
            elapsed = (time.perf_counter() - started) * 1000
            if page.locator("#nearest tr[data-responder]").count() == 0:
                continue  # outside every grid: not a place a dispatcher is sent to
            wall_ms.append(elapsed)
            page_ms.append(float(page.get_attribute("body", "data-place-ms") or "nan"))
            shown = page.text_content("#place-panel p.muted") or ""
            lon, lat = (float(v) for v in re.findall(r"[0-9.]+", shown)[:2])
            points.append((lon, lat))
        push = _incident_push(page, server.url, server.api_key, points[: args.pushes], url)
        browser.close()
        floor = _api_floor(server.url, {"X-API-Key": server.api_key}, points)
        token, login_ms = _session_cookie(server.url)
        # Sent by hand: the cookie is Secure in production and this is loopback HTTP.
        with_cookie = _api_floor(server.url, {"Cookie": f"gridgis_session={token}"}, points)
    if blocked or errors:
        print(f"WARNING: {len(blocked)} requests left loopback, {len(errors)} page errors")
    print()
    print(f"login -> map with grids drawn (cold cache): {', '.join(f'{s:.2f}' for s in cold)} s")
    print(f"login -> map with grids drawn (warm cache): {', '.join(f'{s:.2f}' for s in warm)} s")
    print(f"of which POST /v1/auth/login alone: {', '.join(f'{m:.0f}' for m in login_ms)} ms")
    print()
    rows = [
        ("browser: click -> nearest drawn (wall)", wall_ms),
        ("browser: request -> drawn (in page)", page_ms),
        ("API: nearest", floor["nearest"]),
        ("API: locate", floor["locate"]),
        ("API: nearest + locate, in turn", floor["sum"]),
        ("API: slower of the two (the floor)", floor["max"]),
        ("API + session cookie: nearest", with_cookie["nearest"]),
        ("API + session cookie: locate", with_cookie["locate"]),
        ("API + session cookie: slower of the two", with_cookie["max"]),
    ]
    base_p50, _ = _percentiles(floor["max"])
    print(f"{'':42} {'p50 ms':>8} {'p95 ms':>8} {'x floor p50':>12}")
    for name, values in rows:
        p50, p95 = _percentiles(values)
        print(f"{name:42} {p50:8.1f} {p95:8.1f} {p50 / base_p50:12.2f}")
    print(f"\n(mean in-page {statistics.fmean(page_ms):.1f} ms over {len(page_ms)} clicks)")
    post_p50, _ = _percentiles(push["post"])
    print(f"\n{'incident pushed to the queue':42} {'p50 ms':>8} {'p95 ms':>8} {'x POST p50':>12}")
    for name, values in (
        ("API: POST /v1/incidents (the floor)", push["post"]),
        ("browser: POST -> row in the queue", push["row"]),
    ):
        p50, p95 = _percentiles(values)
        print(f"{name:42} {p50:8.1f} {p95:8.1f} {p50 / post_p50:12.2f}")


if __name__ == "__main__":
    main()
