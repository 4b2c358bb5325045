"""The dispatchers' console in a real browser (headless Chromium driven by Playwright), against
a real server on loopback and its own database: a dispatcher logs in, finds a place, sees an
incident a dispatch system posts appear without a reload, dispatches, records arrival,
resolves and closes it, and takes a call by hand; a planner sees no dispatch actions and the
API refuses them. No request leaves loopback, and any JavaScript error fails the test.
Screenshots of every step go to test-artifacts/console/."""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

from gridgis.settings import Settings
from tests.servers import free_port

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
PASSWORD = "correct horse battery staple"
# The queue has no polling: only the live stream makes it re-read, so a row that appears at
# all was pushed. How fast is bench_console's business; this bound only stops a hung page.
LIVE_WAIT_S = 15.0
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"]

playwright_sync = pytest.importorskip("playwright.sync_api")


@dataclass
class ConsoleServer:
    base: str
    system_key: str
    engine: Engine


@pytest.fixture(scope="module")
def console_server(
    settings: Settings, test_database_url: str, demo: Any
) -> Iterator[ConsoleServer]:
    """The app served by uvicorn on a free loopback port, on a database of its own (the
    browser's flow commits, so it cannot share the rolled-back test transactions)."""
    with serve_console(settings, test_database_url, demo, suffix="browser") as server:
        yield server


