"""Incidents against the demo: idempotent intake, routing from the category table, the event
state machine, set-wise recommendations, listing, and the modelled demo history."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from gridgis.boundaries.lookup import locate
from gridgis.crs import wgs84_to_gcj02
from gridgis.demo.incidents import generate_incidents
from gridgis.demo.recommend import recommend_many
from gridgis.dispatch.eta import EtaModel, eta_model_from_settings
from gridgis.dispatch.incidents import (
    EventReport,
    IncidentReport,
    add_event,
    categories,
    category_route,
    get_incident,
    list_incidents,
    recommend,
    report_incident,
)
from gridgis.errors import Conflict, InvalidInput, NotFound
from gridgis.settings import Settings

CHINA = timezone(timedelta(hours=8))
NOW = datetime(2026, 3, 10, 21, 0, tzinfo=CHINA)
SHANGHAI = (121.47, 31.23)


@pytest.fixture()
def model(settings: Settings) -> EtaModel:
    return eta_model_from_settings(settings)


def grid_point(conn: Connection, *, county: str, kind: str, offset: int = 0) -> dict[str, Any]:
    """A point well inside a grid of `kind` in `county` (demo data), with the grid's code."""
    row = conn.execute(
        text(
            """
            SELECT a.code, ST_X(ST_PointOnSurface(a.geom)) AS lon,
                   ST_Y(ST_PointOnSurface(a.geom)) AS lat
            FROM areas a JOIN generations g ON g.id = a.generation_id AND g.active
            WHERE a.level = 'grid' AND a.kind = :kind AND a.code LIKE :county || '%'
            ORDER BY a.code OFFSET :offset LIMIT 1
            """
        ),
        {"county": county, "kind": kind, "offset": offset},
    ).one()
    return {"code": row.code, "lon": float(row.lon), "lat": float(row.lat)}


def responder_of(conn: Connection, role: str, offset: int = 0) -> int:
    """An available responder (only those can be dispatched)."""
    return int(
        conn.execute(
            text(
                "SELECT id FROM responders WHERE role = :role AND status = 'available' "
                "ORDER BY id OFFSET :o LIMIT 1"
            ),
            {"role": role, "o": offset},
        ).scalar_one()
    )


def report(
    conn: Connection,
    model: EtaModel,
    *,
    external_id: str,
    category: str = "theft",
    lon: float = 117.65,
    lat: float = 24.51,
    reported_at: datetime = NOW - timedelta(hours=1),
    **extra: Any,
) -> dict[str, Any]:
    result = report_incident(
        conn,
        IncidentReport(
            external_id=external_id,
            category=category,
            lon=lon,
            lat=lat,
            reported_at=reported_at,
            **extra,
        ),
        model,
        now=NOW,
    )
    return result.incident


# -- the category table ------------------------------------------------------------------------
def test_categories_are_seeded_and_consistent(conn: Connection) -> None:
    routes = {c.code: c for c in categories(conn)}
    assert len(routes) >= 12
    roles = {r[0] for r in conn.execute(text("SELECT code FROM roles"))}
    for route in routes.values():
        assert route.primary_roles, route.code
        assert set(route.primary_roles) | set(route.fallback_roles) <= roles, route.code
        assert not (route.police_matter and route.divert_to_mediation), route.code
    police = [c for c in routes.values() if c.police_matter]
    assert {"theft", "fight", "traffic_accident", "fraud", "drugs", "missing_person"} <= {
        c.code for c in police
    }
    for route in police:
        assert set(route.primary_roles) == {"community_police", "police_unit"}
    for code in ("neighbour_dispute", "family_dispute", "labour_dispute", "property_dispute"):
        route = routes[code]
        assert not route.police_matter and route.divert_to_mediation and route.prefer_team
        assert route.primary_roles == ("mediator",)
    for code in ("public_facility", "sanitation", "vulnerable_assistance", "noise"):
        assert routes[code].primary_roles[0] == "grid_worker"
        assert "volunteer" in routes[code].fallback_roles


def test_unknown_category_is_invalid_naming_category(conn: Connection) -> None:
    with pytest.raises(InvalidInput) as info:
        category_route(conn, "alien_landing")
    assert info.value.field == "category"
    assert "neighbour_dispute" in info.value.message


