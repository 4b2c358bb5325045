"""Coverage benchmark: a full-city run at H3 res 9 beside a bare cKDTree floor and per-cell KNN
in PostGIS, all measured in the same process on the same data.

    .venv/bin/python -m benchmarks.bench_coverage [--volunteers 300000] [--sample 300]

Loads the demo with the requested volunteer force into gridgis_bench (positions cleared, so
everyone is placed at home), then measures
- the whole run (fetch, compute, store) with the cell set built cold and then cached;
- the compute alone (KD-tree ETAs, counts, population, per-area aggregation);
- the floor: scipy cKDTree on the same projected points doing only what the answer needs
  (build, k nearest, count within the target radius);
- per-cell KNN in PostGIS (LATERAL ... ORDER BY geom <-> cell LIMIT k plus a radius count)
  on a random sample of cells, extrapolated to every cell.
Targets: whole run <= 10 s; compute <= 3x the floor. Every run is rolled back.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

import numpy as np
from scipy.spatial import cKDTree
from sqlalchemy import text

from benchmarks.common import bench_database_url, machine_summary, prepare_scale_data
from gridgis.boundaries import sql as boundaries_sql
from gridgis.coverage import sql as coverage_sql
from gridgis.coverage.cells import cell_set, grids_from_rows
from gridgis.coverage.compute import (
    area_statistics,
    cell_etas,
    hierarchy_from_rows,
    responder_cells,
    responder_tree,
)
from gridgis.coverage.runs import CoverageRequest, run_coverage
from gridgis.crs import to_metric
from gridgis.db.engine import make_engine
from gridgis.dispatch.eta import eta_model_from_settings
from gridgis.settings import get_settings

RESOLUTION = 9
K = 1

# The naive baseline: one indexed KNN probe and one indexed radius count per cell.
_PER_CELL_KNN = text(
    """
    SELECT c.i, nn.d AS nearest_m, cnt.n AS within
    FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[]), CAST(:radii AS float8[]))
         WITH ORDINALITY AS c(lon, lat, radius, i)
    CROSS JOIN LATERAL (
        SELECT ST_Distance(r.home::geography,
                           ST_SetSRID(ST_MakePoint(c.lon, c.lat), 4326)::geography) AS d
        FROM responders r
        WHERE r.status = 'available'
        ORDER BY r.home <-> ST_SetSRID(ST_MakePoint(c.lon, c.lat), 4326)
        LIMIT :k
    ) nn
    CROSS JOIN LATERAL (
        SELECT count(*) AS n FROM responders r
        WHERE r.status = 'available'
          AND ST_DWithin(r.home, ST_SetSRID(ST_MakePoint(c.lon, c.lat), 4326), c.radius / 100000.0)
          AND ST_DWithin(r.home::geography,
                         ST_SetSRID(ST_MakePoint(c.lon, c.lat), 4326)::geography, c.radius)
    ) cnt
    """
)


def _best(times: list[float]) -> float:
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--volunteers", type=int, default=300_000)
    parser.add_argument("--sample", type=int, default=300, help="cells for the PostGIS baseline")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    settings = get_settings()
    url = bench_database_url(settings)
    totals = prepare_scale_data(url, args.volunteers)
    model = eta_model_from_settings(settings)
    engine = make_engine(settings, url=url, pool_size=1, bulk=True)
    print(f"machine: {machine_summary()}")
    print("responders: " + ", ".join(f"{role} {n:,}" for role, n in totals.items()))

    with engine.connect() as conn:
        # -- whole runs (stored, then rolled back) ---------------------------------------------
        whole: list[float] = []
        phases: list[dict[str, float]] = []
        for attempt in range(args.repeat + 1):
            started = time.perf_counter()
            run = run_coverage(conn, model, CoverageRequest(resolution=RESOLUTION, k=K))
            whole.append(time.perf_counter() - started)
            phases.append(run.summary["timings_s"])
            conn.rollback()
            if attempt == 0:
                cells_count = run.cell_count
                counted = run.summary["responders_counted"]
                share = run.summary["population_share_within_target"]

        # -- compute alone, on the inputs a run fetches -------------------------------------------
        generation_id = boundaries_sql.active_generation_id(conn)
        rows = coverage_sql.generation_areas(conn, generation_id)
        lon, lat = coverage_sql.placed_positions(
            conn,
            roles=None,
            statuses=("available",),
            fresh_since=datetime.now(UTC) - timedelta(seconds=settings.stale_after_s),
        )
        grids = grids_from_rows(rows)
        hierarchy = hierarchy_from_rows(rows, grids)
        cells = cell_set(grids, RESOLUTION)
        compute: list[float] = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            tree = responder_tree(lon, lat)
            etas = cell_etas(
                cells, grids.urban[cells.grid], tree, model, target_s=model.target_s, k=K
            )
            population = cells.populations(grids)
            area_statistics(
                cells,
                grids,
                hierarchy,
                etas,
                population,
                responder_cells(lon, lat, RESOLUTION),
                k=K,
            )
            compute.append(time.perf_counter() - started)

        # -- the floor: the bare KD-tree work on the same projected points ----------------------
        px, py = to_metric(lon, lat)
        points = np.column_stack([px, py])
        centres = np.column_stack([cells.x, cells.y])
        urban = grids.urban[cells.grid]
        radii = np.where(
            urban,
            model.max_distance_m(model.target_s, "urban"),
            model.max_distance_m(model.target_s, "rural"),
        )
        knn_only: list[float] = []
        knn_count: list[float] = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            bare = cKDTree(points)
            bare.query(centres, k=K, workers=-1)
            knn_only.append(time.perf_counter() - started)
            bare.query_ball_point(centres, r=radii, return_length=True, workers=-1)
            knn_count.append(time.perf_counter() - started)

        # -- per-cell KNN in PostGIS, on a sample, extrapolated --------------------------------
        rng = np.random.default_rng(7)
        pick = rng.choice(len(cells), size=min(args.sample, len(cells)), replace=False)
        started = time.perf_counter()
        answer = conn.execute(
            _PER_CELL_KNN,
            {
                "lons": cells.lon[pick].tolist(),
                "lats": cells.lat[pick].tolist(),
                "radii": radii[pick].tolist(),
                "k": K,
            },
        ).all()
        per_cell_s = (time.perf_counter() - started) / len(pick)
        conn.rollback()
        # The baseline must answer the same question: compare with the run's counts.
        same = sum(
            int(row.within) == int(etas.within_target[pick[int(row.i) - 1]]) for row in answer
        )

    engine.dispose()
    extrapolated = per_cell_s * len(cells)
    cold, warm = whole[0], _best(whole[1:])
    warm_phases = phases[1 + int(np.argmin(whole[1:]))]
    floor_knn, floor_full = _best(knn_only), _best(knn_count)
    best_compute = _best(compute)
    print(
        f"city: {cells_count:,} H3 cells at res {RESOLUTION}, {counted:,} responders counted, "
        f"{share:.1%} of people within {model.target_s:g} s (k={K})"
    )
    print(f"{'measure':<52}{'seconds':>10}{'ratio':>10}")
    lines = [
        ("whole run, cold (cell set built)", cold, cold / 10.0, " of the 10 s target"),
        ("whole run, warm (cell set cached)", warm, warm / 10.0, " of the 10 s target"),
        ("  fetch", warm_phases["fetch"], None, ""),
        ("  compute", warm_phases["compute"], None, ""),
        ("  store (COPY)", warm_phases["store"], None, ""),
        ("compute alone", best_compute, best_compute / floor_full, "x floor (target <= 3x)"),
        ("floor: cKDTree build + kNN", floor_knn, best_compute / floor_knn, "x (compute / this)"),
        ("floor: cKDTree build + kNN + radius count", floor_full, 1.0, "x"),
        (
            f"PostGIS per-cell KNN, extrapolated from {len(pick)} cells",
            extrapolated,
            extrapolated / warm,
            "x the whole run",
        ),
    ]
    for label, seconds, ratio, note in lines:
        ratio_text = f"{ratio:>9.2f}{note}" if ratio is not None else ""
        print(f"{label:<52}{seconds:>10.3f} {ratio_text}")
    print(f"PostGIS baseline agrees with the run's counts on {same}/{len(pick)} sampled cells")


if __name__ == "__main__":
    main()