@contextmanager
def serve_console(
    settings: Settings,
    test_database_url: str,
    demo: Any,
    *,
    suffix: str,
    prepare: Callable[[Connection, Settings], None] | None = None,
) -> Iterator[ConsoleServer]:
    """Serve the app on a database `<test database>_<suffix>` with the demo, `prepare`'s extra
    data, a dispatcher and a planner user and a system key."""
    import uvicorn

    from api.main import create_app
    from gridgis.accounts.users import create_user
    from gridgis.auth import create_api_key
    from gridgis.db.embedded import ensure_database
    from gridgis.db.engine import make_engine
    from gridgis.db.migrate import upgrade
    from gridgis.demo.load import load_demo
    from gridgis.settings import resolve_secret_key

    url = make_url(test_database_url)
    name = f"{url.database}_{suffix}"
    admin = url.set(drivername="postgresql", database="postgres")
    ensure_database(admin.render_as_string(hide_password=False), name, drop_first=True)
    database_url = url.set(database=name).render_as_string(hide_password=False)
    server_settings = settings.model_copy(update={"database_url": database_url, "tiles": "none"})
    engine = make_engine(server_settings, pool_size=2)
    with engine.connect() as connection:
        upgrade(connection)
        load_demo(connection, demo)
        if prepare is not None:
            prepare(connection, server_settings)
        connection.commit()
    with engine.begin() as connection:
        for role in ("dispatcher", "planner"):
            create_user(connection, name=f"test-{role}", role=role, password=PASSWORD)
        _, system_key = create_api_key(
            connection, resolve_secret_key(server_settings), name="dispatch-system", role="system"
        )
    port = free_port()
    config = uvicorn.Config(
        create_app(server_settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield ConsoleServer(f"http://127.0.0.1:{port}", system_key, engine)
    finally:
        server.should_exit = True
        thread.join(10)
        engine.dispose()


@dataclass
class Browser:
    """One browser page with everything it logged, and the requests it tried to send away."""

    page: Any
    errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    step: int = 0

    def shot(self, name: str) -> None:
        self.step += 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{self.step:02d}-{name}.png"))


@pytest.fixture()
def browser(console_server: ConsoleServer) -> Iterator[Browser]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it)")
    with playwright_sync.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        context = instance.new_context(
            viewport={"width": 1600, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai"
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        probe = Browser(page)
        base = console_server.base

        def leave_loopback(route: Any) -> None:
            probe.blocked.append(route.request.url)
            route.abort()

        # Only the server under test may be reached: anything else (a CDN, tiles) is refused
        # and fails the test below.
        context.route(lambda url: not url.startswith(base + "/"), leave_loopback)
        page.on(
            "console",
            lambda message: (
                probe.errors.append(f"console: {message.text}") if message.type == "error" else None
            ),
        )
        page.on("pageerror", lambda error: probe.errors.append(f"pageerror: {error}"))
        try:
            yield probe
        finally:
            context.close()
            instance.close()
    assert probe.blocked == [], f"requests left loopback: {probe.blocked}"


def _login(browser: Browser, base: str, user: str) -> None:
    page = browser.page
    page.goto(base + "/")
    assert page.url == base + "/console/login", "no session: the console sends you to log in"
    page.wait_for_selector("#login-form")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    browser.shot(f"{user}-login")
    page.click("#login-submit")
    page.wait_for_url(base + "/console/")
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector("body[data-live=live]")


def _system_post(server: ConsoleServer, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        server.base + path, json=body, headers={"X-API-Key": server.system_key}, timeout=10
    )


def _responder_status(server: ConsoleServer, responder_id: int) -> str:
    with server.engine.connect() as connection:
        return str(
            connection.execute(
                text("SELECT status FROM responders WHERE id = :id"), {"id": responder_id}
            ).scalar_one()
        )


def _only_expected_errors(browser: Browser, expected: list[str]) -> None:
    """Every console error must be one the flow provoked on purpose (the browser logs each
    refused request, e.g. the 409 of an out-of-order event); nothing else may be logged."""
    unexpected = [e for e in browser.errors if not any(re.search(p, e) for p in expected)]
    assert unexpected == [], unexpected
    for pattern in expected:
        assert any(re.search(pattern, e) for e in browser.errors), f"expected {pattern}"


def test_dispatcher_flow(browser: Browser, console_server: ConsoleServer) -> None:
    page, base = browser.page, console_server.base
    _login(browser, base, "test-dispatcher")
    page.wait_for_selector("body[data-map-ready=grid]")
    assert page.locator(".leaflet-overlay-pane canvas").count() >= 1
    assert page.text_content("#user-name").startswith("test-dispatcher")
    browser.shot("map-with-grids")

    # A click on the map: the grid, its hierarchy and team, the nearest responders drawn.
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector("#place-grid b")
    page.wait_for_selector("#nearest tr[data-responder]")
    page.wait_for_selector("body[data-nearest-drawn]")
    coordinates = page.text_content("#place-panel p.muted") or ""
    lon, lat = (float(v) for v in re.findall(r"[0-9.]+", coordinates)[:2])
    located = httpx.get(
        base + "/v1/locate",
        params={"lon": lon, "lat": lat},
        headers={"X-API-Key": console_server.system_key},
    ).json()
    assert located["grid"]["code"] in (page.text_content("#place-grid") or "")
    assert page.locator("#place-team li").count() >= 1
    assert page.locator("#nearest tr[data-responder]").count() == 5
    # The straight-line model is in force: straight lines only, no road routes asked for.
    page.wait_for_selector("body[data-place-seq]")
    assert page.locator("path.road-route").count() == 0
    assert page.locator("#nearest td.priced-road, #nearest td.priced-straight").count() == 0
    browser.shot("place-grid-team-nearest")

    # A dispatch system posts an incident: it appears in the queue without a reload.
    page.evaluate("window.__sameDocument = true")
    reported = datetime.now(UTC).isoformat()
    created = _system_post(
        console_server,
        "/v1/incidents",
        {
            "external_id": "browser-110-0001",
            "category": "theft",
            "lon": lon,
            "lat": lat,
            "reported_at": reported,
            "description": "电动车被盗",
        },
    )
    assert created.status_code == 201, created.text
    incident = created.json()
    row = page.locator(f"#queue li[data-id='{incident['id']}']")
    row.wait_for(timeout=LIVE_WAIT_S * 1000)
    assert page.evaluate("window.__sameDocument === true")
    assert page.locator("#activity-log li.new").count() >= 1
    assert page.get_attribute("body", "data-chimes") == "1"
    browser.shot("incident-appears-live")

    # Open it: recommendation, timeline, actions. Closing first is refused in place (409).
    row.click()
    page.wait_for_selector("#recommendation tr.picked")
    top = incident["recommendation"]["responders"][0]
    assert page.get_attribute("#recommendation tr.picked", "data-responder") == str(
        top["responder_id"]
    )
    page.keyboard.press("c")
    page.wait_for_selector(".action-error:not(:empty)")
    assert "409" in (page.text_content(".action-error") or "")
    browser.shot("out-of-order-409-in-place")

    # Dispatch the top recommendation: the responder turns busy for everyone.
    page.click("#act-dispatched")
    page.wait_for_selector("#timeline li[data-type=dispatched]")
    assert _responder_status(console_server, top["responder_id"]) == "busy"
    page.locator("#activity-log li.status-busy").first.wait_for()
    browser.shot("dispatched-responder-busy")

    # Arrival, resolution, closing by single keys; the responder is available again.
    page.keyboard.press("a")
    page.wait_for_selector("#timeline li[data-type=arrived]")
    page.keyboard.press("r")
    page.wait_for_selector("#timeline li[data-type=resolved]")
    page.keyboard.press("c")
    page.wait_for_selector("#timeline li[data-type=closed]")
    page.locator("#activity-log li.status-available").first.wait_for()
    assert _responder_status(console_server, top["responder_id"]) == "available"
    page.locator(f"#queue li[data-id='{incident['id']}']").wait_for(state="detached")
    browser.shot("closed-responder-available")
    page.keyboard.press("Escape")

    # A call taken by hand at a clicked place becomes an incident.
    page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.45)
    page.wait_for_selector("#nearest tr[data-responder]")
    page.select_option("#call-category", "neighbour_dispute")
    page.fill("#call-description", "邻里噪音纠纷")
    page.press("#call-description", "Control+Enter")
    page.wait_for_selector("#incident-panel:not([hidden]) #timeline")
    heading = page.text_content("#incident-panel h2") or ""
    new_id = int(re.search(r"#(\d+)", heading).group(1))  # type: ignore[union-attr]
    taken = httpx.get(
        f"{base}/v1/incidents/{new_id}", headers={"X-API-Key": console_server.system_key}
    ).json()
    assert taken["category"]["code"] == "neighbour_dispute"
    assert taken["description"] == "邻里噪音纠纷"
    assert page.locator(f"#queue li[data-id='{new_id}']").count() == 1
    browser.shot("call-taken-by-hand")

    # English on demand, from the one catalogue per language.
    page.click("#lang-toggle")
    page.wait_for_selector("#queue-title span:text('Incident queue')")
    browser.shot("english")
    _only_expected_errors(browser, [r"status of 409"])


def test_planner_sees_no_dispatch_actions_and_is_refused(
    browser: Browser, console_server: ConsoleServer
) -> None:
    page, base = browser.page, console_server.base
    created = _system_post(
        console_server,
        "/v1/incidents",
        {
            "external_id": "browser-110-0002",
            "category": "theft",
            "lon": 117.65,
            "lat": 24.51,
            "reported_at": datetime.now(UTC).isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    incident = created.json()
    _login(browser, base, "test-planner")
    assert page.is_hidden("#call-pane")
    page.click(f"#queue li[data-id='{incident['id']}']")
    page.wait_for_selector("#recommendation")
    assert page.locator("#act-dispatched").count() == 0
    browser.shot("planner-read-only")

    # The API refuses the planner's session, CSRF token and all.
    me = page.request.get(base + "/v1/auth/me").json()
    headers = {"X-CSRF-Token": me["csrf_token"], "Origin": base}
    responder = incident["recommendation"]["responders"][0]["responder_id"]
    event = page.request.post(
        f"{base}/v1/incidents/{incident['id']}/events",
        data={"type": "dispatched", "responder_id": responder, "at": datetime.now(UTC).isoformat()},
        headers=headers,
    )
    assert event.status == 403
    intake = page.request.post(
        base + "/v1/incidents",
        data={
            "external_id": "planner-try",
            "category": "theft",
            "lon": 117.65,
            "lat": 24.51,
            "reported_at": datetime.now(UTC).isoformat(),
        },
        headers=headers,
    )
    assert intake.status == 403
    _only_expected_errors(browser, [])
