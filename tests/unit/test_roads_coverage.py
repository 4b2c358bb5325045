"""Coverage by road equals `road_v1` priced cell by cell (brute force over the roster)."""

from __future__ import annotations

import numpy as np
import pytest

from gridgis.coverage.cells import CellSet
from gridgis.dispatch.eta import StraightLineEta
from gridgis.roads.coverage import road_cell_etas
from gridgis.roads.model import RoadEta
from tests.roads_data import helsinki_engine

BOX = (24.930, 60.160, 24.960, 60.182)  # a little beyond the extract: some fall back


@pytest.fixture(scope="module")
def model() -> RoadEta:
    engine = helsinki_engine()
    return RoadEta(engine, StraightLineEta(), max_snap_m=100.0)


def cell_set(lon: np.ndarray, lat: np.ndarray) -> CellSet:
    n = len(lon)
    zeros = np.zeros(n)
    return CellSet(
        resolution=9,
        h3=np.arange(n, dtype=np.int64),
        grid=np.zeros(n, dtype=np.int64),
        lon=lon,
        lat=lat,
        x=zeros,
        y=zeros,
        scale=np.ones(n),
        area_m2=np.ones(n),
        extra=np.zeros(n, dtype=np.bool_),
    )


@pytest.mark.parametrize(
    ("seed", "k", "target_s", "responders"),
    [
        (1, 1, 180.0, 25),
        (2, 2, 240.0, 25),
        (3, 3, 300.0, 25),
        (4, 3, 240.0, 400),
        (5, 2, 420.0, 400),
    ],
)
def test_cell_etas_equal_the_model_cell_by_cell(
    model: RoadEta, seed: int, k: int, target_s: float, responders: int
) -> None:
    rng = np.random.default_rng(seed)
    cells = cell_set(rng.uniform(BOX[0], BOX[2], 150), rng.uniform(BOX[1], BOX[3], 150))
    lon, lat = rng.uniform(BOX[0], BOX[2], responders), rng.uniform(BOX[1], BOX[3], responders)
    urban = rng.random(150) < 0.6
    got = road_cell_etas(cells, urban, lon, lat, model, target_s=target_s, k=k)
    priced_by: set[str] = set()
    for c in range(150):
        setting = "urban" if urban[c] else "rural"
        priced = model.etas_to(float(cells.lon[c]), float(cells.lat[c]), lon, lat, setting)
        priced_by |= set(priced.priced_by.tolist())
        etas = np.sort(priced.eta_s)
        assert got.eta_s[c] == pytest.approx(etas[0], rel=1e-9)
        assert got.eta_k_s[c] == pytest.approx(etas[k - 1], rel=1e-9)
        assert got.within_target[c] == int((priced.eta_s <= target_s + 1e-9).sum())
    assert priced_by == {"road_v1", "straight_line_v1"}
    assert 0 < got.within_target.sum() < 150 * responders


def test_no_responders_leaves_cells_unreached(model: RoadEta) -> None:
    cells = cell_set(np.array([24.944]), np.array([60.170]))
    got = road_cell_etas(
        cells, np.array([True]), np.array([]), np.array([]), model, target_s=300, k=2
    )
    assert np.isinf(got.eta_s).all() and got.within_target.tolist() == [0]


def test_cells_at_the_end_of_a_one_way_edge_count_their_responders(model: RoadEta) -> None:
    engine = model.engine
    one_way = np.flatnonzero(~np.isfinite(engine.edge_reverse_cost))
    ends = np.unique(engine.edge_target[one_way])
    cells = cell_set(engine.node_lon[ends], engine.node_lat[ends])
    snapped = engine.snap(cells.lon, cells.lat, model.max_snap_m)
    at_end = (snapped.fraction == 1.0) & ~np.isfinite(engine.edge_reverse_cost[snapped.edge])
    assert at_end.sum() >= 5  # the case this test is about: entered only from the edge's source
    rng = np.random.default_rng(8)
    lon, lat = rng.uniform(BOX[0], BOX[2], 200), rng.uniform(BOX[1], BOX[3], 200)
    urban = np.ones(len(cells), dtype=np.bool_)
    got = road_cell_etas(cells, urban, lon, lat, model, target_s=300.0, k=1)
    for c in np.flatnonzero(at_end):
        priced = model.etas_to(float(cells.lon[c]), float(cells.lat[c]), lon, lat, "urban")
        assert got.within_target[c] == int((priced.eta_s <= 300.0 + 1e-9).sum())
        assert got.eta_s[c] == pytest.approx(priced.eta_s.min(), rel=1e-9)
    assert got.within_target[at_end].sum() > 0
