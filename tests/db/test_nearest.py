"""Nearest responders equal a brute-force geodesic ranking; stale fixes fall back to home."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from sqlalchemy import Connection, text

from gridgis.dispatch.eta import StraightLineEta, setting_of_kind
from gridgis.dispatch.nearest import geodesic_lower_bound_m, nearest_responders, search_box

GEOD = Geod(ellps="WGS84")
MODEL = StraightLineEta()
NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
STALE_AFTER_S = 900.0
TEST_ROLE = "zz_test_role"


def _brute_force(
    conn: Connection,
    lon: float,
    lat: float,
    *,
    roles: list[str] | None,
    statuses: list[str],
    n: int,
    max_eta_s: float | None,
    kind: str | None,
) -> list[tuple[int, float]]:
    """Every matching responder placed (fresh live fix, else home) and ranked with pyproj."""
    rows = conn.execute(
        text(
            """
            SELECT r.id,
                   CASE WHEN p.recorded_at >= :fresh THEN ST_X(p.position)
                        ELSE ST_X(r.home) END AS lon,
                   CASE WHEN p.recorded_at >= :fresh THEN ST_Y(p.position)
                        ELSE ST_Y(r.home) END AS lat
            FROM responders r LEFT JOIN responder_positions p ON p.responder_id = r.id
            WHERE (CAST(:roles AS varchar[]) IS NULL OR r.role = ANY(CAST(:roles AS varchar[])))
              AND r.status = ANY(CAST(:statuses AS varchar[]))
            """
        ),
        {"fresh": NOW - timedelta(seconds=STALE_AFTER_S), "roles": roles, "statuses": statuses},
    ).all()
    if not rows:
        return []
    ids = np.array([r.id for r in rows])
    lons = np.array([r.lon for r in rows])
    lats = np.array([r.lat for r in rows])
    _, _, dist = GEOD.inv(np.full_like(lons, lon), np.full_like(lats, lat), lons, lats)
    etas = MODEL.eta_s(dist, setting_of_kind(kind))
    ranked = sorted(
        zip(np.round(etas, 1), np.round(dist, 1), ids, strict=True),
        key=lambda t: (t[0], t[1], t[2]),
    )
    if max_eta_s is not None:
        ranked = [t for t in ranked if t[0] <= max_eta_s]
    return [(int(i), float(d)) for _, d, i in ranked[:n]]


def _assert_same_ranking(got: list[tuple[int, float]], expected: list[tuple[int, float]]) -> None:
    assert len(got) == len(expected)
    for (got_id, got_d), (exp_id, exp_d) in zip(got, expected, strict=True):
        # PostGIS and pyproj agree to well under a millimetre; only exact ties may swap.
        assert abs(got_d - exp_d) < 0.15
        if got_id != exp_id:
            assert abs(got_d - exp_d) < 0.15, (got_id, exp_id)


@st.composite
def rosters(draw: st.DrawFn) -> dict[str, Any]:
    lon0 = draw(st.floats(117.0, 118.0))
    lat0 = draw(st.floats(23.8, 25.0))
    size = draw(st.integers(0, 70))
    people = []
    for _ in range(size):
        people.append(
            {
                "dlon": draw(st.floats(-0.08, 0.08)),
                "dlat": draw(st.floats(-0.08, 0.08)),
                "status": draw(st.sampled_from(["available", "busy", "off_duty"])),
                # None: no fix; otherwise the fix's age in seconds (fresh or stale)
                "fix_age": draw(st.one_of(st.none(), st.floats(0, 3 * STALE_AFTER_S))),
                "fix_dlon": draw(st.floats(-0.03, 0.03)),
                "fix_dlat": draw(st.floats(-0.03, 0.03)),
            }
        )
    return {
        "lon0": lon0,
        "lat0": lat0,
        "people": people,
        "query_dlon": draw(st.floats(-0.05, 0.05)),
        "query_dlat": draw(st.floats(-0.05, 0.05)),
        "n": draw(st.integers(1, 12)),
        "statuses": draw(
            st.lists(st.sampled_from(["available", "busy", "off_duty"]), min_size=1, unique=True)
        ),
        "max_eta_s": draw(st.one_of(st.none(), st.floats(70, 900))),
    }


def _insert_roster(conn: Connection, roster: dict[str, Any]) -> None:
    conn.execute(
        text(
            "INSERT INTO roles (code, name_zh, name_en) VALUES (:c, '测试', 'test') "
            "ON CONFLICT DO NOTHING"
        ),
        {"c": TEST_ROLE},
    )
    for k, p in enumerate(roster["people"]):
        fix = p["fix_age"] is not None
        conn.execute(
            text(
                """
                WITH added AS (
                    INSERT INTO responders (ref, name, role, skills, status, home)
                    VALUES (:ref, :name, :role, '{}', :status,
                            ST_SetSRID(ST_MakePoint(:hlon, :hlat), 4326))
                    RETURNING id, role
                )
                INSERT INTO responder_positions (responder_id, role, position, recorded_at)
                SELECT id, role, ST_SetSRID(ST_MakePoint(:plon, :plat), 4326),
                       CAST(:recorded AS timestamptz)
                FROM added WHERE :fix
                """
            ),
            {
                "ref": f"test-{k}",
                "name": f"测试{k}",
                "role": TEST_ROLE,
                "status": p["status"],
                "hlon": roster["lon0"] + p["dlon"],
                "hlat": roster["lat0"] + p["dlat"],
                "fix": fix,
                "plon": roster["lon0"] + p["dlon"] + p["fix_dlon"],
                "plat": roster["lat0"] + p["dlat"] + p["fix_dlat"],
                "recorded": NOW - timedelta(seconds=p["fix_age"]) if fix else None,
            },
        )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(roster=rosters())
def test_ranking_equals_brute_force_on_random_rosters(
    conn: Connection, roster: dict[str, Any]
) -> None:
    savepoint = conn.begin_nested()
    try:
        _insert_roster(conn, roster)
        lon = roster["lon0"] + roster["query_dlon"]
        lat = roster["lat0"] + roster["query_dlat"]
        answer = nearest_responders(
            conn,
            lon,
            lat,
            MODEL,
            n=roster["n"],
            roles=[TEST_ROLE],
            statuses=roster["statuses"],
            max_eta_s=roster["max_eta_s"],
            stale_after_s=STALE_AFTER_S,
            now=NOW,
        )
        expected = _brute_force(
            conn,
            lon,
            lat,
            roles=[TEST_ROLE],
            statuses=roster["statuses"],
            n=roster["n"],
            max_eta_s=roster["max_eta_s"],
            kind=answer.grid["kind"] if answer.grid else None,
        )
        _assert_same_ranking([(r.responder_id, r.distance_m) for r in answer.results], expected)
        keys = [(r.eta_s, r.distance_m, r.responder_id) for r in answer.results]
        assert keys == sorted(keys)
    finally:
        savepoint.rollback()


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lon=st.floats(117.2, 117.9),
    lat=st.floats(24.0, 24.8),
    n=st.integers(1, 30),
    role=st.sampled_from([None, "community_police", "volunteer", "grid_worker", "mediator"]),
)
def test_ranking_equals_brute_force_over_the_whole_demo_roster(
    conn: Connection, lon: float, lat: float, n: int, role: str | None
) -> None:
    roles = [role] if role else None
    answer = nearest_responders(
        conn, lon, lat, MODEL, n=n, roles=roles, stale_after_s=STALE_AFTER_S, now=NOW
    )
    expected = _brute_force(
        conn,
        lon,
        lat,
        roles=roles,
        statuses=["available"],
        n=n,
        max_eta_s=None,
        kind=answer.grid["kind"] if answer.grid else None,
    )
    _assert_same_ranking([(r.responder_id, r.distance_m) for r in answer.results], expected)


def test_fresh_fix_is_used_and_stale_fix_falls_back_to_home(conn: Connection) -> None:
    roster = {
        "lon0": 117.65,
        "lat0": 24.51,
        "people": [
            {
                "dlon": 0.02,
                "dlat": 0.0,
                "status": "available",
                "fix_age": 60.0,
                "fix_dlon": -0.0199,
                "fix_dlat": 0.0,
            },
            {
                "dlon": 0.01,
                "dlat": 0.0,
                "status": "available",
                "fix_age": 2000.0,
                "fix_dlon": -0.0099,
                "fix_dlat": 0.0,
            },
        ],
    }
    _insert_roster(conn, roster)
    answer = nearest_responders(
        conn, 117.65, 24.51, MODEL, n=2, roles=[TEST_ROLE], stale_after_s=STALE_AFTER_S, now=NOW
    )
    first, second = answer.results
    assert first.source == "live" and first.distance_m < 20
    assert first.recorded_at is not None
    assert second.source == "home" and second.recorded_at is None
    assert 900 < second.distance_m < 1100


def test_busy_and_off_duty_are_excluded_unless_asked(conn: Connection) -> None:
    people = [
        {"dlon": 0.001 * k, "dlat": 0.0, "status": s, "fix_age": None, "fix_dlon": 0, "fix_dlat": 0}
        for k, s in enumerate(["busy", "off_duty", "available"], start=1)
    ]
    _insert_roster(conn, {"lon0": 117.65, "lat0": 24.51, "people": people})
    default = nearest_responders(conn, 117.65, 24.51, MODEL, n=5, roles=[TEST_ROLE], now=NOW)
    assert [r.status for r in default.results] == ["available"]
    everyone = nearest_responders(
        conn,
        117.65,
        24.51,
        MODEL,
        n=5,
        roles=[TEST_ROLE],
        statuses=["available", "busy", "off_duty"],
        now=NOW,
    )
    assert [r.status for r in everyone.results] == ["busy", "off_duty", "available"]


def test_prefer_team_puts_the_grid_team_first(conn: Connection) -> None:
    answer = nearest_responders(
        conn,
        117.65,
        24.51,
        MODEL,
        n=5,
        roles=["grid_worker", "community_police"],
        prefer_team=True,
        now=NOW,
    )
    assert answer.grid is not None
    flags = [r.team for r in answer.results]
    assert len(flags) == 5  # n caps the answer, team included
    assert flags[0] is True
    assert flags == sorted(flags, reverse=True)  # team first, then the others
    assert 0 < sum(1 for f in flags if not f) < 5
    team_ids = {
        row[0]
        for row in conn.execute(
            text("SELECT responder_id FROM assignments WHERE grid_code = :g"),
            {"g": answer.grid["code"]},
        )
    }
    assert {r.responder_id for r in answer.results if r.team} <= team_ids


def test_outside_every_grid_still_answers(conn: Connection) -> None:
    answer = nearest_responders(conn, 118.3, 23.5, MODEL, n=3, now=NOW)  # at sea, south-east
    assert answer.grid is None
    assert answer.setting == "rural"
    assert len(answer.results) == 3


def test_lower_bound_is_below_the_true_geodesic_distance() -> None:
    for lat in (0.0, 24.5, 60.0):
        for d in (0.001, 0.05, 1.0):
            for bearing_lon, bearing_lat in ((1, 0), (0, 1), (0.7071, 0.7071)):
                _, _, true = GEOD.inv(
                    lon1 := 117.0, lat, lon1 + d * bearing_lon, lat + d * bearing_lat
                )
                assert geodesic_lower_bound_m(d, lat) <= true


@pytest.mark.parametrize("n", [0, 101])
def test_n_out_of_range(conn: Connection, n: int) -> None:
    from gridgis.errors import InvalidInput

    with pytest.raises(InvalidInput):
        nearest_responders(conn, 117.65, 24.51, MODEL, n=n)


def test_a_role_change_takes_the_live_fix_along(conn: Connection) -> None:
    """The KNN indexes file each point under its role's lane; a responder who changes role is
    found, at the live fix and then at home, under the new role and no longer under the old."""
    roster = {
        "lon0": 117.65,
        "lat0": 24.51,
        "people": [
            {
                "dlon": 0.03,
                "dlat": 0.0,
                "status": "available",
                "fix_age": 60.0,
                "fix_dlon": -0.0299,
                "fix_dlat": 0.0,
            }
        ],
    }
    _insert_roster(conn, roster)
    (rid,) = conn.execute(text("SELECT id FROM responders WHERE ref = 'test-0'")).one()
    conn.execute(
        text(
            "INSERT INTO roles (code, name_zh, name_en) VALUES ('zz_other_role', '测试', 'test') "
            "ON CONFLICT DO NOTHING"
        )
    )
    conn.execute(text("UPDATE responders SET role = 'zz_other_role' WHERE id = :id"), {"id": rid})
    lanes = conn.execute(
        text(
            "SELECT p.lane, ro.lane FROM responder_positions p JOIN roles ro "
            "ON ro.code = 'zz_other_role' WHERE p.responder_id = :id"
        ),
        {"id": rid},
    ).one()
    assert lanes[0] == lanes[1]

    def found(role: str) -> list[tuple[int, str]]:
        answer = nearest_responders(
            conn, 117.65, 24.51, MODEL, n=3, roles=[role], stale_after_s=STALE_AFTER_S, now=NOW
        )
        return [(r.responder_id, r.source) for r in answer.results]

    assert found("zz_other_role") == [(rid, "live")]
    assert found(TEST_ROLE) == []
    # Without the live fix the home base places them: under the new role's lane too.
    conn.execute(text("DELETE FROM responder_positions WHERE responder_id = :id"), {"id": rid})
    assert found("zz_other_role") == [(rid, "home")]
    assert found(TEST_ROLE) == []


@pytest.mark.parametrize(
    ("home_dlon", "home_dlat", "expected_m"),
    [(0.0, 0.009, 997), (0.0, 0.0445, 4_929), (-0.048, 0.0, 4_862)],
)
def test_a_walk_full_of_superseded_homes_is_widened(
    conn: Connection, home_dlon: float, home_dlat: float, expected_m: float
) -> None:
    """Twenty responders live near the call but are out on patrol 5 km away (fresh fixes), so
    the first home walk meets only their superseded home rows; the nearest responder placed at
    home (1 km away, or just inside the 5 km north or west) lies beyond that walk. The second
    round must reach it: its box holds the whole radius the first round left open."""
    people = [
        {
            "dlon": 0.0005 * (k % 5),
            "dlat": 0.0005 * (k // 5),
            "status": "available",
            "fix_age": 60.0,
            "fix_dlon": 0.05,
            "fix_dlat": 0.0,
        }
        for k in range(20)
    ]
    people.append(
        {
            "dlon": home_dlon,
            "dlat": home_dlat,
            "status": "available",
            "fix_age": None,
            "fix_dlon": 0.0,
            "fix_dlat": 0.0,
        }
    )
    _insert_roster(conn, {"lon0": 117.65, "lat0": 24.51, "people": people})
    (home_only,) = conn.execute(text("SELECT id FROM responders WHERE ref = 'test-20'")).one()
    answer = nearest_responders(
        conn, 117.65, 24.51, MODEL, n=1, roles=[TEST_ROLE], stale_after_s=STALE_AFTER_S, now=NOW
    )
    (best,) = answer.results
    assert (best.responder_id, best.source, best.team) == (home_only, "home", False)
    # On the call grid's team, the second round says so.
    assert answer.grid is not None
    conn.execute(
        text("INSERT INTO assignments (responder_id, grid_code, duty) VALUES (:r, :g, :d)"),
        {"r": home_only, "g": answer.grid["code"], "d": TEST_ROLE},
    )
    again = nearest_responders(
        conn, 117.65, 24.51, MODEL, n=1, roles=[TEST_ROLE], stale_after_s=STALE_AFTER_S, now=NOW
    )
    assert [(r.responder_id, r.team) for r in again.results] == [(home_only, True)]
    assert abs(best.distance_m - expected_m) < 5
    assert answer.shortlist_rounds == 2


@pytest.mark.parametrize("lat", [0.0, 24.5, 60.0, -45.0, 89.0])
@pytest.mark.parametrize("radius_m", [50.0, 4_000.0, 300_000.0])
def test_the_second_rounds_box_holds_the_whole_radius(lat: float, radius_m: float) -> None:
    west, south, east, north = search_box(117.0, lat, radius_m)
    for bearing in range(0, 360, 5):
        lon2, lat2, _ = GEOD.fwd(117.0, lat, bearing, radius_m)
        assert west <= lon2 <= east and south <= lat2 <= north, (bearing, lon2, lat2)
    # and not much more than it: the box is the answer's second read
    _, _, across = GEOD.inv(west, lat, east, lat)
    assert across < 2.4 * radius_m or lat > 80
    assert search_box(117.0, lat, math.inf) == (-180.0, -90.0, 180.0, 90.0)