# -- intake ------------------------------------------------------------------------------------
def test_intake_is_idempotent_on_external_id(conn: Connection, model: EtaModel) -> None:
    first = report_incident(
        conn,
        IncidentReport("t-idem-1", "theft", 117.65, 24.51, NOW - timedelta(minutes=30)),
        model,
        now=NOW,
    )
    again = report_incident(
        conn,
        # the same instant written in another zone is the same report
        IncidentReport(
            "t-idem-1", "theft", 117.65, 24.51, (NOW - timedelta(minutes=30)).astimezone(UTC)
        ),
        model,
        now=NOW + timedelta(minutes=1),
    )
    assert first.created and not again.created
    assert again.incident["id"] == first.incident["id"]
    assert again.incident["recommendation"] == first.incident["recommendation"]
    count = conn.execute(
        text("SELECT COUNT(*) FROM incidents WHERE external_id = 't-idem-1'")
    ).scalar_one()
    assert count == 1


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"category": "fight"}, "category"),
        ({"lon": 117.6501}, "input_lon"),
        ({"reported_at": NOW - timedelta(minutes=31)}, "reported_at"),
        ({"description": "another"}, "description"),
        ({"crs": "gcj02"}, "input_crs"),
    ],
)
def test_retry_with_other_content_conflicts(
    conn: Connection, model: EtaModel, change: dict[str, Any], named: str
) -> None:
    base: dict[str, Any] = {
        "external_id": "t-idem-2",
        "category": "theft",
        "lon": 117.65,
        "lat": 24.51,
        "reported_at": NOW - timedelta(minutes=30),
    }
    report_incident(conn, IncidentReport(**base), model, now=NOW)
    with pytest.raises(Conflict) as info:
        report_incident(conn, IncidentReport(**{**base, **change}), model, now=NOW)
    assert info.value.field == "external_id"
    assert named in info.value.message


def test_outside_every_grid_is_still_recorded(conn: Connection, model: EtaModel) -> None:
    incident = report(conn, model, external_id="t-outside", lon=SHANGHAI[0], lat=SHANGHAI[1])
    assert incident["grid"] is None
    assert incident["generation"] is None
    assert incident["status"] == "open"
    assert incident["recommendation"]["setting"] == "rural"
    assert get_incident(conn, incident["id"])["lon"] == pytest.approx(SHANGHAI[0])


def test_gcj02_input_is_stored_as_wgs84(conn: Connection, model: EtaModel) -> None:
    wgs = (117.647, 24.513)
    gcj = wgs84_to_gcj02(*wgs)
    incident = report(conn, model, external_id="t-gcj", lon=gcj[0], lat=gcj[1], crs="gcj02")
    assert incident["lon"] == pytest.approx(wgs[0], abs=1e-7)
    assert incident["lat"] == pytest.approx(wgs[1], abs=1e-7)
    assert incident["input"] == {"crs": "gcj02", "lon": gcj[0], "lat": gcj[1]}
    # the GCJ-02 offset is several hundred metres here: using it unconverted would be wrong
    stored = conn.execute(
        text(
            "SELECT ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)"
            "::geography) FROM incidents WHERE id = :id"
        ),
        {"x": gcj[0], "y": gcj[1], "id": incident["id"]},
    ).scalar_one()
    assert stored > 100


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"lon": float("nan")}, "lon"),
        ({"lon": 200.0}, "lon"),
        ({"lat": -91.0}, "lat"),
        ({"lat": "north"}, "lat"),
        ({"category": "ufo"}, "category"),
        ({"external_id": ""}, "external_id"),
        ({"external_id": " padded "}, "external_id"),
        ({"reported_at": datetime(2026, 3, 10, 20, 0)}, "reported_at"),
        ({"reported_at": NOW + timedelta(minutes=6)}, "reported_at"),
    ],
)
def test_bad_reports_are_invalid_naming_the_field(
    conn: Connection, model: EtaModel, fields: dict[str, Any], field: str
) -> None:
    base: dict[str, Any] = {
        "external_id": "t-bad",
        "category": "theft",
        "lon": 117.65,
        "lat": 24.51,
        "reported_at": NOW - timedelta(minutes=5),
    }
    with pytest.raises(InvalidInput) as info:
        report_incident(conn, IncidentReport(**{**base, **fields}), model, now=NOW)
    assert info.value.field == field


