"""Coverage by road at city scale: the same full-city run at H3 res 9 priced by the straight
line and by road (`road_v1`), in the same process on the same data.

    .venv/bin/python -m benchmarks.bench_road_coverage [--volunteers 300000] [--k 1 3]

Loads the demo with the requested volunteer force into the benchmark database
(GRIDGIS_BENCH_DATABASE; everyone placed at home), and, when no road network is active
there, generates the MODELLED demo road network (`gridgis demo roads`: not OpenStreetMap
data), imports it through the regular path and activates it (its QA must pass). Then, for
each k, runs the whole coverage run (fetch, compute, store; rolled back) with each model,
`--repeat` times after one warm-up, and prints the road / straight-line ratio of the best
whole run and of the compute (target <= 3x), the share of people within the target under
each model, and where the road run's time goes (the snapping is the engine's).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from benchmarks.common import bench_database_url, machine_summary, prepare_scale_data
from gridgis.coverage import sql as coverage_sql
from gridgis.coverage.runs import CoverageRequest, run_coverage
from gridgis.db.engine import make_engine
from gridgis.dispatch.eta import eta_model_from_settings
from gridgis.roads import sql as roads_sql
from gridgis.roads.engine import load_engine
from gridgis.roads.model import RoadEta
from gridgis.settings import get_settings

RESOLUTION = 9


def ensure_network(conn, seed: int) -> int:  # type: ignore[no-untyped-def]
    """The active network; the modelled demo network imported and activated when none is."""
    active = roads_sql.active_network_id(conn)
    if active is not None:
        return int(active)
    from gridgis.demo.roads import generate_roads, write_pbf
    from gridgis.roads.networks import RoadImport, import_network

    with tempfile.TemporaryDirectory() as folder:
        path = write_pbf(generate_roads(seed), Path(folder) / "demo-roads.osm.pbf")
        started = time.perf_counter()
        report = import_network(
            conn, path, RoadImport(label=f"modelled demo roads (seed {seed})", activate=True)
        )
        conn.commit()
    if report["errors"]:
        raise SystemExit(f"the modelled network failed its QA: {report['errors']}")
    checks = report["checks"]
    print(
        f"imported the modelled network in {time.perf_counter() - started:.1f} s: "
        f"{checks['nodes']:,} nodes, {checks['edges']:,} edges, "
        f"{checks['grids_reached']}/{checks['grids']} grids near a road"
    )
    return int(report["network_id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--volunteers", type=int, default=300_000)
    parser.add_argument("--k", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2080, help="seed of the modelled network")
    args = parser.parse_args()

    settings = get_settings()
    url = bench_database_url(settings)
    totals = prepare_scale_data(url, args.volunteers)
    straight = eta_model_from_settings(settings)
    engine = make_engine(settings, url=url, pool_size=1, bulk=True)
    print(f"machine: {machine_summary()}")
    print("responders: " + ", ".join(f"{role} {n:,}" for role, n in totals.items()))
    with engine.connect() as conn:
        network_id = ensure_network(conn, args.seed)
        started = time.perf_counter()
        road_engine = load_engine(conn, network_id)
        loaded = time.perf_counter() - started
        road = RoadEta(road_engine, straight, max_snap_m=settings.road_max_snap_m)
        print(
            f"network {network_id}: {road_engine.node_count:,} nodes, "
            f"{road_engine.edge_count:,} edges, top speed {road_engine.top_speed_kmh:g} km/h; "
            f"loaded in {loaded:.1f} s (once per worker)"
        )
        rows: list[
            tuple[int, str, float, float, dict[str, float], tuple[float, float, float], int]
        ] = []
        for k in args.k:
            for name, model in (("straight_line", straight), ("road", road)):
                whole: list[float] = []
                phases: list[dict[str, float]] = []
                share = (0.0, 0.0, 0.0)
                for _ in range(args.repeat + 1):  # the first builds the caches
                    begun = time.perf_counter()
                    run = run_coverage(conn, model, CoverageRequest(resolution=RESOLUTION, k=k))
                    whole.append(time.perf_counter() - begun)
                    phases.append(run.summary["timings_s"])
                    share = (
                        float(run.summary["population_share_within_target"]),
                        float(run.summary["eta_mean_s"] or np.inf),
                        float(run.summary["eta_p90_s"] or np.inf),
                    )
                    cells = int(run.cell_count)
                    conn.rollback()
                best = 1 + int(np.argmin(whole[1:]))
                rows.append((k, name, whole[0], whole[best], phases[best], share, cells))
                print(
                    f"  k={k} {name}: runs {', '.join(f'{s:.2f}' for s in whole)} s",
                    flush=True,
                )
        # Where a road run's time goes: the snapping of the responders is the engine's.
        lon, lat = coverage_sql.placed_positions(
            conn,
            roles=None,
            statuses=("available",),
            fresh_since=datetime.now(UTC) - timedelta(seconds=settings.stale_after_s),
        )
        conn.rollback()
        begun = time.perf_counter()
        joined = road_engine.snap(lon, lat, road.max_snap_m).joined
        snap_s = time.perf_counter() - begun
    engine.dispose()

    print()
    print(
        f"city: {rows[0][6]:,} H3 cells at res {RESOLUTION}, {len(lon):,} responders counted "
        f"({int(joined.sum()):,} within {road.max_snap_m:g} m of a road), "
        f"target {straight.target_s:g} s"
    )
    header = (
        f"{'k':>2} {'model':<14}{'cold s':>8}{'best s':>8}{'fetch':>7}{'compute':>9}"
        f"{'store':>7}{'people within':>15}{'ETA mean':>10}{'ETA p90':>9}"
    )
    print(header)
    for k, name, cold, best, phase, share, _ in rows:
        print(
            f"{k:>2} {name:<14}{cold:>8.2f}{best:>8.2f}{phase['fetch']:>7.2f}"
            f"{phase['compute']:>9.2f}{phase['store']:>7.2f}{share[0]:>15.4%}"
            f"{share[1]:>9.1f}s{share[2]:>8.1f}s"
        )
    for k in args.k:
        line = {name: (best, phase) for kk, name, _, best, phase, _, _ in rows if kk == k}
        whole_ratio = line["road"][0] / line["straight_line"][0]
        compute_ratio = line["road"][1]["compute"] / line["straight_line"][1]["compute"]
        print(
            f"k={k}: road / straight line = {whole_ratio:.1f}x whole run, "
            f"{compute_ratio:.1f}x compute (target <= 3x)"
        )
    print(f"snapping the responders alone (the engine's, every run): {snap_s:.2f} s")


if __name__ == "__main__":
    main()
