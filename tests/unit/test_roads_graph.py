"""Reading a real OSM extract into a routable graph: profiles, splitting, lengths, speeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pyproj import Geod

from gridgis.errors import InvalidInput
from gridgis.roads.graph import _split_ways, edge_speeds, read_graph
from gridgis.roads.profiles import way_access
from gridgis.roads.speeds import load_speed_table, parse_maxspeed, table_speed
from tests.roads_data import helsinki_pbf


@pytest.fixture(scope="module")
def car_graph():  # type: ignore[no-untyped-def]
    return read_graph(helsinki_pbf(), "car")


def test_profiles_follow_access_and_oneway_tags() -> None:
    assert way_access("car", {"highway": "residential"}).direction == 0  # type: ignore[union-attr]
    assert way_access("car", {"highway": "residential", "oneway": "yes"}).direction == 1  # type: ignore[union-attr]
    assert way_access("car", {"highway": "residential", "oneway": "-1"}).direction == -1  # type: ignore[union-attr]
    assert way_access("car", {"highway": "motorway"}).direction == 1  # type: ignore[union-attr]
    assert way_access("car", {"highway": "motorway", "oneway": "no"}).direction == 0  # type: ignore[union-attr]
    assert way_access("car", {"highway": "primary", "junction": "roundabout"}).direction == 1  # type: ignore[union-attr]
    assert way_access("car", {"highway": "footway"}) is None
    assert way_access("car", {"highway": "service", "access": "private"}) is None
    assert way_access("car", {"highway": "service", "access": "no", "motorcar": "yes"}) is not None
    assert way_access("car", {"highway": "residential", "motor_vehicle": "no"}) is None
    assert way_access("motorcycle", {"highway": "residential", "motorcar": "no"}) is not None
    walk = way_access("foot", {"highway": "residential", "oneway": "yes"})
    assert walk is not None and walk.direction == 0
    assert way_access("foot", {"highway": "motorway"}) is None
    assert way_access("foot", {"highway": "footway", "foot": "no"}) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("50", 50.0),
        ("30 mph", 30 * 1.609344),
        ("50;30", 30.0),
        ("RU:urban", 50.0),
        ("walk", 5.0),
        ("none", None),
        ("signals", None),
        ("0", None),
        ("fast", None),
        (None, None),
    ],
)
def test_maxspeed_parsing(value: str | None, expected: float | None) -> None:
    assert parse_maxspeed(value) == (pytest.approx(expected) if expected else None)


def test_speed_table_has_a_source_for_every_row_and_an_override_wins(tmp_path: Path) -> None:
    table = load_speed_table()
    assert all(row.source for row in table.values())
    assert table_speed(table, "car", "primary", urban=True) == 35.0
    assert table_speed(table, "car", "primary", urban=False) == 65.0
    assert table_speed(table, "foot", "steps", urban=True) == 5.0  # the '*' row
    assert table_speed(table, "car", "busway", urban=True) is None
    override = tmp_path / "speeds.csv"
    override.write_text("profile,highway,urban_kmh,rural_kmh,source\ncar,primary,22,44,survey\n")
    table = load_speed_table(override)
    assert table_speed(table, "car", "primary", urban=True) == 22.0
    assert table_speed(table, "car", "secondary", urban=True) == 30.0
    override.write_text("profile,highway,urban_kmh,source\ncar,primary,22,survey\n")
    with pytest.raises(InvalidInput, match="rural_kmh"):
        load_speed_table(override)
    override.write_text("profile,highway,urban_kmh,rural_kmh,source\ncar,primary,0,44,x\n")
    with pytest.raises(InvalidInput, match="speeds must be"):
        load_speed_table(override)


def test_helsinki_car_graph_is_split_at_intersections(car_graph) -> None:  # type: ignore[no-untyped-def]
    g = car_graph
    assert g.edge_count > 500 and g.node_count > 500
    assert set(g.edge_highway) <= {
        "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
        "secondary", "secondary_link", "tertiary", "tertiary_link", "unclassified",
        "residential", "living_street", "service", "road",
    }  # fmt: skip
    # Each edge starts and ends at its nodes, and no graph node lies inside an edge.
    node_points = {(x, y) for x, y in zip(g.node_lon, g.node_lat, strict=True)}
    for e in range(g.edge_count):
        c = g.edge_coords(e)
        assert (c[0, 0], c[0, 1]) == (g.node_lon[g.edge_source[e]], g.node_lat[g.edge_source[e]])
        assert (c[-1, 0], c[-1, 1]) == (g.node_lon[g.edge_target[e]], g.node_lat[g.edge_target[e]])
        assert not any((x, y) in node_points for x, y in c[1:-1])
    assert (g.edge_source != g.edge_target).all()


def test_edge_lengths_are_geodesic(car_graph) -> None:  # type: ignore[no-untyped-def]
    geod = Geod(ellps="WGS84")
    for e in range(0, car_graph.edge_count, 7):
        c = car_graph.edge_coords(e)
        assert car_graph.edge_length_m[e] == pytest.approx(
            geod.line_length(c[:, 0], c[:, 1]), rel=1e-9, abs=1e-6
        )
    assert (car_graph.edge_length_m > 0).all()


def test_one_way_ways_keep_their_direction(car_graph) -> None:  # type: ignore[no-untyped-def]
    import osmium

    direction: dict[int, tuple[str, ...]] = {}
    for way in osmium.FileProcessor(str(helsinki_pbf()), osmium.osm.WAY):
        if way.tags.get("oneway") in ("yes", "-1"):
            direction[way.id] = tuple(str(n.ref) for n in way.nodes)
    tagged = {w for w in direction if w in set(car_graph.edge_way_id.tolist())}
    assert tagged, "the extract has one-way streets"
    assert all(car_graph.edge_oneway[car_graph.edge_way_id == w].all() for w in tagged)


def test_reverse_one_way_is_flipped_and_missing_locations_cut_the_way() -> None:
    a, b, c, d = (1, 24.0, 60.0), (2, 24.001, 60.0), (3, 24.002, 60.0), (4, 24.003, 60.0)
    g = _split_ways(
        "car",
        [
            (10, "residential", -1, np.nan, [a, b, c]),  # drawn against its one-way direction
            (11, "residential", 0, 40.0, [b, None, d]),  # cut by the extract's edge
        ],
        2,
    )
    # Way 10 splits at b (shared with way 11); both pieces run c -> b -> a.
    osm = g.node_osm_id
    pieces = [(int(osm[s]), int(osm[t])) for s, t in zip(g.edge_source, g.edge_target, strict=True)]
    assert pieces == [(3, 2), (2, 1)]
    assert g.edge_oneway.tolist() == [True, True]


def test_maxspeed_wins_over_the_table(car_graph) -> None:  # type: ignore[no-untyped-def]
    table = load_speed_table()
    urban = np.ones(car_graph.edge_count, dtype=np.bool_)
    speeds = edge_speeds(car_graph, table, urban)
    tagged = ~np.isnan(car_graph.edge_maxspeed_kmh)
    assert tagged.any() and (~tagged).any()
    assert (speeds.speed_kmh[tagged] == car_graph.edge_maxspeed_kmh[tagged]).all()
    assert {speeds.source[i] for i in np.flatnonzero(tagged)} == {"maxspeed"}
    for i in np.flatnonzero(~tagged)[:50]:
        assert speeds.speed_kmh[i] == table_speed(table, "car", car_graph.edge_highway[i], True)
    rural = edge_speeds(car_graph, table, ~urban)
    assert (rural.speed_kmh[~tagged] >= speeds.speed_kmh[~tagged]).all()


def test_bad_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        read_graph(tmp_path / "missing.osm.pbf", "car")
    junk = tmp_path / "junk.osm.pbf"
    junk.write_bytes(b"not a pbf at all")
    with pytest.raises(InvalidInput, match="not a readable OSM file"):
        read_graph(junk, "car")
    with pytest.raises(InvalidInput, match="profile"):
        read_graph(helsinki_pbf(), "bus")  # type: ignore[arg-type]