def test_a_clock_slightly_ahead_is_tolerated(conn: Connection, model: EtaModel) -> None:
    incident = report(conn, model, external_id="t-ahead", reported_at=NOW + timedelta(minutes=4))
    assert incident["status"] == "open"


# -- routing -----------------------------------------------------------------------------------
def test_neighbour_dispute_recommends_the_grids_mediators_first(
    conn: Connection, model: EtaModel
) -> None:
    where = grid_point(conn, county="350602", kind="community")
    incident = report(
        conn, model, external_id="t-route-1", category="neighbour_dispute", **_lonlat(where)
    )
    assert incident["grid"]["code"] == where["code"]
    recommended = incident["recommendation"]["responders"]
    assert len(recommended) == 5
    team_mediators = {
        r[0]
        for r in conn.execute(
            text(
                """
                SELECT r.id FROM assignments a JOIN responders r ON r.id = a.responder_id
                WHERE a.grid_code = :g AND r.role = 'mediator' AND r.status = 'available'
                """
            ),
            {"g": where["code"]},
        )
    }
    assert team_mediators, "every demo township has mediators for its grids"
    first = recommended[: min(len(team_mediators), 5)]
    assert {r["responder_id"] for r in first} <= team_mediators
    assert all(r["role"] == "mediator" and r["team"] and r["tier"] == "primary" for r in first)
    team_etas = [r["eta_s"] for r in first]
    assert team_etas == sorted(team_etas)
    assert [r["rank"] for r in recommended] == [1, 2, 3, 4, 5]


def test_theft_recommends_police(conn: Connection, model: EtaModel) -> None:
    where = grid_point(conn, county="350602", kind="community")
    incident = report(conn, model, external_id="t-route-2", category="theft", **_lonlat(where))
    recommended = incident["recommendation"]["responders"]
    assert len(recommended) == 5
    assert {r["role"] for r in recommended} <= {"community_police", "police_unit"}
    # Theft does not prefer the grid team: team members are flagged, not moved first.
    team = {m["responder_id"] for m in locate(conn, where["lon"], where["lat"]).team}
    assert [r["team"] for r in recommended] == [r["responder_id"] in team for r in recommended]
    etas = [r["eta_s"] for r in recommended]
    assert etas == sorted(etas)


def test_fallback_roles_fill_up_when_primary_roles_run_short(
    conn: Connection, model: EtaModel
) -> None:
    where = grid_point(conn, county="350602", kind="community")
    # Only two mediators are available anywhere: the rest of the list comes from the fallback
    # roles of the category row.
    conn.execute(
        text(
            """
            UPDATE responders
            SET status = CASE WHEN id IN (SELECT id FROM responders WHERE role = 'mediator'
                                          ORDER BY id LIMIT 2)
                              THEN 'available' ELSE 'off_duty' END
            WHERE role = 'mediator'
            """
        )
    )
    incident = report(
        conn, model, external_id="t-route-3", category="neighbour_dispute", **_lonlat(where)
    )
    recommended = incident["recommendation"]["responders"]
    assert [r["tier"] for r in recommended] == ["primary"] * 2 + ["fallback"] * 3
    assert {r["role"] for r in recommended[2:]} <= {"grid_worker", "community_police"}
    assert any(r["team"] for r in recommended[2:]), "the grid's own team comes first"


def test_fallback_roles_are_offered_when_no_primary_one_meets_the_target(
    conn: Connection, model: EtaModel
) -> None:
    where = grid_point(conn, county="3506", kind="village")
    # Every mediator within 8 km is away: the nearest one left is far beyond the target.
    conn.execute(
        text(
            """
            UPDATE responders SET status = 'off_duty'
            WHERE role = 'mediator' AND ST_DWithin(
                home::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, 8000)
            """
        ),
        _lonlat(where),
    )
    conn.execute(text("DELETE FROM responder_positions WHERE role = 'mediator'"))
    incident = report(
        conn, model, external_id="t-route-5", category="family_dispute", **_lonlat(where)
    )
    recommended = incident["recommendation"]["responders"]
    assert len(recommended) == 5
    primary = [r for r in recommended if r["tier"] == "primary"]
    fallback = [r for r in recommended if r["tier"] == "fallback"]
    assert primary and not any(r["within_target"] for r in primary)
    assert fallback and {r["role"] for r in fallback} <= {"grid_worker", "community_police"}
    # Sooner help first: the fallback responders who beat every mediator are listed first.
    assert min(r["eta_s"] for r in fallback) < min(r["eta_s"] for r in primary)
    etas = [r["eta_s"] for r in recommended]
    assert etas == sorted(etas)


