"""The planners' console in a real browser (the dispatch console's Playwright set-up): a planner
starts coverage runs and sees their progress and summary, hexagons and the county table, drills
down to a township and a grid, exports CSV, compares two runs (before and after counting the
volunteers), plans 10 new volunteer posts and opens the KPI dashboard against the city's
93.48 % line. A dispatcher sees none of it and the API refuses it. No request leaves loopback,
any JavaScript error fails; screenshots go to test-artifacts/console/planner-*.png."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection

from gridgis.coverage import runs as coverage_runs
from gridgis.coverage.progress import ProgressWriter
from gridgis.settings import Settings
from tests.api import test_console_browser
from tests.api.test_console_browser import (
    ARTIFACTS,
    Browser,
    ConsoleServer,
    _login,
    _only_expected_errors,
    serve_console,
)

# The dispatch console's browser fixture, on this module's server (`console_server` below).
browser = test_console_browser.browser

pytest.importorskip("playwright.sync_api")

INCIDENTS = 1_500
INCIDENT_DAYS = 84


def _incident_history(connection: Connection, server_settings: Settings) -> None:
    from gridgis.demo.incidents import generate_incidents
    from gridgis.dispatch.eta import eta_model_from_settings

    generate_incidents(
        connection, INCIDENTS, 7, eta_model_from_settings(server_settings), days=INCIDENT_DAYS
    )


@pytest.fixture(scope="module")
def console_server(
    settings: Settings, test_database_url: str, demo: Any
) -> Iterator[ConsoleServer]:
    """The app on a loopback port and a database of its own, with a planner, a dispatcher and
    twelve weeks of modelled incidents (for the KPI dashboard)."""
    with serve_console(
        settings, test_database_url, demo, suffix="planner_browser", prepare=_incident_history
    ) as server:
        yield server


class Shots:
    """Numbered screenshots named planner-NN-step.png."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.step = 0

    def __call__(self, name: str) -> None:
        self.step += 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"planner-{self.step:02d}-{name}.png"))


def _open_planner(browser: Browser, base: str, user: str) -> None:
    _login(browser, base, user)
    browser.page.goto(base + "/console/planner")


def _start_run(
    page: Any, *, volunteers: bool, resolution: str, during: Callable[[], None] | None = None
) -> int:
    """Starts a run from the form (every role, volunteers or not) and waits for its summary
    (`during` is called while it computes)."""
    for box in page.locator("#run-roles input").all():
        box.set_checked(volunteers or box.get_attribute("value") != "volunteer")
    page.select_option("#run-resolution", resolution)
    before = page.get_attribute("#run-summary", "data-run")
    page.click("#run-start")
    page.wait_for_selector("#run-progress:not([hidden])")
    if during is not None:
        during()
    page.wait_for_function(
        "before => document.querySelector('#run-summary').dataset.run"
        " && document.querySelector('#run-summary').dataset.run !== before",
        arg=before,
        timeout=120_000,
    )
    page.wait_for_selector("#run-start:not([disabled])")
    return int(page.get_attribute("#run-summary", "data-run") or 0)


CATALOGUES = Path(__file__).resolve().parents[2] / "api" / "console" / "i18n"
MESSAGES = {
    lang: json.loads((CATALOGUES / f"planner-{lang}.json").read_text(encoding="utf-8"))
    for lang in ("zh-CN", "en")
}
COMPARE_HEADERS = (
    "col.code",
    "col.name",
    "col.population",
    "col.shareA",
    "col.shareB",
    "col.shareDiff",
    "col.peopleDiff",
    "col.etaA",
    "col.etaB",
    "col.respondersDiff",
)
SITE_HEADERS = ("col.rank", "col.site", "col.grid", "col.gained")


def _labels(keys: tuple[str, ...], lang: str) -> list[str]:
    return [MESSAGES[lang][key] for key in keys]


def _headers(page: Any, table: str, cells: str = "th") -> list[str]:
    headers: list[str] = page.eval_on_selector_all(
        f"{table} {cells}", "cells => cells.map(c => c.textContent)"
    )
    return headers


def _switch_language(page: Any, lang: str) -> None:
    page.click("#lang-toggle")
    page.wait_for_function(f"() => document.documentElement.lang === '{lang}'")
    # The toggle's handler re-renders the drill-down table last.
    page.wait_for_function(
        "label => document.querySelector('#drill-table th').textContent === label",
        arg=MESSAGES[lang]["col.code"],
    )


def _table_rows(page: Any, table: str) -> list[list[str]]:
    rows: list[list[str]] = page.eval_on_selector_all(
        f"{table} tbody tr",
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))",
    )
    return rows


