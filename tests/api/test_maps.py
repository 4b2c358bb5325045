"""Maps are self-contained: every layer is in the HTML and nothing loads from a CDN offline."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from gridgis.coverage.runs import CoverageRequest, run_coverage
from gridgis.dispatch.eta import StraightLineEta
from gridgis.errors import InvalidInput
from gridgis.mapping.coverage_map import LAYERS, coverage_map_html
from gridgis.mapping.render import base_tiles

MODEL = StraightLineEta()
# Hosts and patterns that mean "fetched from the internet at view time".
CDN_PATTERNS = (
    "https://cdn",
    "http://cdn",
    "unpkg",
    "jsdelivr",
    "cdnjs",
    "bootstrapcdn",
    "code.jquery.com",
    "googleapis",
    "gstatic",
    "tile.openstreetmap.org",
)


def assert_offline(page: str) -> None:
    """No CDN URL and no external script, stylesheet or image reference in the page."""
    lowered = page.lower()
    for pattern in CDN_PATTERNS:
        assert pattern not in lowered, pattern
    assert not re.search(r"<(script|link|img)\b[^>]*\b(src|href)\s*=", page)


def insert_incidents(conn: Connection, points: list[tuple[float, float]]) -> None:
    """A few incidents straight into the table the incidents feature owns."""
    for i, (lon, lat) in enumerate(points):
        conn.execute(
            text(
                """
                INSERT INTO incidents (external_id, category, reported_at, input_lon, input_lat,
                                       geom)
                VALUES (:ext, 'theft', :at, :lon, :lat, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
                """
            ),
            {
                "ext": f"map-test-{i}",
                "at": datetime(2026, 11, 1, tzinfo=UTC),
                "lon": lon,
                "lat": lat,
            },
        )


def test_coverage_map_has_every_layer_and_no_cdn(conn: Connection) -> None:
    insert_incidents(conn, [(117.65 + 0.001 * i, 24.51) for i in range(20)])
    run = run_coverage(conn, MODEL, CoverageRequest(resolution=7))
    from gridgis.coverage.plan import plan_posts

    plan = plan_posts(conn, MODEL, run_id=run.id, add=2, role="volunteer", time_limit_s=10)
    page = coverage_map_html(conn, run.id, tiles="none", plan=plan, responders_per_role=200)
    assert_offline(page)
    for layer in LAYERS:
        assert layer in page, layer
    for role in ("community_police", "police_unit", "grid_worker", "volunteer"):
        assert f"Responders: {role}" in page
    assert "random sample of 200" in page  # big roles are sampled, with the true total
    assert "L.control.layers" in page and "L.heatLayer" in page and "markerClusterGroup" in page
    # The licences of what is inlined travel with the page.
    assert "leaflet.markercluster@1.5.3 (MIT)" in page
    assert "BSD 2-Clause License" in page and "Permission is hereby granted" in page


def test_incident_layer_is_skipped_without_incidents(conn: Connection) -> None:
    conn.execute(text("DELETE FROM incident_events"))
    conn.execute(text("DELETE FROM incidents"))
    run = run_coverage(conn, MODEL, CoverageRequest(roles=("police_unit",), resolution=7))
    page = coverage_map_html(conn, run.id, tiles="none")
    assert "Incidents (density)" not in page and "L.heatLayer(" not in page
    assert_offline(page)


def test_tiles_setting(conn: Connection) -> None:
    assert base_tiles("none") is None
    osm = base_tiles("osm")
    assert osm is not None and "openstreetmap" in osm.tiles
    intranet = base_tiles("http://10.1.2.3/tiles/{z}/{x}/{y}.png")
    assert intranet is not None and intranet.tiles.startswith("http://10.1.2.3/")
    for bad in ("ftp://x/{z}/{x}/{y}", "http://tiles.local/tile.png", "satellite"):
        with pytest.raises(InvalidInput) as caught:
            base_tiles(bad)
        assert caught.value.field == "GRIDGIS_TILES"


def test_map_endpoints(client: TestClient) -> None:
    created = client.post(
        "/v1/coverage/runs", json={"roles": ["community_police"], "resolution": 7}
    ).json()
    response = client.get(
        f"/maps/coverage/{created['id']}.html",
        params={"plan_add": 1, "plan_role": "community_police"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "Planned posts" in response.text and "ETA to nearest responder" in response.text

    nearest = client.get("/maps/nearest.html", params={"lon": 117.65, "lat": 24.51, "n": 3})
    assert nearest.status_code == 200, nearest.text
    assert "Nearest responders" in nearest.text and "Grid of the call" in nearest.text

    missing = client.get("/maps/coverage/999999.html")
    assert missing.status_code == 404
    bad: dict[str, Any] = client.get("/maps/nearest.html", params={"lon": 500, "lat": 24}).json()
    assert bad["field"] == "lon"