def test_routing_is_data_a_new_category_row_routes_without_code(
    conn: Connection, model: EtaModel
) -> None:
    conn.execute(
        text(
            """
            INSERT INTO incident_categories (code, name_zh, name_en, police_matter,
              primary_roles, fallback_roles, prefer_team, divert_to_mediation)
            VALUES ('stray_dog', '流浪犬', 'Stray dog', false, '{volunteer}', '{}', false, false)
            """
        )
    )
    incident = report(conn, model, external_id="t-route-4", category="stray_dog")
    assert {r["role"] for r in incident["recommendation"]["responders"]} == {"volunteer"}


def test_set_wise_recommendations_equal_the_per_incident_ones(
    conn: Connection, model: EtaModel
) -> None:
    # Some responders with fresh live fixes, so both position sources are exercised.
    conn.execute(
        text(
            """
            INSERT INTO responder_positions (responder_id, role, position, recorded_at)
            SELECT id, role, ST_Translate(home, 0.004, -0.003), :at FROM responders
            WHERE id % 7 = 0
            ON CONFLICT (responder_id) DO UPDATE
            SET position = EXCLUDED.position, recorded_at = EXCLUDED.recorded_at
            """
        ),
        {"at": NOW - timedelta(minutes=2)},
    )
    routes = categories(conn)
    rows = conn.execute(
        text(
            """
            SELECT a.code, a.kind, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat
            FROM areas a JOIN generations g ON g.id = a.generation_id AND g.active
            CROSS JOIN LATERAL ST_Dump(ST_GeneratePoints(a.geom, 1, 7)) p
            WHERE a.level = 'grid' AND a.id % 53 = 0
            ORDER BY a.code
            """
        )
    ).all()
    points = [(float(r.lon), float(r.lat)) for r in rows] + [SHANGHAI]
    grids: list[tuple[str, str] | None] = [(r.code, r.kind) for r in rows] + [None]
    chosen = [routes[i % len(routes)] for i in range(len(points))]
    many, _ = recommend_many(conn, points, grids, chosen, model, now=NOW)
    for (lon, lat), route, answer in zip(points, chosen, many, strict=True):
        assert answer == recommend(conn, lon, lat, route, model, now=NOW).responders


# -- the event state machine -------------------------------------------------------------------
def _lonlat(where: dict[str, Any]) -> dict[str, float]:
    return {"lon": where["lon"], "lat": where["lat"]}


def _event(
    conn: Connection, incident_id: int, type_: str, minutes: float, responder: int | None = None
) -> dict[str, Any]:
    at = NOW - timedelta(hours=1) + timedelta(minutes=minutes)
    return add_event(conn, incident_id, EventReport(type_, at, responder), now=NOW)


def test_happy_path_timeline_and_status(conn: Connection, model: EtaModel) -> None:
    incident = report(conn, model, external_id="t-flow-1")
    officer = responder_of(conn, "police_unit")
    unit = responder_of(conn, "police_unit", 1)
    steps = [
        ("dispatched", 1, officer, "dispatched"),
        ("dispatched", 2, unit, "dispatched"),
        ("arrived", 4, officer, "on_scene"),
        ("arrived", 6, unit, "on_scene"),
        ("resolved", 30, officer, "resolved"),
        ("closed", 45, None, "closed"),
    ]
    for type_, minutes, who, status in steps:
        assert _event(conn, incident["id"], type_, minutes, who)["status"] == status
    final = get_incident(conn, incident["id"])
    assert [(e["seq"], e["type"]) for e in final["timeline"]] == [
        (i + 1, s[0]) for i, s in enumerate(steps)
    ]
    assert final["timeline"][0]["responder_role"] == "police_unit"


