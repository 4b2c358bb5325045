"""The modelled demo road network: reproducible, read by the regular import, passes its QA over
the demo city, activates without force, and routes between county seats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from sqlalchemy import Connection

from gridgis.demo import counties as cty
from gridgis.demo.roads import GENERATOR, RIVER, ModelledRoads, generate_roads, write_pbf
from gridgis.dispatch.eta import geodesic_m
from gridgis.roads.engine import load_engine
from gridgis.roads.networks import RoadImport, import_network

# Coarser than the default (150 m streets, 600 m rural roads) so the import stays quick.
SPACING_M = 400.0
RURAL_EVERY = 2


@pytest.fixture(scope="module")
def roads() -> ModelledRoads:
    return generate_roads(2080, spacing_m=SPACING_M, rural_every=RURAL_EVERY)


@pytest.fixture(scope="module")
def network_file(roads: ModelledRoads, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pbf(roads, tmp_path_factory.mktemp("roads") / "demo.osm.pbf")


def test_same_seed_same_network_and_labelled_modelled(
    roads: ModelledRoads, network_file: Path
) -> None:
    import osmium

    again = generate_roads(2080, spacing_m=SPACING_M, rural_every=RURAL_EVERY)
    other = generate_roads(7, spacing_m=SPACING_M, rural_every=RURAL_EVERY)
    assert np.array_equal(roads.lon, again.lon) and roads.highway == again.highway
    assert np.array_equal(roads.way_from, again.way_from)
    assert not np.array_equal(roads.lon, other.lon)
    # The modelled river is crossed at a few bridges only.
    river = shapely.LineString(RIVER)
    links = shapely.linestrings(
        np.stack(
            [
                np.column_stack([roads.lon[roads.way_from], roads.lat[roads.way_from]]),
                np.column_stack([roads.lon[roads.way_to], roads.lat[roads.way_to]]),
            ],
            axis=1,
        )
    )
    bridges = int(shapely.intersects(links, river).sum())
    assert 5 <= bridges <= 0.002 * roads.way_count
    reader = osmium.io.Reader(str(network_file))
    try:
        assert reader.header().get("generator") == GENERATOR
    finally:
        reader.close()
    tags = {
        tag
        for way in osmium.FileProcessor(str(network_file), osmium.osm.WAY)
        for tag in way.tags.get("gridgis:modelled", "").split()
    }
    assert tags == {"yes"}


def test_imports_passes_qa_activates_and_routes(conn: Connection, network_file: Path) -> None:
    report = import_network(conn, network_file, RoadImport(profile="car", activate=True))
    checks = report["checks"]
    assert report["errors"] == [] and report["activation"]["active"] == report["network_id"]
    assert checks["grids"] == 2080 and checks["grid_share"] >= 0.95
    assert checks["largest_component_share"] >= 0.95
    assert checks["dead_end_share"] <= 0.1
    assert checks["edges_without_speed"] == 0
    assert checks["one_way_edges"] > 0 and checks["edges_with_maxspeed"] > 0
    assert checks["urban_edges"] > 0.3 * checks["edges"]
    assert report["warnings"] == []

    engine = load_engine(conn, report["network_id"])
    highways = set(engine.edge_highway)
    assert {"trunk", "primary", "tertiary", "residential", "unclassified"} <= highways
    seats = cty.load_seats()
    seats = seats.loc[seats.groupby(seats["code"].astype(str).str[:6])["code"].idxmin()]
    lon, lat = seats["lon"].to_numpy(), seats["lat"].to_numpy()
    snapped = engine.snap(lon, lat, 1000.0)
    assert snapped.joined.all()
    seconds = engine.travel_s(snapped, snapped)
    assert np.isfinite(seconds).all()
    # No route beats the straight line at the network's top speed, and none is absurdly long.
    for j in range(len(lon)):
        metres = geodesic_m(float(lon[j]), float(lat[j]), lon, lat)
        assert (seconds[:, j] * engine.top_speed_ms >= 0.9 * metres - 2000).all()
        assert (seconds[:, j] <= 4 * 3600).all()
