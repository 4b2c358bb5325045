"""Road networks in PostGIS: staged from a real extract, checked, activated, rolled back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from shapely.geometry import box
from sqlalchemy import Connection, text

from gridgis.errors import Conflict, NotFound
from gridgis.roads.graph import edge_midpoints, read_graph
from gridgis.roads.networks import RoadImport, activate_network, import_network, list_networks
from gridgis.roads.speeds import load_speed_table, table_speed
from tests.roads_data import helsinki_pbf

# The part of Helsinki the extract covers (lon/lat), cut into a 3 x 3 set of "grids".
HELSINKI = (24.936, 60.165, 24.953, 60.178)


def helsinki_generation(conn: Connection, cells: int = 3, kind: str = "community") -> int:
    """An active boundary generation of square grids over the Helsinki extract (of one kind
    of grid, which sets the roads' setting: community is urban, village rural)."""
    generation = conn.execute(
        text("INSERT INTO generations (label, source) VALUES (:label, 'test') RETURNING id"),
        {"label": f"helsinki {kind} {cells}x{cells}"},
    ).scalar_one()
    x0, y0, x1, y1 = HELSINKI
    dx, dy = (x1 - x0) / cells, (y1 - y0) / cells
    for i in range(cells):
        for j in range(cells):
            square = box(x0 + i * dx, y0 + j * dy, x0 + (i + 1) * dx, y0 + (j + 1) * dy)
            area_id = conn.execute(
                text(
                    """
                    INSERT INTO areas (generation_id, code, name, level, kind, population, geom)
                    VALUES (:g, :code, :code, 'grid', :kind, 0,
                            ST_Multi(ST_GeomFromText(:wkt, 4326)))
                    RETURNING id
                    """
                ),
                {"g": generation, "code": f"H{i}{j}", "kind": kind, "wkt": square.wkt},
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO area_pieces (area_id, generation_id, geom) "
                    "VALUES (:a, :g, ST_GeomFromText(:wkt, 4326))"
                ),
                {"a": area_id, "g": generation, "wkt": square.wkt},
            )
    conn.execute(text("UPDATE generations SET active = false WHERE active"))
    conn.execute(text("UPDATE generations SET active = true WHERE id = :g"), {"g": generation})
    return int(generation)


def test_helsinki_does_not_overlap_zhangzhou_and_is_refused(conn: Connection) -> None:
    report = import_network(conn, helsinki_pbf(), RoadImport(profile="car"))
    assert report["checks"]["grids"] > 2000
    assert report["checks"]["grids_reached"] == 0
    assert any("does not overlap" in e for e in report["errors"])
    network = report["network_id"]
    with pytest.raises(Conflict, match="QA error"):
        activate_network(conn, network, actor="test")
    assert conn.execute(text("SELECT count(*) FROM road_networks WHERE active")).scalar() == 0
    outcome = activate_network(conn, network, actor="test", force=True)
    assert outcome == {"active": network, "previous": None, "changed": True}
    audit = conn.execute(
        text("SELECT after FROM audit_log WHERE action = 'road_network.activate' ORDER BY id DESC")
    ).first()
    assert audit is not None and audit[0]["forced_over_errors"] is True


def test_import_with_activate_stages_but_refuses_without_force(conn: Connection) -> None:
    report = import_network(conn, helsinki_pbf(), RoadImport(profile="car", activate=True))
    assert "activation" not in report and report["activation_refused"]
    assert [r["status"] for r in list_networks(conn)] == ["staged"]
    forced = import_network(
        conn, helsinki_pbf(), RoadImport(profile="car", activate=True, force=True, label="f")
    )
    assert forced["activation"]["changed"] is True


def test_stored_network_is_the_graph_in_pgrouting_columns(conn: Connection) -> None:
    graph = read_graph(helsinki_pbf(), "car")
    report = import_network(conn, helsinki_pbf(), RoadImport(profile="car"))
    n = report["network_id"]
    counts = conn.execute(
        text(
            """
            SELECT (SELECT count(*) FROM road_nodes WHERE network_id = :n),
                   (SELECT count(*) FROM road_edges WHERE network_id = :n),
                   (SELECT count(*) FROM road_edges WHERE network_id = :n AND reverse_cost < 0),
                   (SELECT sum(length_m) FROM road_edges WHERE network_id = :n)
            """
        ),
        {"n": n},
    ).one()
    assert counts[0] == graph.node_count and counts[1] == graph.edge_count
    assert counts[2] == int(graph.edge_oneway.sum())
    assert counts[3] == pytest.approx(float(graph.edge_length_m.sum()))
    # Every edge joins its own network's nodes at its geometry's ends, and x1..y2 say where.
    bad = conn.execute(
        text(
            """
            SELECT count(*) FROM road_edges e
            JOIN road_nodes s ON s.id = e.source JOIN road_nodes t ON t.id = e.target
            WHERE e.network_id = :n AND (
                s.network_id <> :n OR t.network_id <> :n
                OR NOT ST_Equals(ST_StartPoint(e.geom), s.geom)
                OR NOT ST_Equals(ST_EndPoint(e.geom), t.geom)
                OR e.x1 <> ST_X(s.geom) OR e.y2 <> ST_Y(t.geom)
                OR abs(e.cost - e.length_m / (e.speed_kmh / 3.6)) > 1e-9
                OR abs(e.length_m - ST_Length(e.geom::geography, true)) > 0.01 * e.length_m)
            """
        ),
        {"n": n},
    ).scalar()
    assert bad == 0
    # Outside every grid each edge is priced rural (or by its maxspeed).
    sources = dict(
        conn.execute(
            text(
                "SELECT speed_source, count(*) FROM road_edges WHERE network_id = :n "
                "GROUP BY speed_source"
            ),
            {"n": n},
        ).all()
    )
    assert set(sources) <= {"maxspeed", "table"} and sources["table"] > 0
    assert report["checks"]["urban_edges"] == 0


