"""Nearest by road: dispatch's certified shortlist gives the brute-force road ranking."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import Connection, text

from gridgis.dispatch.eta import StraightLineEta, geodesic_m
from gridgis.dispatch.nearest import nearest_responders
from gridgis.roads.model import RoadEta
from tests.roads_data import helsinki_engine

ROLE = "zz_road_test"
BOX = (24.936, 60.165, 24.953, 60.178)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def model() -> RoadEta:
    engine = helsinki_engine(urban=False)
    return RoadEta(engine, StraightLineEta(), max_snap_m=120.0)


def insert_roster(conn: Connection, seed: int, count: int) -> list[tuple[int, float, float]]:
    conn.execute(
        text(
            "INSERT INTO roles (code, name_zh, name_en) VALUES (:c, '测试', 'test') "
            "ON CONFLICT DO NOTHING"
        ),
        {"c": ROLE},
    )
    rng = np.random.default_rng(seed)
    # A margin around the extract: some responders stand far from every road (fallback).
    lons = rng.uniform(BOX[0] - 0.01, BOX[2] + 0.01, count)
    lats = rng.uniform(BOX[1] - 0.005, BOX[3] + 0.005, count)
    roster = []
    for k in range(count):
        rid = conn.execute(
            text(
                """
                INSERT INTO responders (ref, name, role, skills, status, home)
                VALUES (:ref, :ref, :role, '{}', 'available',
                        ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
                RETURNING id
                """
            ),
            {"ref": f"road-{seed}-{k}", "role": ROLE, "lon": lons[k], "lat": lats[k]},
        ).scalar_one()
        roster.append((int(rid), float(lons[k]), float(lats[k])))
    return roster


def brute_force(
    model: RoadEta, roster: list[tuple[int, float, float]], lon: float, lat: float, n: int
) -> list[tuple[int, float, str]]:
    """Every responder priced by the model, ranked as dispatch ranks (ETA, distance, id)."""
    lons = np.array([r[1] for r in roster])
    lats = np.array([r[2] for r in roster])
    distance = geodesic_m(lon, lat, lons, lats)
    priced = model.etas_to(lon, lat, lons, lats, "rural", distance_m=distance)
    rows = sorted(
        (round(float(e), 1), round(float(d), 1), r[0], str(by))
        for r, e, d, by in zip(roster, priced.eta_s, distance, priced.priced_by, strict=True)
    )
    return [(rid, eta, by) for eta, _, rid, by in rows[:n]]


@pytest.mark.parametrize("seed", range(6))
def test_nearest_by_road_equals_brute_force_over_the_roster(
    conn: Connection, model: RoadEta, seed: int
) -> None:
    roster = insert_roster(conn, seed, 60)
    rng = np.random.default_rng(100 + seed)
    for _ in range(5):
        lon = float(rng.uniform(BOX[0], BOX[2]))
        lat = float(rng.uniform(BOX[1], BOX[3]))
        n = int(rng.integers(1, 12))
        answer = nearest_responders(conn, lon, lat, model, n=n, roles=[ROLE], now=NOW)
        got = [(r.responder_id, r.eta_s, r.priced_by) for r in answer.results]
        assert got == brute_force(model, roster, lon, lat, n)
        assert answer.eta_model == "road_v1"


@pytest.mark.parametrize("seed", range(2))
def test_a_dense_roster_is_certified_by_the_calls_reach(
    conn: Connection, model: RoadEta, seed: int
) -> None:
    """Hundreds of responders over a square kilometre: the shortlist must grow past its
    first round and stop well short of the whole roster, and still rank as brute force."""
    roster = insert_roster(conn, 50 + seed, 500)
    rng = np.random.default_rng(200 + seed)
    rounds = []
    for _ in range(6):
        lon = float(rng.uniform(BOX[0], BOX[2]))
        lat = float(rng.uniform(BOX[1], BOX[3]))
        n = int(rng.integers(3, 15))
        answer = nearest_responders(conn, lon, lat, model, n=n, roles=[ROLE], now=NOW)
        got = [(r.responder_id, r.eta_s, r.priced_by) for r in answer.results]
        assert got == brute_force(model, roster, lon, lat, n)
        rounds.append(answer.shortlist_rounds)
    assert 2 in rounds and max(rounds) == 2, rounds


def test_a_near_responder_across_the_water_ranks_by_road(conn: Connection, model: RoadEta) -> None:
    roster = insert_roster(conn, 42, 80)
    # Over many calls, the road ranking must differ from the straight-line ranking somewhere
    # (else the road model would change nothing) and still equal the brute force.
    straight = StraightLineEta()
    differs = 0
    rng = np.random.default_rng(7)
    for _ in range(10):
        lon = float(rng.uniform(BOX[0], BOX[2]))
        lat = float(rng.uniform(BOX[1], BOX[3]))
        road = nearest_responders(conn, lon, lat, model, n=5, roles=[ROLE], now=NOW)
        line = nearest_responders(conn, lon, lat, straight, n=5, roles=[ROLE], now=NOW)
        assert [r.responder_id for r in road.results] == [
            rid for rid, _, _ in brute_force(model, roster, lon, lat, 5)
        ]
        differs += [r.responder_id for r in road.results] != [r.responder_id for r in line.results]
        assert {r.priced_by for r in line.results} == {"straight_line_v1"}
    assert differs > 0


def test_max_eta_uses_the_road_model(conn: Connection, model: RoadEta) -> None:
    roster = insert_roster(conn, 9, 50)
    lon, lat = 24.9445, 60.1700
    everyone = brute_force(model, roster, lon, lat, 50)
    limit = everyone[10][1]
    answer = nearest_responders(conn, lon, lat, model, n=50, roles=[ROLE], max_eta_s=limit, now=NOW)
    assert [r.responder_id for r in answer.results] == [
        rid for rid, eta, _ in everyone if eta <= limit
    ]
    assert all(r.within_target == (r.eta_s <= model.target_s) for r in answer.results)
