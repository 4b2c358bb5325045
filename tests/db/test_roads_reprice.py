"""Repricing a stored network when the boundaries change: an edge's table speed follows the
setting (urban / rural) of the grid it lies in, so a new generation calls for a new pricing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text

from gridgis.errors import NotFound
from gridgis.roads.networks import (
    RoadImport,
    import_network,
    list_networks,
    pricing_notice,
    reprice_network,
)
from gridgis.roads.speeds import load_speed_table, table_rows, table_speed
from tests.db.test_roads_networks import helsinki_generation
from tests.roads_data import helsinki_pbf

# Everything an edge is, but its id, network and node ids: (source osm id, target osm id,
# way, class, one-way, length, geometry) -> (speed, speed source, cost, reverse cost).
_EDGES = text(
    """
    SELECT s.osm_id, t.osm_id, e.osm_way_id, e.highway, e.oneway, e.length_m,
           ST_AsText(e.geom), e.speed_kmh, e.speed_source, e.cost, e.reverse_cost
    FROM road_edges e
    JOIN road_nodes s ON s.id = e.source
    JOIN road_nodes t ON t.id = e.target
    WHERE e.network_id = :n ORDER BY e.id
    """
)


def edges(conn: Connection, network_id: int) -> list[Any]:
    return list(conn.execute(_EDGES, {"n": network_id}))


def nodes(conn: Connection, network_id: int) -> list[Any]:
    return list(
        conn.execute(
            text(
                "SELECT osm_id, ST_AsText(geom) FROM road_nodes WHERE network_id = :n ORDER BY id"
            ),
            {"n": network_id},
        )
    )


def test_a_network_keeps_what_priced_it(conn: Connection) -> None:
    generation = helsinki_generation(conn)
    report = import_network(conn, helsinki_pbf(), RoadImport(profile="car", activate=True))
    assert report["priced_with_generation"] == generation
    assert report["speed_table"] == table_rows(load_speed_table())
    [listed] = list_networks(conn)
    assert listed["pricing"] == "current" and listed["priced_with_generation"] == generation
    assert pricing_notice(conn) is None


def test_repricing_under_the_same_boundaries_changes_nothing(conn: Connection) -> None:
    helsinki_generation(conn)
    first = import_network(conn, helsinki_pbf(), RoadImport(profile="car"))
    copy = reprice_network(conn, first["network_id"], RoadImport())
    assert copy["repriced_from"] == first["network_id"]
    assert copy["network_id"] != first["network_id"]
    assert edges(conn, copy["network_id"]) == edges(conn, first["network_id"])
    assert nodes(conn, copy["network_id"]) == nodes(conn, first["network_id"])
    assert copy["checks"] == first["checks"]
    assert copy["profile"] == "car"


def test_new_boundaries_make_a_network_stale_and_repricing_follows_them(
    conn: Connection,
) -> None:
    urban = helsinki_generation(conn, kind="community")
    first = import_network(conn, helsinki_pbf(), RoadImport(profile="car", activate=True))
    assert first["checks"]["urban_edges"] > 50
    rural = helsinki_generation(conn, kind="village")
    [listed] = list_networks(conn)
    assert listed["pricing"] == "stale" and listed["priced_with_generation"] == urban
    notice = pricing_notice(conn)
    assert notice is not None
    assert f"network {first['network_id']}" in notice and f"generation {rural}" in notice

    copy = reprice_network(conn, None, RoadImport(activate=True))
    assert copy["repriced_from"] == first["network_id"]
    assert copy["priced_with_generation"] == rural
    assert copy["activation"] == {
        "active": copy["network_id"],
        "previous": first["network_id"],
        "changed": True,
    }
    assert copy["checks"]["urban_edges"] == 0
    assert copy["label"] == f"{first['label']} repriced on generation {rural}"
    table = load_speed_table()
    before, after = edges(conn, first["network_id"]), edges(conn, copy["network_id"])
    assert len(before) == len(after)
    changed = 0
    for old, new in zip(before, after, strict=True):
        assert new[:7] == old[:7]  # the same edge
        speed, source, cost, reverse = new[7:]
        assert source == old[8]
        if source == "maxspeed":
            assert speed == old[7]
        elif source == "table":
            assert speed == table_speed(table, "car", new[3], urban=False)
            changed += speed != old[7]
        assert cost == pytest.approx(new[5] / (speed / 3.6))
        assert reverse == (-1.0 if new[4] else cost)
    assert changed > 50
    assert pricing_notice(conn) is None
    statuses = {r["id"]: r["pricing"] for r in list_networks(conn)}
    assert statuses == {first["network_id"]: "stale", copy["network_id"]: "current"}


def test_repricing_keeps_the_speed_table_the_network_was_priced_with(
    conn: Connection, tmp_path: Path
) -> None:
    speeds = tmp_path / "speeds.csv"
    speeds.write_text("profile,highway,urban_kmh,rural_kmh,source\ncar,service,17,13,city survey\n")
    helsinki_generation(conn, kind="community")
    first = import_network(
        conn, helsinki_pbf(), RoadImport(profile="car", speeds_file=speeds, activate=True)
    )
    helsinki_generation(conn, kind="village")
    copy = reprice_network(conn, first["network_id"], RoadImport())
    service = {(e[8], e[7]) for e in edges(conn, copy["network_id"]) if e[3] == "service"}
    assert ("table", 13.0) in service
    assert {speed for source, speed in service if source == "table"} == {13.0}
    # A speeds file given to the repricing goes over the kept table.
    faster = tmp_path / "faster.csv"
    faster.write_text("profile,highway,urban_kmh,rural_kmh,source\ncar,service,40,31,test\n")
    again = reprice_network(conn, first["network_id"], RoadImport(speeds_file=faster, label="f"))
    repriced = edges(conn, again["network_id"])
    assert {e[7] for e in repriced if e[3] == "service" and e[8] == "table"} == {31.0}


def test_a_network_that_does_not_say_what_priced_it(conn: Connection) -> None:
    helsinki_generation(conn)
    first = import_network(conn, helsinki_pbf(), RoadImport(profile="car", activate=True))
    conn.execute(
        text(
            "UPDATE road_networks SET report = report - 'speed_table' - 'priced_with_generation' "
            "WHERE id = :n"
        ),
        {"n": first["network_id"]},
    )
    [listed] = list_networks(conn)
    assert listed["pricing"] == "unknown"
    assert "an unrecorded generation" in (pricing_notice(conn) or "")
    copy = reprice_network(conn, first["network_id"], RoadImport())
    assert "does not keep the speed table" in copy["speed_table_note"]
    assert edges(conn, copy["network_id"]) == edges(conn, first["network_id"])


def test_repricing_what_does_not_exist(conn: Connection) -> None:
    with pytest.raises(NotFound, match="999999"):
        reprice_network(conn, 999_999, RoadImport())
    conn.execute(text("UPDATE road_networks SET active = false"))
    with pytest.raises(NotFound, match="No road network is active"):
        reprice_network(conn, None, RoadImport())


def test_the_reach_check_of_a_new_network_reads_by_place(conn: Connection) -> None:
    """A network's rows are checked right after they are written, before any statistics: the
    reach check must find each grid's roads through the geometry index, not read the whole
    network once per grid (minutes for a city's 200,000 edges)."""
    from gridgis.roads import sql as roads_sql

    generation = helsinki_generation(conn)
    first = import_network(conn, helsinki_pbf(), RoadImport(profile="car"))
    # Statistics that know the first network and not the second, as after any import.
    conn.execute(text("ANALYZE road_edges"))
    second = reprice_network(conn, first["network_id"], RoadImport())
    plan = conn.execute(
        text(f"EXPLAIN (FORMAT JSON) {roads_sql._GRID_REACH.text}"),
        {"n": second["network_id"], "reach_m": 500.0, "deg": 0.01, "generation": generation},
    ).scalar_one()
    indexes = set()

    def walk(node: dict[str, Any]) -> None:
        if "Index Name" in node:
            indexes.add(node["Index Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    assert "ix_road_edges_geom" in indexes and "ix_road_edges_network" not in indexes, indexes
