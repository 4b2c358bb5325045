"""KPIs over a hand-built set of incidents with known times: exact counts, rates, percentiles."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, text

from gridgis.dispatch.eta import eta_model_from_settings
from gridgis.dispatch.incidents import EventReport, IncidentReport, add_event, report_incident
from gridgis.dispatch.kpis import KpiReport, KpiRow, incident_kpis
from gridgis.errors import InvalidInput, NotFound
from gridgis.settings import Settings

CHINA = timezone(timedelta(hours=8))
# Long before anything else in the test database, so the window holds only these incidents.
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=CHINA)
NOW = datetime(2025, 3, 3, 8, 0, tzinfo=CHINA)
WINDOW = {"start": T0, "end": T0 + timedelta(days=1)}


def _grid(conn: Connection, county: str, kind: str) -> dict[str, Any]:
    row = conn.execute(
        text(
            """
            SELECT a.code, ST_X(ST_PointOnSurface(a.geom)) AS lon,
                   ST_Y(ST_PointOnSurface(a.geom)) AS lat
            FROM areas a JOIN generations g ON g.id = a.generation_id AND g.active
            WHERE a.level = 'grid' AND a.kind = :kind AND a.code LIKE :county || '%'
            ORDER BY a.code LIMIT 1
            """
        ),
        {"county": county, "kind": kind},
    ).one()
    return {"code": row.code, "lon": float(row.lon), "lat": float(row.lat)}


def _responder(conn: Connection, role: str, offset: int = 0) -> int:
    """An available responder: a dispatch claims them until their incident is closed."""
    return int(
        conn.execute(
            text(
                "SELECT id FROM responders WHERE role = :r AND status = 'available' "
                "ORDER BY id OFFSET :o LIMIT 1"
            ),
            {"r": role, "o": offset},
        ).scalar_one()
    )


@pytest.fixture()
def hand_built(conn: Connection, settings: Settings) -> dict[str, Any]:
    """Seven incidents in the window (+1 outside it) with known response times:

    urban grid A (community, 芗城区): theft 200 s resolved; neighbour dispute, mediator
      dispatched, 400 s, referred; noise 100 s resolved.
    rural grid B (village, 漳浦县): family dispute, grid worker dispatched, 600 s, referred;
      fight dispatched, never arrived; sanitation with no event at all.
    outside every grid: theft 250 s resolved.  Not in the window: a theft in A a day later.
    """
    model = eta_model_from_settings(settings)
    a = _grid(conn, "350602", "community")
    b = _grid(conn, "350623", "village")
    police = _responder(conn, "police_unit")
    mediator = _responder(conn, "mediator")
    worker = _responder(conn, "grid_worker")
    # k-5 and k-3 never close, so they keep their responders busy: later cases send others.
    police_2, police_3 = _responder(conn, "police_unit", 1), _responder(conn, "police_unit", 2)
    worker_2 = _responder(conn, "grid_worker", 1)
    cases = [
        ("k-1", "theft", a, 0, [("dispatched", 30, police), ("arrived", 200, police),
                                ("resolved", 900, police), ("closed", 1000, None)]),
        ("k-2", "neighbour_dispute", a, 1, [("dispatched", 60, mediator),
                                            ("arrived", 400, mediator),
                                            ("referred", 1200, mediator)]),
        ("k-3", "noise", a, 2, [("dispatched", 20, worker), ("arrived", 100, worker),
                                ("resolved", 700, worker)]),
        ("k-4", "family_dispute", b, 3, [("dispatched", 30, worker_2), ("arrived", 600, worker_2),
                                         ("referred", 900, None), ("closed", 5000, None)]),
        ("k-5", "fight", b, 4, [("dispatched", 10, police)]),
        ("k-6", "sanitation", b, 5, []),
        ("k-7", "theft", {"lon": 121.47, "lat": 31.23}, 6, [("dispatched", 5, police_2),
                                                            ("arrived", 250, police_2),
                                                            ("resolved", 600, police_2)]),
        ("k-8", "theft", a, 30, [("dispatched", 5, police_3), ("arrived", 50, police_3)]),
    ]  # fmt: skip
    for external_id, category, where, hour, events in cases:
        reported = T0 + timedelta(hours=hour)
        incident = report_incident(
            conn,
            IncidentReport(external_id, category, where["lon"], where["lat"], reported),
            model,
            now=NOW,
        ).incident
        for type_, seconds, who in events:
            add_event(
                conn,
                incident["id"],
                EventReport(type_, reported + timedelta(seconds=seconds), who),
                now=NOW,
            )
    return {"a": a, "b": b}


def _row(report: KpiReport, code: str) -> KpiRow:
    return next(r for r in report.areas if r.code == code)


def test_city_kpis(conn: Connection, hand_built: dict[str, Any]) -> None:
    report = incident_kpis(conn, **WINDOW)
    city = _row(report, "350600")
    assert city.level == "city" and city.name == "漳州市"
    assert (city.incidents, city.attended, city.within_target) == (6, 4, 2)
    assert city.within_target_rate == 0.5
    # urban: only grid A is a community grid: 200, 400, 100 s
    assert (city.urban_attended, city.urban_within_target) == (3, 2)
    assert city.urban_within_target_rate == pytest.approx(2 / 3, abs=1e-4)
    # responses 100, 200, 400, 600: median 300; p90 at rank 2.7 -> 400 + 0.7 * 200
    assert city.median_response_s == 300.0
    assert city.p90_response_s == 540.0
    # non-police: k-2, k-3, k-4, k-6; diverted: k-2 (mediator sent), k-4 (referred)
    assert (city.non_police, city.diverted, city.diverted_share) == (4, 2, 0.5)
    # resolved on site: k-1, k-3 of the four attended
    assert (city.resolved_on_site, city.resolved_on_site_share) == (2, 0.5)

    assert report.outside_grids is not None
    outside = report.outside_grids
    assert (outside.incidents, outside.attended, outside.within_target) == (1, 1, 1)
    assert outside.median_response_s == 250.0


def test_county_and_grid_kpis(conn: Connection, hand_built: dict[str, Any]) -> None:
    report = incident_kpis(conn, **WINDOW)
    a_code, b_code = hand_built["a"]["code"], hand_built["b"]["code"]
    for code in ("350602", a_code[:9], a_code):
        row = _row(report, code)
        assert (row.incidents, row.attended, row.within_target) == (3, 3, 2), code
        assert row.within_target_rate == pytest.approx(2 / 3, abs=1e-4)
        assert row.urban_within_target_rate == pytest.approx(2 / 3, abs=1e-4)
        assert row.median_response_s == 200.0
        assert row.p90_response_s == 360.0  # rank 1.8 -> 200 + 0.8 * 200
        assert (row.non_police, row.diverted, row.diverted_share) == (2, 1, 0.5)
        assert row.resolved_on_site_share == pytest.approx(2 / 3, abs=1e-4)
    for code in ("350623", b_code):
        row = _row(report, code)
        assert (row.incidents, row.attended, row.within_target) == (3, 1, 0), code
        assert row.within_target_rate == 0.0
        assert row.urban_attended == 0 and row.urban_within_target_rate is None
        assert row.median_response_s == 600.0 and row.p90_response_s == 600.0
        assert (row.non_police, row.diverted, row.diverted_share) == (2, 1, 0.5)
        assert (row.resolved_on_site, row.resolved_on_site_share) == (0, 0.0)
    quiet = _row(report, "350629")
    assert quiet.incidents == 0 and quiet.within_target_rate is None
    assert quiet.median_response_s is None
    assert len([r for r in report.areas if r.level == "grid"]) == 2080


def test_kpis_for_one_area_and_its_descendants(
    conn: Connection, hand_built: dict[str, Any]
) -> None:
    report = incident_kpis(conn, area="350602", **WINDOW)
    assert report.outside_grids is None
    assert {r.level for r in report.areas} == {"county", "township", "grid"}
    assert all(r.code and r.code.startswith("350602") for r in report.areas)
    assert report.areas[0].code == "350602" and report.areas[0].incidents == 3
    counties = incident_kpis(conn, levels=["county"], **WINDOW)
    assert [r.level for r in counties.areas] == ["county"] * 11
    assert sum(r.incidents for r in counties.areas) == 6


def test_target_comes_from_the_caller(conn: Connection, hand_built: dict[str, Any]) -> None:
    city = _row(incident_kpis(conn, target_s=450.0, **WINDOW), "350600")
    assert city.within_target == 3


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"start": datetime(2025, 3, 1)}, InvalidInput, "from"),
        ({"start": T0, "end": T0}, InvalidInput, "to"),
        ({"start": T0, "area": "123456"}, NotFound, "area"),
        ({"start": T0, "levels": ["planet"]}, InvalidInput, "level"),
    ],
)
def test_bad_kpi_requests(
    conn: Connection, kwargs: dict[str, Any], error: type[Exception], field: str
) -> None:
    with pytest.raises(error) as info:
        incident_kpis(conn, **kwargs)
    assert getattr(info.value, "field", None) == field
