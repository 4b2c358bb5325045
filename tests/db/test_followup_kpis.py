"""Follow-up calls, mediation outcomes in the lifecycle, and their KPIs over a hand-built set."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from gridgis.dispatch.eta import eta_model_from_settings
from gridgis.dispatch.followups import get_follow_up, record_follow_up
from gridgis.dispatch.incidents import EventReport, IncidentReport, add_event, report_incident
from gridgis.dispatch.kpis import PUBLISHED, KpiReport, KpiRow, incident_kpis
from gridgis.errors import Conflict, InvalidInput, NotFound
from gridgis.settings import Settings

CHINA = timezone(timedelta(hours=8))
# A window of its own, before anything else in the test database.
T0 = datetime(2025, 4, 1, 8, 0, tzinfo=CHINA)
NOW = datetime(2025, 4, 5, 8, 0, tzinfo=CHINA)
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


def _responder(conn: Connection, role: str) -> int:
    return int(
        conn.execute(
            text(
                "SELECT id FROM responders WHERE role = :r AND status = 'available' "
                "ORDER BY id LIMIT 1"
            ),
            {"r": role},
        ).scalar_one()
    )


def _incident(
    conn: Connection,
    settings: Settings,
    external_id: str,
    category: str,
    where: dict[str, Any],
    hour: int,
    events: list[tuple[str, int, int | None]],
) -> int:
    reported = T0 + timedelta(hours=hour)
    incident_id = int(
        report_incident(
            conn,
            IncidentReport(external_id, category, where["lon"], where["lat"], reported),
            eta_model_from_settings(settings),
            now=NOW,
        ).incident["id"]
    )
    for type_, seconds, who in events:
        add_event(
            conn,
            incident_id,
            EventReport(type_, reported + timedelta(seconds=seconds), who),
            now=NOW,
        )
    return incident_id


@pytest.fixture()
def hand_built(conn: Connection, settings: Settings) -> dict[str, Any]:
    """Eight closed incidents in the window, with known outcomes and follow-ups:

    grid A (芗城区, community):
      m-1 neighbour dispute: mediator sent, arrives, mediated_success   (reached, satisfied)
      m-2 family dispute: mediator sent, arrives, mediated_failed       (reached, unsatisfied)
      m-3 labour dispute: mediator sent, arrives, referred on           (reached, no answer)
      m-7 theft (police): resolved on site                              (no follow-up)
      m-8 sanitation: grid worker arrives, referred to a bureau         (no follow-up)
    grid B (漳浦县, village):
      m-4 property dispute: referred to the committee, mediated_success (not reached)
      m-5 neighbour dispute: grid worker resolves it on site            (reached, satisfied)
      m-6 noise: grid worker resolves it on site                        (reached, satisfied)
    """
    a = _grid(conn, "350602", "community")
    b = _grid(conn, "350623", "village")
    mediator = _responder(conn, "mediator")
    worker = _responder(conn, "grid_worker")
    police = _responder(conn, "police_unit")

    def sent(who: int, outcome: str, by: int | None) -> list[tuple[str, int, int | None]]:
        return [("dispatched", 30, who), ("arrived", 300, who), (outcome, 900, by),
                ("closed", 1000, None)]  # fmt: skip

    ids = {
        "m-1": _incident(conn, settings, "m-1", "neighbour_dispute", a, 0,
                         sent(mediator, "mediated_success", None)),
        "m-2": _incident(conn, settings, "m-2", "family_dispute", a, 1,
                         sent(mediator, "mediated_failed", None)),
        "m-3": _incident(conn, settings, "m-3", "labour_dispute", a, 2,
                         sent(mediator, "referred", mediator)),
        "m-4": _incident(conn, settings, "m-4", "property_dispute", b, 3,
                         [("referred", 60, None), ("mediated_success", 86_000, None),
                          ("closed", 86_100, None)]),
        "m-5": _incident(conn, settings, "m-5", "neighbour_dispute", b, 4,
                         sent(worker, "resolved", worker)),
        "m-6": _incident(conn, settings, "m-6", "noise", b, 5, sent(worker, "resolved", worker)),
        "m-7": _incident(conn, settings, "m-7", "theft", a, 6, sent(police, "resolved", police)),
        "m-8": _incident(conn, settings, "m-8", "sanitation", a, 7,
                         sent(worker, "referred", worker)),
    }  # fmt: skip
    calls = {
        "m-1": (True, True),
        "m-2": (True, False),
        "m-3": (True, None),
        "m-4": (False, None),
        "m-5": (True, True),
        "m-6": (True, True),
    }
    for name, (reached, satisfied) in calls.items():
        record_follow_up(conn, ids[name], reached=reached, satisfied=satisfied, actor="test")
    return {"a": a, "b": b, "ids": ids}


def _row(report: KpiReport, code: str) -> KpiRow:
    return next(r for r in report.areas if r.code == code)


def test_city_rates_beside_the_published_figures(
    conn: Connection, hand_built: dict[str, Any]
) -> None:
    report = incident_kpis(conn, **WINDOW)
    city = _row(report, "350600")
    assert city.incidents == 8
    # outcomes: m-1 success, m-2 failed, m-3 referred on, m-4 success (m-5 resolved on site)
    assert (city.mediation_outcomes, city.mediated_success) == (4, 2)
    assert city.mediation_success_rate == 0.5
    # attended non-police: m-1, m-2, m-3, m-5, m-6, m-8; on the spot: m-1, m-5, m-6
    assert (city.non_police_attended, city.settled_on_spot) == (6, 3)
    assert city.settled_on_spot_rate == 0.5
    assert (city.closed, city.followed_up, city.follow_up_reached) == (8, 6, 5)
    assert city.follow_up_reach_rate == 0.625
    assert (city.follow_up_answered, city.follow_up_satisfied) == (4, 3)
    assert city.follow_up_satisfaction_rate == 0.75
    assert {k: v.rate for k, v in report.published.items()} == {
        "mediation_success_rate": 0.8,
        "settled_on_spot_rate": 0.932,
        "follow_up_reach_rate": 1.0,
        "follow_up_satisfaction_rate": 1.0,
    }
    assert all("published" in figure.source for figure in PUBLISHED.values())


def test_rates_per_area(conn: Connection, hand_built: dict[str, Any]) -> None:
    report = incident_kpis(conn, **WINDOW)
    a_code, b_code = hand_built["a"]["code"], hand_built["b"]["code"]
    for code in ("350602", a_code):
        row = _row(report, code)
        assert (row.mediation_outcomes, row.mediated_success) == (3, 1), code
        assert row.mediation_success_rate == pytest.approx(1 / 3, abs=1e-4)
        assert (row.non_police_attended, row.settled_on_spot, row.settled_on_spot_rate) == (
            4,
            1,
            0.25,
        )
        assert (row.closed, row.follow_up_reached, row.follow_up_reach_rate) == (5, 3, 0.6)
        assert (row.follow_up_answered, row.follow_up_satisfaction_rate) == (2, 0.5)
    for code in ("350623", b_code):
        row = _row(report, code)
        assert (row.mediation_outcomes, row.mediation_success_rate) == (1, 1.0), code
        assert (row.non_police_attended, row.settled_on_spot_rate) == (2, 1.0)
        assert row.follow_up_reach_rate == pytest.approx(2 / 3, abs=1e-4)
        assert row.follow_up_satisfaction_rate == 1.0
    quiet = _row(report, "350629")
    assert quiet.mediation_success_rate is None and quiet.follow_up_reach_rate is None


def test_period_bounds_the_rates(conn: Connection, hand_built: dict[str, Any]) -> None:
    # Only m-1 .. m-3 were reported in the first three hours.
    early = _row(incident_kpis(conn, start=T0, end=T0 + timedelta(hours=3)), "350600")
    assert (early.mediation_outcomes, early.mediated_success) == (3, 1)
    assert (early.closed, early.follow_up_reached, early.follow_up_answered) == (3, 3, 2)


# -- follow-up rules -----------------------------------------------------------------------------
def test_follow_up_is_once_per_closed_incident_and_audited(
    conn: Connection, hand_built: dict[str, Any], settings: Settings
) -> None:
    first = hand_built["ids"]["m-1"]
    stored = get_follow_up(conn, first)
    assert (stored["reached"], stored["satisfied"], stored["recorded_by"]) == (True, True, "test")
    with pytest.raises(Conflict) as twice:
        record_follow_up(conn, first, reached=True, satisfied=False)
    assert twice.value.field == "id"
    audited = conn.execute(
        text("SELECT after FROM audit_log WHERE action = 'incident.follow_up' AND entity_id = :id"),
        {"id": str(first)},
    ).scalar_one()
    assert audited == {"reached": True, "satisfied": True, "note": ""}

    open_one = _incident(conn, settings, "f-open", "noise", hand_built["a"], 9, [])
    with pytest.raises(Conflict, match="after it is closed"):
        record_follow_up(conn, open_one, reached=True)
    with pytest.raises(NotFound):
        record_follow_up(conn, 10**15, reached=True)
    with pytest.raises(NotFound):
        get_follow_up(conn, open_one)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"reached": "yes"}, "reached"),
        ({"reached": False, "satisfied": True}, "satisfied"),
        ({"reached": True, "satisfied": 1}, "satisfied"),
        ({"reached": True, "note": "x" * 2001}, "note"),
        ({"reached": True, "note": "a\x00b"}, "note"),
    ],
)
def test_bad_follow_ups_name_the_field(
    conn: Connection, hand_built: dict[str, Any], kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        record_follow_up(conn, hand_built["ids"]["m-7"], **kwargs)
    assert info.value.field == field


def test_the_database_refuses_satisfaction_without_reach(
    conn: Connection, hand_built: dict[str, Any]
) -> None:
    with pytest.raises(IntegrityError), conn.begin_nested():
        conn.execute(
            text(
                "INSERT INTO incident_follow_ups (incident_id, reached, satisfied) "
                "VALUES (:id, false, true)"
            ),
            {"id": hand_built["ids"]["m-7"]},
        )


# -- mediation outcomes in the lifecycle ---------------------------------------------------------
def _add(
    conn: Connection, incident_id: int, type_: str, minutes: int, who: int | None = None
) -> Any:
    return add_event(
        conn,
        incident_id,
        EventReport(type_, T0 + timedelta(hours=10, minutes=minutes), who),
        now=NOW,
    )


def test_mediation_outcomes_follow_the_order(conn: Connection, settings: Settings) -> None:
    a = _grid(conn, "350602", "community")
    mediator = _responder(conn, "mediator")
    worker = _responder(conn, "grid_worker")

    noise = _incident(conn, settings, "o-noise", "noise", a, 10, [])
    _add(conn, noise, "dispatched", 1, worker)
    _add(conn, noise, "arrived", 2, worker)
    with pytest.raises(Conflict, match="does not divert"):
        _add(conn, noise, "mediated_success", 3)

    dispute = _incident(conn, settings, "o-dispute", "neighbour_dispute", a, 10, [])
    with pytest.raises(Conflict, match="diverted to mediation first"):
        _add(conn, dispute, "mediated_failed", 1)
    _add(conn, dispute, "dispatched", 1, mediator)
    with pytest.raises(Conflict, match="mediator on scene"):
        _add(conn, dispute, "mediated_failed", 2)  # the mediator has not arrived
    _add(conn, dispute, "arrived", 2, mediator)
    assert _add(conn, dispute, "mediated_failed", 3)["status"] == "mediation_failed"
    for after in ("mediated_success", "referred", "resolved"):
        with pytest.raises(Conflict, match="only 'closed' can follow"):
            _add(conn, dispute, after, 4)
    assert _add(conn, dispute, "closed", 5)["status"] == "closed"

    settled = _incident(conn, settings, "o-settled", "family_dispute", a, 10, [])
    _add(conn, settled, "referred", 1)  # to the mediation committee
    assert _add(conn, settled, "mediated_success", 2)["status"] == "mediated"
    with pytest.raises(Conflict, match="only 'closed' can follow"):
        _add(conn, settled, "resolved", 3)
    assert _add(conn, settled, "closed", 4)["status"] == "closed"

    on_site = _incident(conn, settings, "o-on-site", "labour_dispute", a, 10, [])
    worker_2 = _responder(conn, "grid_worker")
    _add(conn, on_site, "dispatched", 1, worker_2)
    _add(conn, on_site, "arrived", 2, worker_2)
    with pytest.raises(Conflict, match="diverted to mediation first"):
        _add(conn, on_site, "mediated_success", 3)  # a grid worker, not a mediator
    _add(conn, on_site, "resolved", 3, worker_2)
    with pytest.raises(Conflict, match="diverted to mediation first"):
        _add(conn, on_site, "mediated_success", 4)


def test_the_database_accepts_only_known_event_types(
    conn: Connection, hand_built: dict[str, Any]
) -> None:
    with pytest.raises(IntegrityError), conn.begin_nested():
        conn.execute(
            text(
                "INSERT INTO incident_events (incident_id, seq, type, at) "
                "VALUES (:id, 99, 'mediated_maybe', now())"
            ),
            {"id": hand_built["ids"]["m-7"]},
        )


# -- the demo history ----------------------------------------------------------------------------
def test_demo_history_has_mediation_outcomes_and_follow_ups(
    conn: Connection, settings: Settings
) -> None:
    from gridgis.demo.incidents import generate_incidents

    end = datetime(2026, 2, 1, tzinfo=CHINA)
    now = end + timedelta(days=10)  # every incident closed and called back
    summary = generate_incidents(conn, 600, 7, eta_model_from_settings(settings), end=end, now=now)
    closed = summary.by_status.get("closed", 0)
    assert summary.follow_ups == closed > 0
    types = dict(
        conn.execute(
            text(
                "SELECT e.type, count(*) FROM incident_events e JOIN incidents i "
                "ON i.id = e.incident_id WHERE i.source = 'demo' GROUP BY e.type"
            )
        ).all()
    )
    assert types["mediated_success"] > 0 and types["mediated_failed"] > 0
    city = _row(incident_kpis(conn, start=end - timedelta(days=30), end=end), "350600")
    assert city.mediation_outcomes > 0 and city.closed == closed
    for rate in (
        city.mediation_success_rate,
        city.settled_on_spot_rate,
        city.follow_up_reach_rate,
        city.follow_up_satisfaction_rate,
    ):
        assert rate is not None and 0.4 < rate <= 1.0
    # A rerun replaces the history and its follow-ups (nothing is left behind).
    again = generate_incidents(conn, 600, 7, eta_model_from_settings(settings), end=end, now=now)
    assert again.follow_ups == summary.follow_ups
    count = conn.execute(
        text("SELECT count(*) FROM incident_follow_ups WHERE recorded_by = 'demo'")
    ).scalar_one()
    assert count == summary.follow_ups