def test_referral_then_close(conn: Connection, model: EtaModel) -> None:
    incident = report(conn, model, external_id="t-flow-2", category="neighbour_dispute")
    mediator = responder_of(conn, "mediator")
    _event(conn, incident["id"], "dispatched", 1, mediator)
    assert _event(conn, incident["id"], "referred", 2)["status"] == "referred"
    assert _event(conn, incident["id"], "closed", 3)["status"] == "closed"


def test_referral_without_attendance_is_allowed(conn: Connection, model: EtaModel) -> None:
    incident = report(conn, model, external_id="t-flow-3", category="labour_dispute")
    assert _event(conn, incident["id"], "referred", 5)["status"] == "referred"


@pytest.fixture()
def dispatched(conn: Connection, model: EtaModel) -> Iterator[tuple[int, int]]:
    incident = report(conn, model, external_id="t-order")
    officer = responder_of(conn, "community_police")
    _event(conn, incident["id"], "dispatched", 10, officer)
    yield incident["id"], officer


def test_arrival_before_its_dispatch_conflicts(
    conn: Connection, dispatched: tuple[int, int]
) -> None:
    incident_id, officer = dispatched
    with pytest.raises(Conflict) as info:
        _event(conn, incident_id, "arrived", 5, officer)
    assert info.value.field == "at"


def test_arrival_by_a_responder_never_dispatched_conflicts(
    conn: Connection, dispatched: tuple[int, int]
) -> None:
    incident_id, _ = dispatched
    with pytest.raises(Conflict) as info:
        _event(conn, incident_id, "arrived", 12, responder_of(conn, "grid_worker"))
    assert info.value.field == "responder_id"
    assert "never dispatched" in info.value.message


def test_time_going_backwards_conflicts(conn: Connection, dispatched: tuple[int, int]) -> None:
    incident_id, officer = dispatched
    _event(conn, incident_id, "arrived", 15, officer)
    with pytest.raises(Conflict) as info:
        _event(conn, incident_id, "resolved", 14, officer)
    assert info.value.field == "at"
    assert "previous event" in info.value.message


def test_event_before_the_report_conflicts(conn: Connection, model: EtaModel) -> None:
    incident = report(conn, model, external_id="t-early")
    with pytest.raises(Conflict) as info:
        _event(conn, incident["id"], "dispatched", -1, responder_of(conn, "police_unit"))
    assert info.value.field == "at"


def test_nothing_follows_closed(conn: Connection, dispatched: tuple[int, int]) -> None:
    incident_id, officer = dispatched
    _event(conn, incident_id, "arrived", 15, officer)
    _event(conn, incident_id, "resolved", 20, officer)
    _event(conn, incident_id, "closed", 25)
    for type_, who in (("dispatched", responder_of(conn, "police_unit")), ("referred", None)):
        with pytest.raises(Conflict, match="closed"):
            _event(conn, incident_id, type_, 30, who)


@pytest.mark.parametrize(
    ("type_", "message"),
    [("resolved", "needs an arrival"), ("closed", "'resolved' or 'referred'")],
)
def test_resolution_and_closing_need_their_prerequisites(
    conn: Connection, dispatched: tuple[int, int], type_: str, message: str
) -> None:
    incident_id, _ = dispatched
    with pytest.raises(Conflict, match=message):
        _event(conn, incident_id, type_, 20)


def test_double_dispatch_and_double_arrival_conflict(
    conn: Connection, dispatched: tuple[int, int]
) -> None:
    incident_id, officer = dispatched
    with pytest.raises(Conflict, match="already dispatched"):
        _event(conn, incident_id, "dispatched", 11, officer)
    _event(conn, incident_id, "arrived", 12, officer)
    with pytest.raises(Conflict, match="already arrived"):
        _event(conn, incident_id, "arrived", 13, officer)


