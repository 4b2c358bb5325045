"""A stored network is a pgRouting graph: pgr_dijkstraCost on the Helsinki import's road_edges
gives the in-process engine's travel times between node pairs, one-way streets included."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from gridgis.roads.engine import RoadEngine, load_engine
from gridgis.roads.networks import RoadImport, import_network
from gridgis.roads.pgrouting import available_version, dijkstra_costs, installed_version
from tests.roads_data import helsinki_pbf


def _unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture()
def pgrouting(conn: Connection) -> str:
    """The pgrouting extension, created inside the test's rolled-back transaction (the tests
    connect as the database owner, a superuser like the migrations' role)."""
    if available_version(conn) is None:
        _unavailable(
            "pgRouting is not installed on the server (apt-get install postgresql-pgrouting)"
        )
    savepoint = conn.begin_nested()
    try:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pgrouting"))
    except DBAPIError as exc:
        savepoint.rollback()
        _unavailable(f"CREATE EXTENSION pgrouting needs a superuser: {exc}")
    else:
        savepoint.commit()
    version = installed_version(conn)
    assert version is not None
    return version


def stored_network(conn: Connection, profile: str) -> tuple[int, RoadEngine, list[int]]:
    report = import_network(conn, helsinki_pbf(), RoadImport(profile=profile, force=True))
    network_id = int(report["network_id"])
    engine = load_engine(conn, network_id)
    # The engine numbers nodes in id order (load_engine reads them ORDER BY id).
    node_ids = [
        int(v)
        for v in conn.execute(
            text("SELECT id FROM road_nodes WHERE network_id = :n ORDER BY id"), {"n": network_id}
        ).scalars()
    ]
    assert len(node_ids) == engine.node_count
    return network_id, engine, node_ids


@pytest.mark.parametrize("profile", ["car", "foot"])
def test_pgr_dijkstra_cost_equals_the_engine(
    conn: Connection, pgrouting: str, profile: str
) -> None:
    assert pgrouting.startswith("3.")
    network_id, engine, node_ids = stored_network(conn, profile)
    rng = np.random.default_rng(5)
    sources = rng.choice(engine.node_count, size=15, replace=False).tolist()
    # And both ends of a few one-way edges: pgRouting must read reverse_cost -1 as "no way back".
    one_way = np.flatnonzero(~np.isfinite(engine.edge_reverse_cost))[:5]
    sources += engine.edge_source[one_way].tolist() + engine.edge_target[one_way].tolist()
    sources = sorted(set(sources))
    costs = dijkstra_costs(conn, network_id, [node_ids[i] for i in sources], node_ids)
    compared = unreachable = 0
    for i in sources:
        expected = engine.times_from_nodes([(i, 0.0)])
        for j in range(engine.node_count):
            found = costs.get((node_ids[i], node_ids[j]))
            if j == i:
                assert found is None  # pgRouting leaves a node's pair with itself out
            elif math.isfinite(expected[j]):
                assert found == pytest.approx(expected[j], rel=1e-9, abs=1e-9), (i, j)
                compared += 1
            else:
                assert found is None, (i, j)  # unreachable for both
                unreachable += 1
    assert compared > 10 * engine.node_count
    if profile == "car":
        assert len(one_way) == 5 and unreachable > 0  # an extract's cut-off one-way ends
        # Against a one-way edge the way back is longer than the edge (or impossible).
        e = int(one_way[0])
        s, t = node_ids[engine.edge_source[e]], node_ids[engine.edge_target[e]]
        assert costs[(s, t)] <= engine.edge_cost[e] + 1e-9
        assert costs.get((t, s), math.inf) > engine.edge_cost[e]
