"""Road routes in the dispatchers' console, in a real browser (the dispatch console's Playwright
set-up): with the road model in force on the Helsinki network, a dispatcher locates a call in
Helsinki and sees each road-priced responder's route drawn along the streets (one SVG path per
route) and which model priced each ETA; a responder too far from any road keeps its straight
line. No request leaves loopback, any unexpected JavaScript error fails; the screenshot goes to
test-artifacts/console/NN-roads-*.png."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, text

from gridgis.settings import Settings
from tests.api import test_console_browser
from tests.api.test_console_browser import (
    Browser,
    ConsoleServer,
    _login,
    _only_expected_errors,
    serve_console,
)
from tests.roads_data import helsinki_pbf

# The dispatch console's browser fixture, on this module's server (`console_server` below).
browser = test_console_browser.browser

pytest.importorskip("playwright.sync_api")

CALL = (24.9445, 60.1700)
# Four on or near Helsinki's streets, one at sea (beyond the 200 m snap limit: straight line).
ON_ROADS = [(24.9405, 60.1690), (24.9470, 60.1720), (24.9500, 60.1760), (24.9380, 60.1660)]
AT_SEA = (24.9200, 60.1500)


def _helsinki(connection: Connection, server_settings: Settings) -> None:
    from gridgis.roads.networks import RoadImport, import_network

    import_network(connection, helsinki_pbf(), RoadImport(profile="car", activate=True, force=True))
    for k, (lon, lat) in enumerate([*ON_ROADS, AT_SEA]):
        connection.execute(
            text(
                "INSERT INTO responders (ref, name, role, skills, status, home) VALUES "
                "(:ref, :name, 'police_unit', '{}', 'available', "
                "ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
            ),
            {"ref": f"hel-{k}", "name": f"Helsinki {k}", "x": lon, "y": lat},
        )


@pytest.fixture(scope="module")
def console_server(
    settings: Settings, test_database_url: str, demo: Any
) -> Iterator[ConsoleServer]:
    """The app with GRIDGIS_ETA_MODEL=road, the Helsinki car network active and five police
    units in Helsinki, on a loopback port and a database of its own."""
    road = settings.model_copy(update={"eta_model": "road", "road_max_snap_m": 200.0})
    with serve_console(
        road, test_database_url, demo, suffix="routes_browser", prepare=_helsinki
    ) as server:
        yield server


def test_dispatcher_sees_road_routes(browser: Browser, console_server: ConsoleServer) -> None:
    page, base = browser.page, console_server.base
    _login(browser, base, "test-dispatcher")
    page.wait_for_selector("body[data-map-ready]")

    # The dispatcher types the call's coordinates; the map goes there.
    page.fill("#coord-input", f"{CALL[0]},{CALL[1]}")
    page.select_option("#coord-crs", "wgs84")
    page.press("#coord-input", "Enter")
    page.wait_for_selector("body[data-routes-drawn]")
    assert page.get_attribute("body", "data-routes-drawn") == "4"
    assert page.locator("#nearest tr[data-responder]").count() == 5

    # One SVG path per road route, in the routes pane, each with many vertices.
    routes = page.locator(".leaflet-routes-pane path.road-route")
    assert routes.count() == 4
    for k in range(4):
        d = routes.nth(k).get_attribute("d") or ""
        assert len(re.findall(r"[ML]", d)) > 4, d
    # The table says which model priced each ETA: four by road (with the route's length), the
    # unit at sea by straight line.
    assert page.locator("#nearest td.priced-road").count() == 4
    assert page.locator("#nearest td[data-priced-by=road_v1]").count() == 4
    at_sea = page.locator("#nearest td.priced-straight")
    assert at_sea.count() == 1 and at_sea.get_attribute("data-priced-by") == "straight_line_v1"
    for cell in page.locator("#nearest td.priced-road").all():
        assert re.search(r"道路 \d+(\.\d)? k?m", cell.text_content() or ""), cell.text_content()
    # The panel's routes are the API's.
    ids = [
        page.locator("#nearest tr[data-responder]").nth(k).get_attribute("data-responder")
        for k in range(5)
    ]
    api = httpx.get(
        base + "/v1/routes",
        params={"lon": CALL[0], "lat": CALL[1], "responder_ids": ",".join(map(str, ids))},
        headers={"X-API-Key": console_server.system_key},
    ).json()
    assert sorted(f["properties"]["path"] for f in api["features"]) == ["road"] * 4 + [
        "straight_line"
    ]
    browser.shot("roads-routes-in-helsinki")

    # English: the same routes, the column in English.
    page.click("#lang-toggle")
    page.wait_for_selector("#nearest th:text('Priced by')")
    page.wait_for_selector("#nearest td.priced-road:text-matches('^road, ')")
    assert page.locator(".leaflet-routes-pane path.road-route").count() == 4
    # Helsinki lies outside every grid: locate's 404 is part of the flow (the panel says so).
    assert page.locator("#place-grid.warning").count() == 1
    _only_expected_errors(browser, [r"status of 404"])
