"""Planner console benchmark, measured in a real browser: drawing a res-9 city coverage run's
hexagons at city zoom and at grid zoom, and switching between two runs, beside the API's own
time for the same hexagon requests (the floor).

    .venv/bin/python -m benchmarks.bench_planner [--volunteers 300000] [--switches 20]
        [--database gridgis_bench]

Loads the demo with the requested volunteer force (as the other benchmarks do), serves the
API with uvicorn on loopback, computes two res-9 runs over the whole city through it (every
role; every role but the volunteers), times each run's first city view (the server gathers
the run's cells and keeps them) and the same view again, and logs a planner in with headless
Chromium (Playwright, no network beyond loopback). Each switch clicks the other run in the list and
waits until its hexagons are painted (the map sets data-draw-ms after two animation frames);
the floor is the same /hexagons request sent by a plain HTTP client with keep-alive.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from typing import Any

import httpx
import numpy as np
from sqlalchemy import text

from benchmarks import common
from benchmarks.common import bench_database_url, machine_summary, prepare_scale_data, served_api
from gridgis.settings import get_settings

USER = "bench-planner"
PASSWORD = "bench planner password"
GRID_ZOOM_STEPS = 5  # city zoom 9 -> 14: res-9 hexagons, one grid fills a good part of the view
CITY_BBOX = "116.9,23.5,118.4,25.3"


def _p(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _ensure_user(url: str) -> None:
    from gridgis.accounts.users import create_user
    from gridgis.db.engine import make_engine

    engine = make_engine(get_settings(), url=url, pool_size=1)
    try:
        with engine.begin() as conn:
            # Kept from an earlier run (the audit trail refers to it): same name, same password.
            if conn.execute(text("SELECT 1 FROM users WHERE name = :n"), {"n": USER}).first():
                return
            create_user(conn, name=USER, role="planner", password=PASSWORD)
    finally:
        engine.dispose()


def _session(base: str) -> dict[str, str]:
    """Headers of a planner session (the served API's own key is `system`, not a planner): the
    cookie sent by hand (it is Secure in production and this is loopback HTTP) and CSRF."""
    response = httpx.post(
        base + "/v1/auth/login", json={"username": USER, "password": PASSWORD}, timeout=30
    )
    response.raise_for_status()
    token = response.cookies.get("gridgis_session") or ""
    return {"Cookie": f"gridgis_session={token}", "X-CSRF-Token": response.json()["csrf_token"]}


def _runs(base: str, headers: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two res-9 city runs: without the volunteers, then with every role."""
    with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
        roles = [r["role"] for r in client.get("/v1/summary").json()["responders"]]
        made = []
        for counted in ([r for r in roles if r != "volunteer"], None):
            started = time.perf_counter()
            response = client.post("/v1/coverage/runs", json={"roles": counted, "resolution": 9})
            response.raise_for_status()
            run = response.json()
            print(
                f"run #{run['id']}: {run['cell_count']:,} cells, "
                f"{run['summary']['responders_counted']:,} responders, "
                f"{time.perf_counter() - started:.1f} s",
                flush=True,
            )
            made.append(run)
    return made[0], made[1]


def _switch(page: Any, run_id: int) -> tuple[float, float, int, int]:
    """Wall ms from clicking a run to its hexagons painted; in-page ms; hexagons; resolution."""
    started = time.perf_counter()
    page.click(f"#run-list li[data-run='{run_id}']")
    page.wait_for_selector(
        f"#map[data-run='{run_id}'][data-loading='']", state="attached", timeout=60_000
    )
    wall = (time.perf_counter() - started) * 1000
    return (
        wall,
        float(page.get_attribute("#map", "data-draw-ms") or "nan"),
        int(page.get_attribute("#map", "data-hexagons") or 0),
        int(page.get_attribute("#map", "data-resolution") or 0),
    )


def _floor(
    base: str, headers: dict[str, str], run_id: int, bbox: str, zoom: int, repeat: int
) -> list[float]:
    took = []
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(
                f"/v1/coverage/runs/{run_id}/hexagons", params={"bbox": bbox, "zoom": zoom}
            )
            response.raise_for_status()
            took.append((time.perf_counter() - started) * 1000)
    return took


def _first_views(
    base: str, headers: dict[str, str], runs: tuple[dict[str, Any], ...]
) -> dict[str, list[float]]:
    """Each run's first city view (nothing kept yet: the server gathers the run's cells), then
    the same view again, from a plain HTTP client."""
    took: dict[str, list[float]] = {"first": [], "again": []}
    for run in runs:
        for kind in ("first", "again"):
            took[kind].extend(_floor(base, headers, run["id"], CITY_BBOX, 8, 1))
    return took


def _view(page: Any) -> tuple[str, int]:
    """The bbox and zoom the map last asked hexagons for (from the page's own request)."""
    url = page.evaluate(
        "() => performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(n => n.includes('/hexagons?')).pop()"
    )
    query = httpx.URL(url).params
    return query["bbox"], int(query["zoom"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--volunteers", type=int, default=300_000)
    parser.add_argument("--switches", type=int, default=20)
    parser.add_argument("--database", default=common.BENCH_DATABASE)
    args = parser.parse_args()
    common.BENCH_DATABASE = args.database
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is needed (scripts/setup.sh installs it)")
    os.environ["GRIDGIS_TILES"] = "none"
    url = bench_database_url(get_settings())
    totals = prepare_scale_data(url, args.volunteers)
    _ensure_user(url)
    print(machine_summary())
    print(f"demo: {', '.join(f'{k} {v:,}' for k, v in totals.items())}")
    results: dict[str, dict[str, list[float]]] = {}
    shapes: dict[str, tuple[int, int]] = {}
    with served_api(url, workers=1) as server, sync_playwright() as playwright:
        session = _session(server.url)
        a, b = _runs(server.url, session)
        first_views = _first_views(server.url, session, (a, b))
        browser = playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(viewport={"width": 1600, "height": 900})
        blocked: list[str] = []
        errors: list[str] = []
        context.route(
            lambda u: not u.startswith(server.url + "/"),
            lambda route: (blocked.append(route.request.url), route.abort()),
        )
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url + "/console/login")
        page.fill("#username", USER)
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_url(server.url + "/console/")
        page.goto(server.url + "/console/planner")
        page.wait_for_selector("body[data-ready=yes]", timeout=120_000)
        for label in ("city zoom", "grid zoom"):
            if label == "grid zoom":
                page.focus("#map")
                for _ in range(GRID_ZOOM_STEPS):
                    page.keyboard.press("+")
                    page.wait_for_timeout(400)
                page.wait_for_selector("#map[data-loading='']", state="attached")
            walls, inpage = [], []
            for i in range(args.switches):
                wall, drawn, count, resolution = _switch(page, (a, b)[i % 2]["id"])
                walls.append(wall)
                inpage.append(drawn)
            bbox, zoom = _view(page)
            floor = _floor(server.url, session, b["id"], bbox, zoom, args.switches)
            results[label] = {"wall": walls, "page": inpage, "floor": floor}
            shapes[label] = (count, resolution)
            print(f"{label}: zoom {zoom}, {count:,} hexagons at H3 res {resolution}", flush=True)
        browser.close()
    if blocked or errors:
        print(f"WARNING: {len(blocked)} requests left loopback, {len(errors)} page errors")
    print()
    print(f"{'':44} {'p50 ms':>8} {'p95 ms':>8} {'x floor p50':>12}")
    for label, values in results.items():
        base = _p(values["floor"], 50)
        rows = [
            (f"{label}: switch run -> painted (wall)", values["wall"]),
            (f"{label}: request -> painted (in page)", values["page"]),
            (f"{label}: API /hexagons alone (floor)", values["floor"]),
        ]
        for name, series in rows:
            p50, p95 = _p(series, 50), _p(series, 95)
            print(f"{name:44} {p50:8.1f} {p95:8.1f} {p50 / base:12.2f}")
    base = _p(results["city zoom"]["floor"], 50)
    for kind, label in (("first", "first city view of a run"), ("again", "the same view again")):
        values = first_views[kind]
        line = ", ".join(f"{v:.1f}" for v in values)
        print(f"API /hexagons, {label:28} {line:>16} ms {max(values) / base:8.2f} x floor")
    mean = statistics.fmean(results["city zoom"]["page"])
    print(f"\n(mean in-page at city zoom {mean:.1f} ms; {args.switches} switches per zoom)")


if __name__ == "__main__":
    main()