def test_bad_events_are_invalid_or_not_found(conn: Connection, model: EtaModel) -> None:
    incident = report(conn, model, external_id="t-bad-events")
    at = NOW - timedelta(minutes=30)
    cases: list[tuple[EventReport, type[Exception], str]] = [
        (EventReport("dispatched", at, None), InvalidInput, "responder_id"),
        (EventReport("dispatched", at, 10**12), NotFound, "responder_id"),
        (EventReport("teleported", at, None), InvalidInput, "type"),
        (EventReport("referred", at.replace(tzinfo=None)), InvalidInput, "at"),
        (EventReport("referred", NOW + timedelta(minutes=10)), InvalidInput, "at"),
    ]
    for event, error, field in cases:
        with pytest.raises(error) as info:
            add_event(conn, incident["id"], event, now=NOW)
        assert getattr(info.value, "field", None) == field, event
    with pytest.raises(NotFound) as missing:
        add_event(conn, 10**15, EventReport("referred", at), now=NOW)
    assert missing.value.field == "id"


# -- concurrency (committed data on separate connections, cleaned up after) ---------------------
def _remove(engine: Engine, external_id: str) -> None:
    with engine.begin() as c:
        c.execute(text("DELETE FROM incidents WHERE external_id = :e"), {"e": external_id})


def test_concurrent_identical_reports_make_one_incident(engine: Engine, model: EtaModel) -> None:
    external_id = "t-race-intake"
    same = IncidentReport(external_id, "theft", 117.65, 24.51, NOW - timedelta(minutes=3))
    answers: dict[str, Any] = {}
    try:
        with engine.connect() as first, engine.connect() as second:
            created = report_incident(first, same, model, now=NOW)  # not yet committed

            def racer() -> None:
                answers["second"] = report_incident(second, same, model, now=NOW)
                second.commit()

            thread = threading.Thread(target=racer)
            thread.start()
            time.sleep(0.5)
            assert thread.is_alive(), "the second insert waits for the first transaction"
            first.commit()
            thread.join(timeout=10)
        assert created.created and not answers["second"].created
        assert answers["second"].incident["id"] == created.incident["id"]
        with engine.connect() as c:
            count = c.execute(
                text("SELECT COUNT(*) FROM incidents WHERE external_id = :e"), {"e": external_id}
            ).scalar_one()
        assert count == 1
    finally:
        _remove(engine, external_id)


def test_concurrent_events_are_serialised_by_the_row_lock(engine: Engine, model: EtaModel) -> None:
    external_id = "t-race-events"
    try:
        with engine.connect() as c:
            incident = report_incident(
                c,
                IncidentReport(external_id, "theft", 117.65, 24.51, NOW - timedelta(minutes=9)),
                model,
                now=NOW,
            ).incident
            officer = responder_of(c, "police_unit")
            c.commit()
        event = EventReport("dispatched", NOW - timedelta(minutes=8), officer)
        outcome: dict[str, Any] = {}
        with engine.connect() as first, engine.connect() as second:
            add_event(first, incident["id"], event, now=NOW)  # holds the lock

            def racer() -> None:
                try:
                    add_event(second, incident["id"], event, now=NOW)
                except Conflict as exc:
                    outcome["conflict"] = exc
                second.rollback()

            thread = threading.Thread(target=racer)
            thread.start()
            time.sleep(0.5)
            assert thread.is_alive(), "the second append waits for the lock"
            first.commit()
            thread.join(timeout=10)
        assert "already dispatched" in outcome["conflict"].message
    finally:
        _remove(engine, external_id)


