"""Patrol tasks on PostGIS: reserving, grabbing, cancelling, checking in and out, figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, text

from gridgis.errors import Forbidden, InvalidInput, NotFound, Refused
from gridgis.workflows import patrols, units
from gridgis.workflows.patrols import Acting, PatrolRules, PatrolSpec

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
RULES = PatrolRules()


def grid_and_centre(conn: Connection, offset: int = 0) -> tuple[str, float, float]:
    row = conn.execute(
        text(
            "SELECT a.code, ST_X(ST_PointOnSurface(a.geom)), ST_Y(ST_PointOnSurface(a.geom)) "
            "FROM areas a JOIN generations g ON g.id = a.generation_id AND g.active "
            "WHERE a.level = 'grid' ORDER BY a.code OFFSET :o LIMIT 1"
        ),
        {"o": offset},
    ).one()
    return str(row[0]), float(row[1]), float(row[2])


def volunteers(conn: Connection, n: int, role: str = "volunteer") -> list[int]:
    rows = conn.execute(
        text("SELECT id FROM responders WHERE role = :role ORDER BY id LIMIT :n"),
        {"role": role, "n": n},
    )
    return [int(r[0]) for r in rows]


@pytest.fixture()
def unit(conn: Connection) -> dict[str, Any]:
    code, _, _ = grid_and_centre(conn)
    return units.create_unit(conn, "test school", "Ms Lin 0596-1234567", code)


def make_task(
    conn: Connection,
    unit: dict[str, Any],
    *,
    hours_ahead: float = 24,
    length_h: float = 2,
    slots: int = 5,
    offset: int = 0,
    **extra: Any,
) -> dict[str, Any]:
    code, _, _ = grid_and_centre(conn, offset)
    start = NOW + timedelta(hours=hours_ahead)
    spec = PatrolSpec(
        unit_id=unit["id"],
        start=start,
        end=start + timedelta(hours=length_h),
        slots=slots,
        grid_codes=extra.pop("grid_codes", [code]),
        **extra,
    )
    return patrols.create_patrol(conn, spec, RULES, now=NOW)


def test_a_task_on_grids_has_their_area_and_no_claims(
    conn: Connection, unit: dict[str, Any]
) -> None:
    task = make_task(conn, unit)
    assert task["status"] == "open" and task["claims"] == [] and task["claimed"] == 0
    assert task["area"]["type"] == "MultiPolygon"
    assert task["grid_code"] == task["grid_codes"][0]


def test_grab_fills_slots_then_full_and_is_idempotent(
    conn: Connection, unit: dict[str, Any]
) -> None:
    task = make_task(conn, unit, slots=2)
    a, b, c = volunteers(conn, 3)
    first = patrols.grab(conn, task["id"], a, now=NOW)
    assert first.created and first.claim["slot_no"] == 1
    again = patrols.grab(conn, task["id"], a, now=NOW)
    assert not again.created and again.claim["id"] == first.claim["id"]
    assert patrols.grab(conn, task["id"], b, now=NOW).claim["slot_no"] == 2
    with pytest.raises(Refused) as exc:
        patrols.grab(conn, task["id"], c, now=NOW)
    assert exc.value.code == "full"
    assert patrols.get_patrol(conn, task["id"], now=NOW)["status"] == "full"


def test_validation_names_the_field(conn: Connection, unit: dict[str, Any]) -> None:
    code, lon, lat = grid_and_centre(conn)
    start = NOW + timedelta(hours=5)

    def spec(**changes: Any) -> PatrolSpec:
        base: dict[str, Any] = {
            "unit_id": unit["id"],
            "start": start,
            "end": start + timedelta(hours=2),
            "slots": 3,
            "grid_codes": [code],
        }
        base.update(changes)
        return PatrolSpec(**base)

    cases = [
        (spec(slots=0), "slots"),
        (spec(slots=101), "slots"),
        (spec(start=NOW - timedelta(hours=1)), "start"),
        (spec(start=NOW + timedelta(days=400), end=NOW + timedelta(days=400, hours=1)), "start"),
        (spec(end=start), "end"),
        (spec(end=start + timedelta(hours=13)), "end"),
        (spec(start=start.replace(tzinfo=None)), "start"),
        (spec(grid_codes=["350600999999"]), "grid_codes"),
        (spec(grid_codes=None), "area"),
        (spec(area={"type": "Point", "coordinates": [lon, lat]}, grid_codes=None), "area"),
        (spec(required_role="astronaut"), "required_role"),
        # A square far outside Zhangzhou.
        (
            spec(
                grid_codes=None,
                area={
                    "type": "Polygon",
                    "coordinates": [
                        [[100, 30], [100.01, 30], [100.01, 30.01], [100, 30.01], [100, 30]]
                    ],
                },
            ),
            "area",
        ),
        # A bow tie is not a valid polygon.
        (
            spec(
                grid_codes=None,
                area={
                    "type": "Polygon",
                    "coordinates": [
                        [
                            [lon, lat],
                            [lon + 0.001, lat + 0.001],
                            [lon + 0.001, lat],
                            [lon, lat + 0.001],
                            [lon, lat],
                        ]
                    ],
                },
            ),
            "area",
        ),
        (
            spec(
                grid_codes=None, area={"type": "LineString", "coordinates": [[lon, 91], [lon, 0]]}
            ),
            "area",
        ),
    ]
    for bad, field in cases:
        with pytest.raises(InvalidInput) as exc:
            patrols.create_patrol(conn, bad, RULES, now=NOW)
        assert exc.value.field == field, (bad, exc.value.message)
    count = conn.execute(text("SELECT COUNT(*) FROM patrol_tasks")).scalar_one()
    assert count == 0


def test_drawn_polygon_and_route_find_their_grids(conn: Connection, unit: dict[str, Any]) -> None:
    code, lon, lat = grid_and_centre(conn, 40)
    square = {
        "type": "Polygon",
        "coordinates": [
            [
                [lon - 0.001, lat - 0.001],
                [lon + 0.001, lat - 0.001],
                [lon + 0.001, lat + 0.001],
                [lon - 0.001, lat + 0.001],
                [lon - 0.001, lat - 0.001],
            ]
        ],
    }
    task = make_task(conn, unit, grid_codes=None, area=square)
    assert task["area_kind"] == "polygon" and task["grid_code"] == code
    assert code in task["grid_codes"]
    route = {"type": "LineString", "coordinates": [[lon - 0.002, lat], [lon + 0.002, lat]]}
    task = make_task(conn, unit, grid_codes=None, area=route, hours_ahead=30)
    assert task["area_kind"] == "route" and task["area"]["type"] == "LineString"


def test_a_units_key_acts_for_its_unit_only(conn: Connection, unit: dict[str, Any]) -> None:
    code, _, _ = grid_and_centre(conn, 3)
    other = units.create_unit(conn, "other team", "Mr Chen", code)
    start = NOW + timedelta(hours=3)
    spec = PatrolSpec(
        unit_id=other["id"], start=start, end=start + timedelta(hours=1), slots=2, grid_codes=[code]
    )
    scoped = Acting(actor="school-key", unit_id=unit["id"], any_unit=False)
    with pytest.raises(Forbidden):
        patrols.create_patrol(conn, spec, RULES, acting=scoped, now=NOW)
    with pytest.raises(Forbidden):
        patrols.create_patrol(conn, spec, RULES, acting=Acting("app", None, False), now=NOW)
    task = patrols.create_patrol(
        conn, spec, RULES, acting=Acting("team-key", other["id"], False), now=NOW
    )
    with pytest.raises(Forbidden):
        patrols.cancel_patrol(conn, task["id"], acting=scoped, now=NOW)


def test_overlapping_grab_is_refused_and_adjacent_is_not(
    conn: Connection, unit: dict[str, Any]
) -> None:
    first = make_task(conn, unit, hours_ahead=24, length_h=2)
    overlapping = make_task(conn, unit, hours_ahead=25, length_h=2, offset=1)
    adjacent = make_task(conn, unit, hours_ahead=26, length_h=1, offset=2)
    (v,) = volunteers(conn, 1)
    patrols.grab(conn, first["id"], v, now=NOW)
    with pytest.raises(Refused) as exc:
        patrols.grab(conn, overlapping["id"], v, now=NOW)
    assert exc.value.code == "overlap" and str(first["id"]) in exc.value.message
    assert patrols.grab(conn, adjacent["id"], v, now=NOW).created  # [start, end) ranges


def test_the_exclusion_constraint_holds_without_the_library(
    conn: Connection, unit: dict[str, Any]
) -> None:
    first = make_task(conn, unit, hours_ahead=24)
    second = make_task(conn, unit, hours_ahead=25, offset=1)
    (v,) = volunteers(conn, 1)
    insert = text(
        "INSERT INTO patrol_claims (task_id, responder_id, slot_no, during) "
        "SELECT id, :v, 1, tstzrange(starts_at, ends_at) FROM patrol_tasks WHERE id = :t"
    )
    conn.execute(insert, {"v": v, "t": first["id"]})
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError, match="ex_patrol_claims_overlap"), conn.begin_nested():
        conn.execute(insert, {"v": v, "t": second["id"]})
    (w,) = volunteers(conn, 2)[1:]
    with pytest.raises(IntegrityError, match="uq_patrol_claims_slot"), conn.begin_nested():
        conn.execute(insert, {"v": w, "t": first["id"]})


def test_closed_tasks_refuse_grabs(conn: Connection, unit: dict[str, Any]) -> None:
    task = make_task(conn, unit)
    a, b = volunteers(conn, 2)
    patrols.grab(conn, task["id"], a, now=NOW)
    cancelled = patrols.cancel_patrol(conn, task["id"], now=NOW)
    assert cancelled["status"] == "cancelled" and cancelled["claimed"] == 0
    assert [c["status"] for c in cancelled["claims"]] == ["cancelled"]
    with pytest.raises(Refused) as exc:
        patrols.grab(conn, task["id"], b, now=NOW)
    assert exc.value.code == "closed"
    started = make_task(conn, unit, hours_ahead=1, offset=1)
    with pytest.raises(Refused) as exc:
        patrols.grab(conn, started["id"], b, now=NOW + timedelta(hours=1, minutes=1))
    assert exc.value.code == "closed"
    with pytest.raises(NotFound):
        patrols.grab(conn, 10**12, b, now=NOW)


def test_role_requirement(conn: Connection, unit: dict[str, Any]) -> None:
    task = make_task(conn, unit, required_role="volunteer")
    (worker,) = volunteers(conn, 1, role="grid_worker")
    with pytest.raises(Refused) as exc:
        patrols.grab(conn, task["id"], worker, now=NOW)
    assert exc.value.code == "role"


def test_cancel_before_the_deadline_frees_the_slot_after_it_is_a_no_show(
    conn: Connection, unit: dict[str, Any]
) -> None:
    task = make_task(conn, unit, hours_ahead=5, slots=1)
    a, b, c = volunteers(conn, 3)
    patrols.grab(conn, task["id"], a, now=NOW)
    early = patrols.cancel_claim(conn, task["id"], a, RULES, now=NOW)
    assert early["status"] == "cancelled"
    patrols.grab(conn, task["id"], b, now=NOW)  # the slot is free again
    late = NOW + timedelta(hours=4)  # one hour before the start; the deadline is two
    assert patrols.cancel_claim(conn, task["id"], b, RULES, now=late)["status"] == "no_show"
    assert patrols.grab(conn, task["id"], c, now=late).created
    with pytest.raises(NotFound):
        patrols.cancel_claim(conn, task["id"], b, RULES, now=late)


def test_check_in_and_out_within_area_and_window(conn: Connection, unit: dict[str, Any]) -> None:
    _, lon, lat = grid_and_centre(conn)
    task = make_task(conn, unit, hours_ahead=2, length_h=2)
    (v,) = volunteers(conn, 1)
    patrols.grab(conn, task["id"], v, now=NOW)
    start = NOW + timedelta(hours=2)
    with pytest.raises(Refused) as exc:
        patrols.check_in(conn, task["id"], v, lon, lat, RULES, now=start - timedelta(hours=1))
    assert exc.value.code == "outside_window"
    with pytest.raises(Refused) as exc:
        patrols.check_in(conn, task["id"], v, lon + 0.5, lat, RULES, now=start)
    assert exc.value.code == "outside_area"
    with pytest.raises(Refused) as exc:
        patrols.check_out(conn, task["id"], v, lon, lat, RULES, now=start)
    assert exc.value.code == "not_checked_in"
    claim = patrols.check_in(
        conn, task["id"], v, lon, lat, RULES, now=start - timedelta(minutes=10), live_fix=False
    )
    assert claim["checked_in_at"] == start - timedelta(minutes=10)
    assert claim["check_in_lon"] == pytest.approx(lon)
    with pytest.raises(Refused) as exc:
        patrols.cancel_claim(conn, task["id"], v, RULES, now=start)
    assert exc.value.code == "checked_in"
    out = patrols.check_out(
        conn, task["id"], v, lon, lat, RULES, now=start + timedelta(hours=1), live_fix=False
    )
    assert out["checked_out_at"] == start + timedelta(hours=1)


def test_just_outside_the_area_is_accepted_within_the_tolerance(
    conn: Connection, unit: dict[str, Any]
) -> None:
    _, lon, lat = grid_and_centre(conn, 40)
    route = {"type": "LineString", "coordinates": [[lon - 0.002, lat], [lon + 0.002, lat]]}
    task = make_task(conn, unit, grid_codes=None, area=route, hours_ahead=1)
    (v,) = volunteers(conn, 1)
    patrols.grab(conn, task["id"], v, now=NOW)
    at = NOW + timedelta(hours=1)
    # ~0.0015 degrees of latitude is ~166 m: inside 200 m; ~0.0025 is ~277 m: outside.
    with pytest.raises(Refused):
        patrols.check_in(conn, task["id"], v, lon, lat + 0.0025, RULES, now=at, live_fix=False)
    patrols.check_in(conn, task["id"], v, lon, lat + 0.0015, RULES, now=at, live_fix=False)


def test_figures_hours_volunteers_fill_and_no_shows(conn: Connection, unit: dict[str, Any]) -> None:
    from gridgis.workflows import patrol_stats

    code, lon, lat = grid_and_centre(conn)
    task = make_task(conn, unit, hours_ahead=2, length_h=3, slots=4)
    a, b, c = volunteers(conn, 3)
    for v in (a, b, c):
        patrols.grab(conn, task["id"], v, now=NOW)
    start = NOW + timedelta(hours=2)
    patrols.check_in(conn, task["id"], a, lon, lat, RULES, now=start, live_fix=False)
    patrols.check_out(
        conn, task["id"], a, lon, lat, RULES, now=start + timedelta(hours=2), live_fix=False
    )
    patrols.check_in(
        conn, task["id"], b, lon, lat, RULES, now=start + timedelta(hours=1), live_fix=False
    )  # never checks out: counted to the end (2 h)
    later = NOW + timedelta(days=1)  # c never came: a no-show
    window = (NOW - timedelta(days=1), NOW + timedelta(days=2))
    rows = patrol_stats.patrol_stats(conn, "grid", *window, now=later)
    (row,) = [r for r in rows if r["area_code"] == code]
    assert row["tasks"] == 1 and row["slots_offered"] == 4 and row["slots_filled"] == 3
    assert row["patrol_hours"] == pytest.approx(4.0)
    assert row["volunteers"] == 2 and row["no_shows"] == 1
    assert row["week"] == "2026-W49"
    (county,) = [
        r
        for r in patrol_stats.patrol_stats(conn, "county", *window, now=later)
        if r["area_code"] == code[:6]
    ]
    assert county["patrol_hours"] == pytest.approx(4.0) and county["area_name"]
    leaders = patrol_stats.leaderboard(conn, "volunteer", *window, now=later)
    assert [(x["id"], x["patrol_hours"]) for x in leaders] == [(a, 2.0), (b, 2.0)]
    (top,) = patrol_stats.leaderboard(conn, "unit", *window, now=later)
    assert top["id"] == unit["id"] and top["patrol_hours"] == pytest.approx(4.0)
    layer = patrol_stats.hours_by_grid(conn, *window, now=later)
    hours = {f["id"]: f["properties"]["patrol_hours"] for f in layer["features"]}
    assert hours[code] == pytest.approx(4.0) and len(hours) == 2080


def test_the_patrol_demo_is_seeded_and_fills_the_figures(conn: Connection) -> None:
    from dataclasses import asdict

    from gridgis.workflows import patrol_stats
    from gridgis.workflows.demo import generate_patrols

    now = datetime.now(UTC)
    first = generate_patrols(conn, weeks=1, seed=5, units=6, now=now)
    again = generate_patrols(conn, weeks=1, seed=5, units=6, now=now)
    keys = ("units", "tasks", "claims", "cancelled", "no_shows", "check_ins", "check_outs")
    assert {k: asdict(first)[k] for k in keys} == {k: asdict(again)[k] for k in keys}
    assert again.units == 6 and again.tasks > 0 and again.check_ins > 0
    assert conn.execute(text("SELECT COUNT(*) FROM units WHERE source = 'demo'")).scalar() == 6
    rows = patrol_stats.patrol_stats(conn, "county", now - timedelta(days=14), now, now=now)
    assert sum(r["patrol_hours"] for r in rows) > 0
    # Nothing the demo wrote breaks a rule: slots never over-booked.
    over = conn.execute(
        text(
            "SELECT COUNT(*) FROM patrol_tasks t WHERE t.slots < (SELECT COUNT(*) FROM "
            "patrol_claims c WHERE c.task_id = t.id AND c.status = 'active')"
        )
    ).scalar()
    assert over == 0


def test_the_service_post_demo_gives_every_cadre_a_post(conn: Connection) -> None:
    from gridgis.workflows import service_posts
    from gridgis.workflows.demo import generate_service_posts

    summary = generate_service_posts(conn, seed=3)
    cadres = conn.execute(
        text("SELECT COUNT(*) FROM responders WHERE role = 'party_cadre'")
    ).scalar_one()
    assert summary.cadres_with_posts == cadres == 18_000
    assert summary.grids == 2080 and summary.posts >= cadres
    per_post = conn.execute(
        text(
            "SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM service_post_claims "
            "WHERE status = 'active' GROUP BY post_id) x"
        )
    ).scalar_one()
    assert per_post == 1
    counties = service_posts.post_coverage(conn, "county")
    assert sum(r["grids"] for r in counties) == 2080
    assert sum(r["grids_all_claimed"] for r in counties) == summary.grids_all_claimed


def test_only_system_keys_act_for_a_unit(conn: Connection, unit: dict[str, Any]) -> None:
    from gridgis.auth import authenticate, create_api_key

    with pytest.raises(InvalidInput) as exc:
        create_api_key(conn, "pepper", name="unit admin", role="admin", unit_id=unit["id"])
    assert exc.value.field == "unit"
    with pytest.raises(NotFound):
        create_api_key(conn, "pepper", name="nobody's", role="system", unit_id=10**12)
    _, key = create_api_key(conn, "pepper", name="unit app", role="system", unit_id=unit["id"])
    assert authenticate(conn, "pepper", key).unit_id == unit["id"]
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError, match="ck_api_keys_unit_system"), conn.begin_nested():
        conn.execute(text("UPDATE api_keys SET role = 'admin' WHERE name = 'unit app'"))
