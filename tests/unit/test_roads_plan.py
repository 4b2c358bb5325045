"""Planning on a run by road: a post reaches a cell exactly when `road_v1` prices the way from
the post to the cell within the target (checked pair by pair on Helsinki's network)."""

from __future__ import annotations

import numpy as np
import pytest

from gridgis.dispatch.eta import StraightLineEta
from gridgis.roads.model import RoadEta
from gridgis.roads.plan import road_reach
from tests.roads_data import helsinki_engine

BOX = (24.936, 60.165, 24.953, 60.178)


@pytest.fixture(scope="module")
def model() -> RoadEta:
    engine = helsinki_engine()
    return RoadEta(engine, StraightLineEta(), max_snap_m=120.0)


@pytest.mark.parametrize("target_s", [75.0, 120.0, 300.0])
def test_road_reach_equals_pricing_every_pair(model: RoadEta, target_s: float) -> None:
    rng = np.random.default_rng(int(target_s))
    # A margin around the extract: some cells and sites stand beyond the snapping limit.
    cell_lon = rng.uniform(BOX[0] - 0.008, BOX[2] + 0.008, 160)
    cell_lat = rng.uniform(BOX[1] - 0.004, BOX[3] + 0.004, 160)
    urban = rng.uniform(0, 1, 160) < 0.6
    site_lon = rng.uniform(BOX[0] - 0.004, BOX[2] + 0.004, 25)
    site_lat = rng.uniform(BOX[1] - 0.002, BOX[3] + 0.002, 25)
    reach = road_reach(model, cell_lon, cell_lat, urban, site_lon, site_lat, target_s).toarray()
    expected = np.zeros_like(reach)
    by_road = 0
    for i in range(len(cell_lon)):
        setting = "urban" if urban[i] else "rural"
        priced = model.etas_to(cell_lon[i], cell_lat[i], site_lon, site_lat, setting)
        expected[i] = priced.eta_s <= target_s
        by_road += int(((priced.priced_by == "road_v1") & (priced.eta_s <= target_s)).sum())
    assert np.array_equal(reach, expected)
    assert by_road > 0 and 0 < expected.sum() < expected.size