# -- listing -----------------------------------------------------------------------------------
def test_listing_filters_by_area_status_and_pages(conn: Connection, model: EtaModel) -> None:
    xiangcheng = [grid_point(conn, county="350602", kind="community", offset=i) for i in range(3)]
    rural = grid_point(conn, county="350623", kind="village")
    made = []
    for i, where in enumerate([*xiangcheng, rural]):
        made.append(
            report(
                conn,
                model,
                external_id=f"t-list-{i}",
                reported_at=NOW - timedelta(hours=2, minutes=-i),
                **_lonlat(where),
            )
        )
    add_event(
        conn,
        made[0]["id"],
        EventReport("referred", NOW - timedelta(minutes=20)),
        now=NOW,
    )
    window = {"start": NOW - timedelta(hours=3), "end": NOW}
    everything = list_incidents(conn, **window)
    assert [i["external_id"] for i in everything.items] == [f"t-list-{i}" for i in (3, 2, 1, 0)]
    county = list_incidents(conn, area="350602", **window)
    assert {i["external_id"] for i in county.items} == {"t-list-0", "t-list-1", "t-list-2"}
    grid = list_incidents(conn, area=xiangcheng[1]["code"], **window)
    assert [i["external_id"] for i in grid.items] == ["t-list-1"]
    township = list_incidents(conn, area=rural["code"][:9], **window)
    assert [i["external_id"] for i in township.items] == ["t-list-3"]
    city = list_incidents(conn, area="350600", **window)
    assert len(city.items) == 4
    referred = list_incidents(conn, status="referred", **window)
    assert [i["external_id"] for i in referred.items] == ["t-list-0"]

    seen: list[str] = []
    cursor = None
    while True:
        page = list_incidents(conn, limit=3, cursor=cursor, **window)
        seen += [i["external_id"] for i in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [i["external_id"] for i in everything.items]


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"cursor": "not-a-cursor"}, InvalidInput, "cursor"),
        ({"area": "999999"}, NotFound, "area"),
        ({"area": "35x"}, InvalidInput, "area"),
        ({"category": "ufo"}, InvalidInput, "category"),
        ({"start": datetime(2026, 1, 1)}, InvalidInput, "from"),
        ({"start": NOW, "end": NOW - timedelta(days=1)}, InvalidInput, "to"),
    ],
)
def test_listing_rejects_bad_filters(
    conn: Connection, kwargs: dict[str, Any], error: type[Exception], field: str
) -> None:
    with pytest.raises(error) as info:
        list_incidents(conn, **kwargs)
    assert getattr(info.value, "field", None) == field


# -- the modelled demo history -----------------------------------------------------------------
DEMO_END = datetime(2026, 3, 1, tzinfo=CHINA)


def _demo_state(conn: Connection) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in conn.execute(
            text(
                """
                SELECT i.external_id, i.category, i.reported_at, ST_AsText(i.geom), i.grid_code,
                       i.status, i.recommendation -> 'responders',
                       COALESCE((SELECT json_agg(json_build_array(e.seq, e.type, e.responder_id,
                                                                  e.at) ORDER BY e.seq)
                                 FROM incident_events e WHERE e.incident_id = i.id)::text, '')
                FROM incidents i WHERE i.source = 'demo' ORDER BY i.external_id
                """
            )
        )
    ]


def test_demo_incidents_count_seed_and_idempotent_rerun(conn: Connection, model: EtaModel) -> None:
    first = generate_incidents(conn, 400, 11, model, end=DEMO_END, now=NOW)
    assert first.incidents == 400
    state = _demo_state(conn)
    assert len(state) == 400
    assert all(s[0].startswith("demo-") for s in state)
    assert all(DEMO_END - timedelta(days=30) <= s[2] < DEMO_END for s in state)

    again = generate_incidents(conn, 400, 11, model, end=DEMO_END, now=NOW)
    assert again.removed == 400
    assert _demo_state(conn) == state, "same seed, same history; a rerun replaces it"

    generate_incidents(conn, 400, 12, model, end=DEMO_END, now=NOW)
    other = _demo_state(conn)
    assert len(other) == 400 and other != state


def test_demo_incidents_are_dispatched_to_their_top_recommendation(
    conn: Connection, model: EtaModel
) -> None:
    summary = generate_incidents(conn, 300, 5, model, end=DEMO_END, now=NOW)
    assert sum(summary.by_status.values()) == 300
    assert len(summary.by_category) >= 10
    rows = conn.execute(
        text(
            """
            SELECT i.id, i.reported_at, i.recommendation -> 'responders' -> 0 ->> 'responder_id'
                     AS top,
                   (SELECT e.responder_id FROM incident_events e
                    WHERE e.incident_id = i.id AND e.type = 'dispatched') AS sent,
                   (SELECT MIN(e.at) FROM incident_events e
                    WHERE e.incident_id = i.id AND e.type = 'arrived') AS arrived
            FROM incidents i WHERE i.source = 'demo'
            """
        )
    ).all()
    assert all(int(r.top) == r.sent for r in rows if r.sent is not None)
    responses = sorted((r.arrived - r.reported_at).total_seconds() for r in rows if r.arrived)
    assert responses and responses[0] > 0
    assert any(s > 300 for s in responses) and any(s <= 300 for s in responses)