def test_network_over_the_city_activates_with_urban_speeds_and_rolls_back(
    conn: Connection,
) -> None:
    helsinki_generation(conn)
    first = import_network(conn, helsinki_pbf(), RoadImport(profile="car", activate=True))
    assert first["errors"] == [], first["errors"]
    assert first["checks"]["grid_share"] == 1.0
    assert first["checks"]["urban_edges"] > 0
    assert first["activation"]["changed"] is True
    # Edges whose middle lies in a (community) grid get the table's urban speed, others rural.
    graph = read_graph(helsinki_pbf(), "car")
    lons, lats = edge_midpoints(graph)
    table = load_speed_table()
    stored = conn.execute(
        text("SELECT speed_kmh, speed_source FROM road_edges WHERE network_id = :n ORDER BY id"),
        {"n": first["network_id"]},
    ).all()
    x0, y0, x1, y1 = HELSINKI
    priced = 0
    for i, (speed, source) in enumerate(stored):
        if source != "table":
            continue
        inside = x0 < lons[i] < x1 and y0 < lats[i] < y1
        assert speed == table_speed(table, "car", graph.edge_highway[i], urban=inside)
        priced += inside
    assert priced > 50
    second = import_network(
        conn, helsinki_pbf(), RoadImport(profile="foot", activate=True, label="walk")
    )
    assert second["activation"] == {
        "active": second["network_id"],
        "previous": first["network_id"],
        "changed": True,
    }
    rolled = activate_network(conn, first["network_id"], actor="test")
    assert rolled["previous"] == second["network_id"]
    statuses = {r["id"]: r["status"] for r in list_networks(conn)}
    assert statuses[first["network_id"]] == "active"
    assert statuses[second["network_id"]] == "retired"
    with pytest.raises(Conflict, match="exists already"):
        import_network(conn, helsinki_pbf(), RoadImport(profile="car", label="walk"))
    with pytest.raises(NotFound):
        activate_network(conn, 999_999, actor="test")


def test_partial_overlap_is_an_error(conn: Connection) -> None:
    generation = helsinki_generation(conn)
    # Grids far from any Helsinki road (in the sea south of the extract) dilute the share.
    far: list[dict[str, Any]] = []
    for k in range(20):
        square = box(24.90 + k * 0.004, 60.05, 24.903 + k * 0.004, 60.053)
        far.append({"g": generation, "code": f"S{k:02d}", "wkt": square.wkt})
    conn.execute(
        text(
            "INSERT INTO areas (generation_id, code, name, level, kind, population, geom) "
            "VALUES (:g, :code, :code, 'grid', 'village', 0, ST_Multi(ST_GeomFromText(:wkt, 4326)))"
        ),
        far,
    )
    report = import_network(conn, helsinki_pbf(), RoadImport(profile="car"))
    assert report["checks"]["grids"] == 29 and report["checks"]["grids_reached"] == 9
    assert any("covers too little" in e for e in report["errors"])
    stored = conn.execute(
        text("SELECT report FROM road_networks WHERE id = :n"), {"n": report["network_id"]}
    ).scalar_one()
    assert json.loads(json.dumps(stored))["errors"] == report["errors"]


def test_engine_loaded_from_the_database_routes_like_the_graph(conn: Connection) -> None:
    import numpy as np

    from gridgis.roads.engine import engine_from_graph, load_engine
    from gridgis.roads.graph import edge_speeds

    report = import_network(conn, helsinki_pbf(), RoadImport(profile="car"))
    stored = load_engine(conn, report["network_id"])
    graph = read_graph(helsinki_pbf(), "car")
    speeds = edge_speeds(graph, load_speed_table(), np.zeros(graph.edge_count, dtype=np.bool_))
    memory = engine_from_graph(
        graph, speeds.travel_time_s(graph.edge_length_m), float(speeds.speed_kmh.max())
    )
    assert stored.top_speed_kmh == memory.top_speed_kmh
    rng = np.random.default_rng(5)
    lons, lats = rng.uniform(24.936, 24.953, 30), rng.uniform(60.165, 60.178, 30)
    a, b = stored.snap(lons, lats, 500.0), memory.snap(lons, lats, 500.0)
    assert (a.edge == b.edge).all() and np.allclose(a.fraction, b.fraction)
    assert np.allclose(stored.travel_s(a, a), memory.travel_s(b, b))
    with pytest.raises(NotFound):
        load_engine(conn, 999_999)


def test_the_import_runs_under_its_own_statement_timeout(conn: Connection) -> None:
    before = conn.execute(text("SHOW statement_timeout")).scalar_one()
    import_network(conn, helsinki_pbf(), RoadImport(profile="car", statement_timeout_ms=123_000))
    assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "123s" != before
