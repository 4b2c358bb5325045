"""`road_v1`: composition of legs and network time, fallback per result, exact pruning bound."""

from __future__ import annotations

import numpy as np
import pytest

from gridgis.dispatch.eta import StraightLineEta, geodesic_m
from gridgis.roads.model import RoadEta
from tests.roads_data import helsinki_engine

BOX = (24.936, 60.165, 24.953, 60.178)


@pytest.fixture(scope="module")
def model() -> RoadEta:
    engine = helsinki_engine()
    return RoadEta(engine, StraightLineEta(), max_snap_m=150.0)


def points(seed: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(BOX[0], BOX[2], count), rng.uniform(BOX[1], BOX[3], count)


def test_eta_is_turnout_plus_legs_plus_network_time(model: RoadEta) -> None:
    lons, lats = points(1, 40)
    call = (24.9445, 60.1700)
    priced = model.etas_to(*call, lons, lats, "urban")
    responders = model.engine.snap(lons, lats, model.max_snap_m)
    at_call = model.engine.snap(np.array([call[0]]), np.array([call[1]]), model.max_snap_m)
    assert at_call.joined[0]
    network = model.engine.travel_s(responders, at_call)[:, 0]
    fb = model.fallback
    for i in range(40):
        if responders.joined[i]:
            expected = (
                fb.turnout_s
                + float(fb.leg_s(responders.distance_m[i], "urban"))
                + network[i]
                + float(fb.leg_s(at_call.distance_m[0], "urban"))
            )
            assert priced.priced_by[i] == "road_v1"
        else:
            expected = float(
                fb.eta_s(geodesic_m(*call, lons[i : i + 1], lats[i : i + 1]), "urban")[0]
            )
            assert priced.priced_by[i] == "straight_line_v1"
        assert priced.eta_s[i] == pytest.approx(expected)
    assert set(priced.priced_by) == {"road_v1", "straight_line_v1"}, "some fall back at 150 m"


def test_a_call_far_from_roads_is_priced_by_the_straight_line_model(model: RoadEta) -> None:
    lons, lats = points(2, 10)
    priced = model.etas_to(24.90, 60.14, lons, lats, "rural")  # at sea, south of the extract
    assert set(priced.priced_by) == {"straight_line_v1"}
    assert np.allclose(
        priced.eta_s, model.fallback.eta_s(geodesic_m(24.90, 60.14, lons, lats), "rural")
    )


def test_the_bound_never_undercuts_a_road_eta(model: RoadEta) -> None:
    for seed in range(5):
        lons, lats = points(10 + seed, 50)
        call = points(20 + seed, 1)
        priced = model.etas_to(float(call[0][0]), float(call[1][0]), lons, lats, "urban")
        distance = geodesic_m(float(call[0][0]), float(call[1][0]), lons, lats)
        reach = np.array([model.max_distance_m(float(e), "urban") for e in priced.eta_s])
        assert (distance <= reach + 1e-6).all()


def test_a_calls_reach_holds_everyone_who_makes_it_in_time(model: RoadEta) -> None:
    """`reach_m(E)` bounds the straight-line distance of every position (on the network or
    priced by the fallback) whose road ETA is within E, and is tighter than the top-speed
    bound for most calls (what keeps dispatch's shortlists short)."""
    tighter = 0
    checked = 0
    for seed in range(8):
        # A margin around the extract: some positions stand beyond the snapping limit.
        rng = np.random.default_rng(40 + seed)
        lons = rng.uniform(BOX[0] - 0.006, BOX[2] + 0.006, 600)
        lats = rng.uniform(BOX[1] - 0.003, BOX[3] + 0.003, 600)
        call = points(60 + seed, 1)
        lon, lat = float(call[0][0]), float(call[1][0])
        pricer = model.for_call(lon, lat, "urban")
        priced = pricer.etas(lons, lats)
        distance = geodesic_m(lon, lat, lons, lats)
        for eta in np.quantile(priced.eta_s[np.isfinite(priced.eta_s)], [0.01, 0.05, 0.2, 0.6]):
            reach = pricer.reach_m(float(eta))
            inside = priced.eta_s <= eta
            assert (distance[inside] <= reach + 1e-6).all(), (seed, eta)
            checked += 1
            tighter += reach < model.max_distance_m(float(eta), "urban")
    assert tighter >= checked // 2


def test_a_calls_pricing_is_the_same_whatever_was_asked_before(model: RoadEta) -> None:
    """The search shared by a call's rounds gives the same ETAs as a fresh one."""
    lons, lats = points(7, 120)
    call = (24.9440, 60.1712)
    fresh = model.etas_to(*call, lons, lats, "urban")
    pricer = model.for_call(*call, "urban")
    pricer.reach_m(90.0)
    partial = pricer.etas(lons[:30], lats[:30], need=3)
    finite = np.isfinite(partial.eta_s)
    assert np.allclose(partial.eta_s[finite], fresh.eta_s[:30][finite])
    again = pricer.etas(lons, lats)
    assert np.allclose(again.eta_s, fresh.eta_s)


@pytest.mark.parametrize("horizon_s", [5.0, 20.0, 600.0])
def test_a_search_horizon_keeps_the_fastest_exact(
    model: RoadEta, horizon_s: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gridgis.roads.model

    monkeypatch.setattr(gridgis.roads.model, "_FIRST_HORIZON_S", horizon_s)
    lons, lats = points(3, 80)
    call = (24.9400, 60.1760)
    full = model.etas_to(*call, lons, lats, "urban")
    left_out = 0
    for need in (1, 5, 20):
        partial = model.etas_to(*call, lons, lats, "urban", need=need)
        finite = np.isfinite(partial.eta_s)
        assert finite.sum() >= need
        assert np.allclose(partial.eta_s[finite], full.eta_s[finite])
        fastest = np.sort(full.eta_s)[:need]
        assert np.allclose(np.sort(partial.eta_s[finite])[:need], fastest)
        left_out += int((~finite).sum())
    assert left_out > 0 or horizon_s == 600.0  # short horizons do leave the slow ones out


def test_matrix_agrees_with_one_to_many(model: RoadEta) -> None:
    olons, olats = points(4, 12)
    dlons, dlats = points(5, 3)
    matrix = model.eta_matrix(olons, olats, dlons, dlats, "urban")
    assert matrix.eta_s.shape == (12, 3)
    for j in range(3):
        column = model.etas_to(float(dlons[j]), float(dlats[j]), olons, olats, "urban")
        assert np.allclose(matrix.eta_s[:, j], column.eta_s)
        assert (matrix.priced_by[:, j] == column.priced_by).all()
    straight = StraightLineEta().eta_matrix(olons, olats, dlons, dlats, "urban")
    assert straight.eta_s.shape == (12, 3) and set(straight.priced_by.ravel()) == {
        "straight_line_v1"
    }