def test_planner_flow(
    browser: Browser,
    console_server: ConsoleServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page, base = browser.page, console_server.base
    shot = Shots(page)
    _login(browser, base, "test-planner")
    assert page.is_visible("#planner-link")
    page.click("#planner-link")
    page.wait_for_url(base + "/console/planner")
    page.wait_for_selector("body[data-ready=yes]")
    shot("empty")

    # A run without the volunteers: progress while it computes, then its summary and map.
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/v1/coverage/progress" in r.url else None)
    before = _start_run(page, volunteers=False, resolution="9")
    assert page.eval_on_selector("#run-progress-bar", "bar => bar.value") == 1
    assert str(before) in (page.text_content("#run-progress-text") or "")
    summary = page.text_content("#run-summary") or ""
    assert f"#{before}" in summary and "%" in summary
    page.wait_for_selector(f"#map[data-run='{before}'][data-hexagons]")
    assert int(page.get_attribute("#map", "data-hexagons") or 0) > 50
    assert page.locator(".leaflet-overlay-pane canvas").count() >= 1
    page.wait_for_selector("#drill[data-level=county]")
    counties = _table_rows(page, "#drill-table")
    assert len(counties) == 11 and all("%" in row[3] for row in counties)
    shot("run-hexagons-counties")

    # Drill down: a county's townships, a township's grids, one grid's figures.
    page.click("#drill-table tbody tr >> nth=0")
    page.wait_for_selector("#drill[data-level=township]")
    township_rows = _table_rows(page, "#drill-table")
    assert township_rows
    shot("county-townships")
    page.click("#drill-table tbody tr >> nth=0")
    page.wait_for_selector("#drill[data-level=grid]")
    grid_rows = _table_rows(page, "#drill-table")
    grid_code = grid_rows[0][0]
    page.click("#drill-table tbody tr >> nth=0")
    page.wait_for_selector(f"#drill[data-grid='{grid_code}']")
    assert page.get_attribute("#area-info", "data-code") == grid_code
    shot("township-grids-grid")

    # Export the township's grids as CSV: the same rows as the table.
    with page.expect_download() as download_info:
        page.click("#export-csv")
    path = tmp_path / "grids.csv"
    download_info.value.save_as(path)
    exported = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert sorted(r["code"] for r in exported) == sorted(row[0] for row in grid_rows)

    # The grid choropleth on the map with the hexagons off.
    page.uncheck("#show-hexagons")
    page.check("#show-areas")
    page.wait_for_selector("#map[data-areas]")
    shot("grid-choropleth")
    page.check("#show-hexagons")

    # A second run counting the volunteers too, while another planner's run computes: the
    # bar follows this page's own run, the other is listed as someone else's.
    other = ProgressWriter(console_server.engine)
    token = other.start(started_by="user:another-planner", parameters={"resolution": 8})
    # The run is held (the server runs in this process) until the page has listed the other
    # one: on a fast machine it could otherwise end before the first progress poll.
    release = threading.Event()
    computing = coverage_runs.cell_etas

    def held(*args: Any, **kwargs: Any) -> Any:
        release.wait(timeout=60)
        return computing(*args, **kwargs)

    monkeypatch.setattr(coverage_runs, "cell_etas", held)

    def others_run_is_listed() -> None:
        try:
            page.wait_for_function(
                "token => (document.querySelector(`#run-others:not([hidden]) "
                "li[data-token='${token}']`)?.textContent || '').includes('user:another-planner')",
                arg=token,
            )
            shot("progress-with-another-run")
        finally:
            release.set()

    try:
        after = _start_run(page, volunteers=True, resolution="9", during=others_run_is_listed)
    finally:
        other.finish(token)
    assert page.is_hidden("#run-others")
    assert after > before
    page.click(".tab[data-view=compare]")
    page.select_option("#compare-a", str(before))
    page.select_option("#compare-b", str(after))
    page.select_option("#compare-level", "county")
    page.click("#compare-go")
    page.wait_for_selector(f"#compare-table[data-compared='{before}:{after}']")
    compared = _table_rows(page, "#compare-rows")
    assert len(compared) == 11
    assert any(row[5].startswith("+") for row in compared)
    shot("compare")
    # The comparison's table, caption and legend follow a language switch, and back.
    _switch_language(page, "en")
    assert _headers(page, "#compare-rows") == _labels(COMPARE_HEADERS, "en")
    assert (page.text_content("#compare-table p") or "").endswith(f"compared with #{before}")
    assert page.text_content("#compare-legend b") == MESSAGES["en"]["compare.legend"]
    assert _table_rows(page, "#compare-rows") == compared  # the same figures
    shot("compare-english")
    _switch_language(page, "zh-CN")
    assert _headers(page, "#compare-rows") == _labels(COMPARE_HEADERS, "zh-CN")
    assert page.text_content("#compare-legend b") == MESSAGES["zh-CN"]["compare.legend"]

    # Where would 10 new volunteer posts help most.
    page.click(".tab[data-view=plan]")
    page.fill("#plan-add", "10")
    page.select_option("#plan-role", "volunteer")
    page.fill("#plan-limit", "5")
    page.click("#plan-go")
    page.wait_for_selector("#plan-result[data-sites='10']", timeout=120_000)
    assert page.locator("#plan-map .site-label").count() == 10
    sites = _table_rows(page, "#plan-sites")
    assert len(sites) == 10
    assert all(int(row[3].replace(",", "")) >= 0 for row in sites)
    assert "%" in (page.text_content("#plan-summary") or "")
    shot("plan")
    # The plan's summary and both tables follow a language switch, and back.
    _switch_language(page, "en")
    assert _headers(page, "#plan-sites") == _labels(SITE_HEADERS, "en")
    assert _headers(page, "#plan-counties")[2:4] == _labels(("col.before", "col.after"), "en")
    summary_terms = _headers(page, "#plan-summary", cells="dt")
    assert summary_terms[0] == MESSAGES["en"]["plan.gained"]
    assert page.text_content("#plan-run") == MESSAGES["en"]["plan.against"].replace(
        "{id}", str(after)
    )
    assert _table_rows(page, "#plan-sites") == sites
    shot("plan-english")
    _switch_language(page, "zh-CN")
    assert _headers(page, "#plan-sites") == _labels(SITE_HEADERS, "zh-CN")
    summary_terms = _headers(page, "#plan-summary", cells="dt")
    assert summary_terms[0] == MESSAGES["zh-CN"]["plan.gained"]

    # The KPI dashboard: each county against the city's 93.48 % line, weekly charts.
    page.click(".tab[data-view=kpi]")
    page.wait_for_selector("#kpi-table[data-counties='11']")
    kpi_rows = _table_rows(page, "#kpi-rows")
    assert len(kpi_rows) == 12  # the city and its 11 counties
    marked = page.locator("#kpi-rows td.above, #kpi-rows td.below").count()
    assert marked >= 11
    page.wait_for_function(
        "() => [...document.querySelectorAll('#kpi-charts img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.locator("#kpi-charts img").count() == 6
    chart = page.request.get(base + page.get_attribute("#kpi-charts img >> nth=0", "src"))
    assert chart.status == 200 and 'class="promise"' in chart.text() and "93.48%" in chart.text()
    shot("kpi")

    # English on demand.
    page.click("#lang-toggle")
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    page.wait_for_function(
        "() => document.querySelector('#kpi-rows th').textContent === 'Code'"
        " && document.querySelector('#kpi-charts img').src.includes('lang=en')"
    )
    assert "KPIs" in (page.text_content(".tab[data-view=kpi]") or "")
    assert "planner" in (page.text_content("#user-name") or "")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#kpi-charts img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    shot("kpi-english")
    page.click("#lang-toggle")
    _only_expected_errors(browser, [])


def test_dispatcher_sees_no_planning(browser: Browser, console_server: ConsoleServer) -> None:
    page, base = browser.page, console_server.base
    _login(browser, base, "test-dispatcher")
    assert page.is_hidden("#planner-link")
    page.goto(base + "/console/planner")
    page.wait_for_selector("body[data-ready=denied]")
    assert page.is_visible("#no-access")
    assert page.locator("#map").count() == 0
    Shots(page)("dispatcher-refused")
    now = datetime.now(UTC)
    for path in (
        "/v1/coverage/runs",
        "/v1/coverage/progress",
        "/v1/coverage/runs/1/areas?level=county&format=csv",
        "/v1/coverage/runs/1/hexagons?bbox=117,24,118,25&zoom=10",
        "/v1/coverage/runs/1/compare/2",
        f"/v1/kpis/series?to={(now + timedelta(days=1)).strftime('%Y-%m-%dT00:00:00Z')}",
    ):
        assert page.request.get(base + path).status == 403, path
    me = page.request.get(base + "/v1/auth/me").json()
    started = page.request.post(
        base + "/v1/coverage/runs",
        data={"resolution": 7},
        headers={"X-CSRF-Token": me["csrf_token"], "Origin": base},
    )
    assert started.status == 403
    _only_expected_errors(browser, [])
