"""The planners' API pieces: hexagons gathered by zoom, area tables with CSV/GeoJSON export,
run comparison, runs in progress, KPI series and their SVG chart, and who may call them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import h3
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, event, text

from gridgis.coverage.hexagons import parent_bits
from gridgis.settings import Settings

CITY_BBOX = "116.9,23.5,118.4,25.3"


def _run(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post(
        "/v1/coverage/runs", json={"roles": ["community_police"], "resolution": 8, **body}
    )
    assert response.status_code == 201, response.text
    run: dict[str, Any] = response.json()
    return run


@pytest.mark.parametrize("resolution", [5, 6, 7, 8])
def test_parent_bits_match_h3(resolution: int) -> None:
    cell = h3.latlng_to_cell(24.51, 117.65, 9)
    clear, bits = parent_bits(resolution)
    assert (h3.str_to_int(cell) & clear) | bits == h3.str_to_int(
        h3.cell_to_parent(cell, resolution)
    )


def test_hexagons_gather_cells_by_zoom(client: TestClient) -> None:
    run = _run(client)
    coarse = client.get(
        f"/v1/coverage/runs/{run['id']}/hexagons", params={"bbox": CITY_BBOX, "zoom": 8}
    )
    assert coarse.status_code == 200, coarse.text
    body = coarse.json()
    assert body["resolution"] == 6 and body["run_resolution"] == 8
    features = body["features"]
    assert features and all(h3.get_resolution(f["id"]) == 6 for f in features)
    # cell_count counts (cell, grid) pieces; a hexagon counts distinct cells.
    distinct = sum(f["properties"]["cells"] for f in features)
    lowest = run["cell_count"] - 2 * run["summary"]["grids_without_cells"]
    assert lowest <= distinct < run["cell_count"]
    people = sum(f["properties"]["population"] for f in features)
    assert people == pytest.approx(run["summary"]["population"], rel=1e-4)
    covered = sum(f["properties"]["population_within_target"] for f in features)
    assert covered == pytest.approx(run["summary"]["population_within_target"], rel=1e-4)

    # 20,493 cells at res 8 would be too many for one view: the next coarser resolution.
    crowded = client.get(
        f"/v1/coverage/runs/{run['id']}/hexagons", params={"bbox": CITY_BBOX, "zoom": 14}
    ).json()
    assert crowded["resolution"] == 7 and len(crowded["features"]) <= 20_000
    view = {"bbox": "117.55,24.4,117.75,24.6"}
    fine = client.get(f"/v1/coverage/runs/{run['id']}/hexagons", params={**view, "zoom": 14})
    assert fine.status_code == 200, fine.text
    assert fine.json()["resolution"] == 8
    mid = client.get(f"/v1/coverage/runs/{run['id']}/hexagons", params={**view, "zoom": 10})
    assert mid.json()["resolution"] == 7
    # A hexagon in the view carries all its cells, those beyond the view's edge too.
    parents = {f["id"]: f["properties"]["cells"] for f in mid.json()["features"]}
    assert {h3.cell_to_parent(f["id"], 7) for f in fine.json()["features"]} == set(parents)
    assert len(fine.json()["features"]) <= sum(parents.values())
    assert all(f["properties"]["grid_code"] for f in fine.json()["features"])


_REFERENCE_HEXAGONS = text(
    """
    SELECT (h3 & :clear) | :set AS cell,
           round(CAST(sum(population) AS numeric), 2) AS population,
           round(CAST(COALESCE(sum(population) FILTER (WHERE responders_within_target >= 1), 0)
                      AS numeric), 2) AS covered,
           round(CAST(COALESCE(
               sum(population * eta_s) FILTER (WHERE eta_s IS NOT NULL)
                 / NULLIF(sum(population) FILTER (WHERE eta_s IS NOT NULL), 0),
               avg(eta_s)) AS numeric), 1) AS eta,
           round(CAST(min(eta_s) AS numeric), 1) AS eta_min,
           round(CAST(max(eta_s) AS numeric), 1) AS eta_max,
           min(grid_code) AS grid_code,
           count(DISTINCT h3) AS cells
    FROM coverage_cells WHERE run_id = :run_id
    GROUP BY 1
    """
)


@pytest.mark.parametrize(
    ("run_resolution", "zoom", "resolution"), [(8, 8, 6), (8, 9, 7), (7, 11, 7)]
)
def test_kept_hexagons_equal_gathering_in_sql(
    client: TestClient, conn: Connection, run_resolution: int, zoom: int, resolution: int
) -> None:
    """Over the whole city, the hexagons kept in memory hold what grouping the run's rows in
    SQL gives (the earlier way, per request)."""
    run = _run(client, resolution=run_resolution)
    clear, bits = parent_bits(resolution)
    expected = {
        h3.int_to_str(int(r.cell)): r
        for r in conn.execute(
            _REFERENCE_HEXAGONS, {"clear": clear, "set": bits, "run_id": run["id"]}
        )
    }
    around = "110,20,125,30"  # wider than the city: every cell is in the view
    body = client.get(
        f"/v1/coverage/runs/{run['id']}/hexagons", params={"bbox": around, "zoom": zoom}
    ).json()
    assert body["resolution"] == resolution
    got = {f["id"]: f["properties"] for f in body["features"]}
    assert set(got) == set(expected)
    for cell, p in got.items():
        r = expected[cell]
        assert p["population"] == pytest.approx(float(r.population), abs=0.011)
        assert p["population_within_target"] == pytest.approx(float(r.covered), abs=0.011)
        for name, value in (("eta_s", r.eta), ("eta_min_s", r.eta_min), ("eta_max_s", r.eta_max)):
            assert p[name] == (None if value is None else pytest.approx(float(value), abs=0.11))
        assert p["cells"] == r.cells
        assert p["grid_code"] == (r.grid_code if resolution == run_resolution else None)


def test_a_runs_hexagons_are_gathered_once_and_forgotten_with_it(
    client: TestClient,
    conn: Connection,
    api_keys: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gridgis.coverage import runs, views
    from gridgis.coverage import sql as coverage_sql

    run = _run(client)
    url = f"/v1/coverage/runs/{run['id']}/hexagons"
    read: list[int] = []
    reader = coverage_sql.cell_columns

    def counted(db: Any, run_id: int) -> Any:
        read.append(run_id)
        return reader(db, run_id)

    monkeypatch.setattr(coverage_sql, "cell_columns", counted)
    first = client.get(url, params={"bbox": CITY_BBOX, "zoom": 8})
    assert first.status_code == 200 and read == [run["id"]]
    # Other views and zooms of the run: from memory, the run's rows are not read again.
    for bbox, zoom in ((CITY_BBOX, 9), ("117.55,24.4,117.75,24.6", 14), (CITY_BBOX, 8)):
        response = client.get(url, params={"bbox": bbox, "zoom": zoom})
        assert response.status_code == 200 and response.json()["features"]
    assert read == [run["id"]]
    assert client.get(url, params={"bbox": CITY_BBOX, "zoom": 8}).json() == first.json()
    # The kept JSON of each hexagon is what the library's dictionaries say.
    cache = client.app.state.hexagon_cache  # type: ignore[attr-defined]
    direct = views.hexagons(conn, run["id"], bbox=runs.parse_bbox(CITY_BBOX), zoom=8, cache=cache)
    assert direct == first.json()
    # Kept or not, the route's permission holds.
    refused = client.get(
        url,
        params={"bbox": CITY_BBOX, "zoom": 8},
        headers={"X-API-Key": api_keys["dispatcher"]},
    )
    assert refused.status_code == 403
    assert len(cache) == 3  # resolutions 6, 7 (from 8) and 8
    assert client.delete(f"/v1/coverage/runs/{run['id']}").status_code == 204
    assert len(cache) == 0
    gone = client.get(url, params={"bbox": CITY_BBOX, "zoom": 8})
    assert gone.status_code == 404


def test_hexagons_refuse_bad_views(client: TestClient) -> None:
    run = _run(client)
    url = f"/v1/coverage/runs/{run['id']}/hexagons"
    bad = client.get(url, params={"bbox": "1,2,3", "zoom": 10})
    assert bad.status_code == 422 and bad.json()["field"] == "bbox"
    assert client.get(url, params={"bbox": CITY_BBOX}).status_code == 422
    missing = client.get("/v1/coverage/runs/999999/hexagons", params={"bbox": CITY_BBOX, "zoom": 9})
    assert missing.status_code == 404


def test_area_drill_down_and_exports(client: TestClient) -> None:
    run = _run(client)
    url = f"/v1/coverage/runs/{run['id']}/areas"
    counties = client.get(url, params={"level": "county"}).json()["areas"]
    assert len(counties) == 11
    county = counties[0]["code"]
    townships = client.get(url, params={"level": "township", "parent": county}).json()["areas"]
    assert townships and all(t["parent_code"] == county for t in townships)
    township = townships[0]["code"]
    grids = client.get(url, params={"level": "grid", "parent": township}).json()["areas"]
    assert grids and all(g["parent_code"] == township for g in grids)
    in_county = client.get(url, params={"level": "grid", "parent": county}).json()["areas"]
    assert {g["code"] for g in grids} <= {g["code"] for g in in_county}
    assert sum(g["population"] for g in in_county) == pytest.approx(
        counties[0]["population"], abs=1
    )

    exported = client.get(url, params={"level": "township", "parent": county, "format": "csv"})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["code"] for r in rows] == [t["code"] for t in townships]
    assert float(rows[0]["population"]) == pytest.approx(townships[0]["population"])

    geo = client.get(url, params={"level": "grid", "parent": township, "format": "geojson"})
    assert geo.status_code == 200 and geo.headers["content-type"] == "application/geo+json"
    features = geo.json()["features"]
    assert [f["id"] for f in features] == [g["code"] for g in grids]
    assert features[0]["geometry"]["type"] in ("Polygon", "MultiPolygon")

    unknown = client.get(url, params={"level": "grid", "parent": "999999999"})
    assert unknown.status_code == 404 and unknown.json()["field"] == "parent"
    bad = client.get(url, params={"level": "street"})
    assert bad.status_code == 422 and bad.json()["field"] == "level"


def test_compare_two_runs(client: TestClient) -> None:
    before = _run(client)
    after = _run(client, roles=["community_police", "volunteer"])
    url = f"/v1/coverage/runs/{before['id']}/compare/{after['id']}"
    body = client.get(url, params={"level": "county"}).json()
    assert body["a"] == before["id"] and body["b"] == after["id"]
    areas = body["areas"]
    assert len(areas) == 11
    for area in areas:
        a, b = area["population_share_within_target_a"], area["population_share_within_target_b"]
        assert area["population_share_within_target_diff"] == pytest.approx(b - a, abs=1e-6)
        assert b >= a  # more responders never cover fewer people
    assert any(a["population_share_within_target_diff"] > 0 for a in areas)
    city = client.get(url, params={"level": "city"}).json()["areas"][0]
    assert city["responders_diff"] > 0

    geo = client.get(url, params={"level": "county", "format": "geojson"})
    assert geo.status_code == 200
    assert len(geo.json()["features"]) == 11
    assert client.get(f"/v1/coverage/runs/{before['id']}/compare/999999").status_code == 404


def test_progress_is_empty_when_nothing_runs(client: TestClient) -> None:
    response = client.get("/v1/coverage/progress")
    assert response.status_code == 200 and response.json() == {"runs": []}


def test_kpi_series_by_week(client: TestClient) -> None:
    response = client.get(
        "/v1/kpis/series",
        params={"level": "county", "from": "2026-01-05T00:00:00Z", "to": "2026-02-02T00:00:00Z"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["city_promise_share"] == 0.9348
    assert len(body["buckets"]) == 4 and body["buckets"][0] == "2026-01-05T00:00:00Z"
    assert body["series"][0]["level"] == "city"
    counties = [s for s in body["series"] if s["level"] == "county"]
    assert len(counties) == 11
    assert all(len(s["points"]) == 4 for s in body["series"])
    whole = client.get(
        "/v1/kpis",
        params={"level": "city", "from": "2026-01-05T00:00:00Z", "to": "2026-01-12T00:00:00Z"},
    ).json()["areas"][0]
    first = body["series"][0]["points"][0]
    assert first["incidents"] == whole["incidents"]
    assert first["within_target_rate"] == whole["within_target_rate"]


def test_kpi_series_chart_is_escaped_svg(client: TestClient) -> None:
    response = client.get(
        "/v1/kpis/series", params={"format": "svg", "metric": "within_target_rate", "lang": "en"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.text.startswith("<svg") and 'class="promise"' in response.text
    assert "93.48%" in response.text
    median = client.get("/v1/kpis/series", params={"format": "svg", "metric": "median_response_s"})
    assert 'class="promise"' not in median.text


def test_kpi_series_refuses_bad_ranges(client: TestClient) -> None:
    long = client.get(
        "/v1/kpis/series", params={"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    )
    assert long.status_code == 422 and long.json()["field"] == "from"
    backwards = client.get(
        "/v1/kpis/series", params={"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    )
    assert backwards.status_code == 422 and backwards.json()["field"] == "to"
    assert client.get("/v1/kpis/series", params={"bucket": "year"}).status_code == 422


@pytest.mark.parametrize(
    "path",
    [
        "/v1/coverage/progress",
        "/v1/coverage/runs/1/hexagons?bbox=117,24,118,25&zoom=10",
        "/v1/coverage/runs/1/areas?level=county",
        "/v1/coverage/runs/1/compare/2",
        "/v1/kpis/series",
    ],
)
def test_dispatchers_may_not_plan(client: TestClient, api_keys: dict[str, str], path: str) -> None:
    response = client.get(path, headers={"X-API-Key": api_keys["dispatcher"]})
    assert response.status_code == 403
    allowed = client.get(path, headers={"X-API-Key": api_keys["planner"]})
    assert allowed.status_code != 403


def test_chart_escapes_names() -> None:
    from datetime import UTC, datetime

    from gridgis.dispatch.kpi_series import KpiSeries, series_svg

    at = datetime(2026, 1, 5, tzinfo=UTC)
    point = {"start": at, "end": at, "incidents": 1, "attended": 1, "within_target_rate": 0.5}
    series = KpiSeries(
        level="county",
        bucket="week",
        start=at,
        end=at,
        target_s=300.0,
        city_promise_share=0.9348,
        buckets=[at],
        series=[
            {
                "code": '1"><script>',
                "name": "<script>alert(1)</script>",
                "level": "county",
                "points": [point],
            }
        ],
    )
    svg = series_svg(series, "within_target_rate", title="<b>", promise_label="&")
    assert "<script" not in svg and "<b>" not in svg
    assert "&lt;script&gt;alert(1)" in svg and "data-code='1\"&gt;&lt;script&gt;'" in svg


@pytest.mark.parametrize(
    ("zoom", "run_resolution", "drawn"),
    [(3, 9, 5), (8, 9, 6), (9, 9, 7), (10, 9, 7), (11, 9, 8), (12, 9, 9), (16, 9, 9), (16, 7, 7)],
)
def test_draw_resolution_follows_the_zoom(zoom: int, run_resolution: int, drawn: int) -> None:
    from gridgis.coverage.views import draw_resolution

    assert draw_resolution(zoom, run_resolution) == drawn


def test_kpi_series_is_one_statement_equal_to_each_weeks_kpis(
    conn: Connection, settings: Settings
) -> None:
    """Every bucket of the series holds exactly what GET /v1/kpis gives for that week, and the
    whole series is one KPI statement (not one per week)."""
    from gridgis.demo.incidents import generate_incidents
    from gridgis.dispatch.eta import eta_model_from_settings
    from gridgis.dispatch.kpi_series import POINT_FIELDS, kpi_series
    from gridgis.dispatch.kpis import incident_kpis

    end = datetime(2026, 3, 2, tzinfo=UTC)
    generate_incidents(conn, 400, 11, eta_model_from_settings(settings), days=40, end=end)
    start = end - timedelta(days=44)  # six whole weeks and a shorter last bucket
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(conn, "before_cursor_execute", count)
    try:
        series = kpi_series(conn, level="county", start=start, end=end, target_s=300.0)
    finally:
        event.remove(conn, "before_cursor_execute", count)
    assert sum("facts AS (" in s for s in statements) == 1, len(statements)
    assert len(series.buckets) == 7
    assert sum(p["incidents"] for p in series.series[0]["points"]) == 400
    for i, at in enumerate(series.buckets):
        upto = min(at + timedelta(days=7), end)
        report = incident_kpis(conn, start=at, end=upto, levels=["city", "county"])
        expected = {row.code: row for row in report.areas}
        assert len(series.series) == len(expected) == 12
        for line in series.series:
            point = line["points"][i]
            assert (point["start"], point["end"]) == (at, upto)
            row = expected[line["code"]]
            assert {f: point[f] for f in POINT_FIELDS} == {f: getattr(row, f) for f in POINT_FIELDS}


def _dashboard(client: TestClient, range_: dict[str, str], lang: str) -> list[int]:
    """What the KPI tab asks for: the county and city tables, then six charts."""
    statuses = [
        client.get("/v1/kpis", params={**range_, "level": level}).status_code
        for level in ("county", "city")
    ]
    for metric in CHART_METRICS:
        params = {**range_, "level": "county", "format": "svg", "metric": metric, "lang": lang}
        statuses.append(client.get("/v1/kpis/series", params=params).status_code)
    return statuses


CHART_METRICS = (
    "within_target_rate",
    "urban_within_target_rate",
    "median_response_s",
    "p90_response_s",
    "diverted_share",
    "resolved_on_site_share",
)
DASHBOARD_RANGE = {"from": "2026-01-05T00:00:00Z", "to": "2026-03-30T00:00:00Z"}


def test_the_dashboards_own_load_stays_within_the_series_quota(
    client: TestClient, api_keys: dict[str, str], conn: Connection
) -> None:
    client.headers["X-API-Key"] = api_keys["planner"]
    planner = int(
        conn.execute(text("SELECT id FROM api_keys WHERE name = 'test-planner'")).scalar_one()
    )
    quota = client.app.state.series_quota  # type: ignore[attr-defined]
    # Six charts at once, and a reload (a language switch) while they still load: twelve.
    for _ in range(11):
        quota.acquire(planner)
    try:
        assert _dashboard(client, DASHBOARD_RANGE, "zh-CN") == [200] * 8
    finally:
        for _ in range(11):
            quota.release(planner)
    # Opened, switched to English and back, twelve weeks then eight: a few loads a minute.
    assert _dashboard(client, DASHBOARD_RANGE, "en") == [200] * 8
    assert _dashboard(client, DASHBOARD_RANGE, "zh-CN") == [200] * 8
    shorter = {**DASHBOARD_RANGE, "from": "2026-02-02T00:00:00Z"}
    assert _dashboard(client, shorter, "zh-CN") == [200] * 8
    # Each range was computed once, however many charts drew it.
    assert client.app.state.kpi_series_cache.computed == 2  # type: ignore[attr-defined]


def test_a_flood_of_series_requests_is_refused(
    client: TestClient, api_keys: dict[str, str], settings: Settings
) -> None:
    headers = {"X-API-Key": api_keys["planner"]}
    statuses = [
        client.get("/v1/kpis/series", params=DASHBOARD_RANGE, headers=headers).status_code
        for _ in range(settings.series_per_key_per_minute + 5)
    ]
    assert statuses[: settings.series_per_key_per_minute] == [200] * (
        settings.series_per_key_per_minute
    )
    assert set(statuses[settings.series_per_key_per_minute :]) == {429}
    refused = client.get("/v1/kpis/series", params=DASHBOARD_RANGE, headers=headers)
    assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # Another caller is not held up by it.
    other = client.get("/v1/kpis/series", params=DASHBOARD_RANGE)
    assert other.status_code == 200


def test_series_cache_computes_once_and_stays_bounded() -> None:
    import threading
    import time as clock

    from gridgis.dispatch.kpi_series import KpiSeries, SeriesCache

    at = datetime(2026, 1, 5, tzinfo=UTC)

    def series(lines: int) -> KpiSeries:
        point = {"start": at, "end": at}
        return KpiSeries(
            level="county",
            bucket="week",
            start=at,
            end=at,
            target_s=300.0,
            city_promise_share=0.9348,
            buckets=[at],
            series=[{"code": str(i), "level": "county", "points": [point]} for i in range(lines)],
        )

    cache = SeriesCache(max_points=10)
    calls: list[int] = []

    def slow() -> KpiSeries:
        calls.append(1)
        clock.sleep(0.2)
        return series(4)

    threads = [threading.Thread(target=cache.get, args=("a", slow)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and cache.points == 4  # six asked at once, one computed
    cache.get("b", lambda: series(4))
    cache.get("c", lambda: series(4))  # 12 points: the least recently used goes
    assert cache.points == 8
    cache.get("a", slow)
    assert len(calls) == 2
    cache.get("big", lambda: series(11))  # bigger than the whole cache: not kept
    cache.get("big", lambda: series(11))
    assert cache.computed == 6 and cache.points <= 10
