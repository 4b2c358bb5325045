"""Dispatch benchmark: nearest, locate and position ingest over HTTP, beside raw SQL baselines.

    .venv/bin/python -m benchmarks.bench_dispatch [--volunteers 300000] [--seconds 15]

Loads the demo with the requested volunteer force into a separate database (gridgis_bench),
serves the API with uvicorn on loopback and drives it with wrk (GET) and httpx (batches).
Prints a table with ratios against baselines measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from benchmarks.common import (
    LoadResult,
    bench_database_url,
    latency_result,
    machine_summary,
    prepare_scale_data,
    sample_call_points,
    served_api,
    wrk_run,
)
from gridgis.db.queries import _NEAREST_BY_ROLE
from gridgis.settings import get_settings

ROLES = "community_police,grid_worker"
INGEST_CLIENTS = (1, 2, 4)


def raw_sql_nearest(
    conninfo: str, points: list[tuple[float, float]], *, clients: int, seconds: float
) -> LoadResult:
    """The nearest shortlist query alone, through psycopg, one connection per client thread."""
    sql = str(_NEAREST_BY_ROLE).replace(":lon", "%(lon)s").replace(":lat", "%(lat)s")
    for name in ("fresh_since", "roles", "statuses", "home_shortlist", "shortlist"):
        sql = sql.replace(f":{name}", f"%({name})s")
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds
    stale_after = timedelta(seconds=get_settings().stale_after_s)

    def worker(offset: int) -> None:
        mine: list[float] = []
        with psycopg.connect(conninfo) as conn:
            k = offset
            while time.perf_counter() < stop:
                lon, lat = points[k % len(points)]
                k += 1
                started = time.perf_counter()
                conn.execute(
                    sql,
                    {
                        "lon": lon,
                        "lat": lat,
                        "fresh_since": datetime.now(UTC) - stale_after,
                        "roles": ROLES.split(","),
                        "statuses": ["available"],
                        # The API's first round for n=5 (2 n + 4 per role for live fixes,
                        # twice that for home bases).
                        "shortlist": 14,
                        "home_shortlist": 28,
                    },
                ).fetchall()
                mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i * 37,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latency_result(latencies, seconds)


def ingest_run(
    base_url: str,
    responder_ids: list[int],
    *,
    batches: int,
    batch_size: int,
    clients: int,
    api_key: str,
) -> dict[str, float]:
    """Post `batches` batches of fresh fixes (payloads pre-encoded) and measure positions/s."""
    rng = random.Random(11)
    payloads = []
    for _ in range(batches):
        now = datetime.now(UTC).isoformat()
        items = [
            {
                "responder_id": rng.choice(responder_ids),
                "lon": round(117.3 + rng.random() * 0.6, 6),
                "lat": round(24.0 + rng.random() * 0.8, 6),
                "recorded_at": now,
            }
            for _ in range(batch_size)
        ]
        payloads.append(json.dumps({"positions": items}).encode())
    accepted = 0
    lock = threading.Lock()
    durations: list[float] = []

    def worker(chunk: list[bytes]) -> None:
        nonlocal accepted
        with httpx.Client(base_url=base_url, timeout=60) as client:
            for body in chunk:
                started = time.perf_counter()
                response = client.post(
                    "/v1/positions/batch",
                    content=body,
                    headers={"content-type": "application/json", "X-API-Key": api_key},
                )
                response.raise_for_status()
                with lock:
                    durations.append(time.perf_counter() - started)
                    accepted += response.json()["accepted"]

    started = time.perf_counter()
    threads = [
        threading.Thread(target=worker, args=(payloads[i::clients],)) for i in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {
        "positions_per_s": batches * batch_size / elapsed,
        "accepted": accepted,
        "batch_median_ms": statistics.median(durations) * 1000,
        "elapsed_s": elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--volunteers", type=int, default=300_000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument(
        "--only",
        default="ingest,nearest,locate",
        help="comma-separated parts to run: ingest, nearest (with its raw-SQL baseline), locate",
    )
    args = parser.parse_args()
    parts = set(args.only.split(","))

    settings = get_settings()
    url = bench_database_url(settings)
    roster = prepare_scale_data(url, args.volunteers)
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    points = sample_call_points(url, 1000)
    print(f"machine: {machine_summary()}")
    print(f"roster: {sum(roster.values()):,} responders {roster}")

    results: dict[str, Any] = {}
    with psycopg.connect(conninfo) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM responders ORDER BY id")]

    with served_api(url, args.workers) as server:
        nearest_paths = [
            f"/v1/responders/nearest?lon={x}&lat={y}&n=5&roles={ROLES}" for x, y in points
        ]
        locate_paths = [f"/v1/locate?lon={x}&lat={y}" for x, y in points]
        # Warm up caches and connection pools before measuring.
        wrk_run(server.url, nearest_paths, connections=8, seconds=3, api_key=server.api_key)
        # Ingest first: it makes a share of the roster "live", as in service.
        for clients in INGEST_CLIENTS if "ingest" in parts else ():
            results[f"ingest_{clients}"] = ingest_run(
                server.url,
                ids,
                batches=args.batches,
                batch_size=10_000,
                clients=clients,
                api_key=server.api_key,
            )
        for clients in (1, 32):
            if "nearest" in parts:
                results[f"nearest_api_{clients}"] = wrk_run(
                    server.url,
                    nearest_paths,
                    connections=clients,
                    seconds=args.seconds,
                    api_key=server.api_key,
                )
            if "locate" not in parts:
                continue
            results[f"locate_api_{clients}"] = wrk_run(
                server.url,
                locate_paths,
                connections=clients,
                seconds=args.seconds,
                api_key=server.api_key,
            )
        results["rss_mib"] = server.rss_mib()
    for clients in (1, 32) if "nearest" in parts else ():
        results[f"nearest_sql_{clients}"] = raw_sql_nearest(
            conninfo, points, clients=clients, seconds=args.seconds
        )

    print()
    print(
        f"{'benchmark':<34}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}"
        f"{'API/SQL p99':>13}"
    )
    for clients in (1, 32) if "nearest" in parts else ():
        api = results[f"nearest_api_{clients}"]
        sql = results[f"nearest_sql_{clients}"]
        for label, r, ratio in (
            (f"nearest API, {clients} clients", api, api.p99_ms / sql.p99_ms),
            (f"nearest raw SQL, {clients} clients", sql, None),
        ):
            print(
                f"{label:<34}{r.rps:>10.0f}{r.p50_ms:>10.2f}{r.p99_ms:>10.2f}{r.errors:>8}"
                + (f"{ratio:>13.2f}" if ratio is not None else "")
            )
    for clients in (1, 32) if "locate" in parts else ():
        r = results[f"locate_api_{clients}"]
        print(
            f"{f'locate API, {clients} clients':<34}{r.rps:>10.0f}{r.p50_ms:>10.2f}"
            f"{r.p99_ms:>10.2f}{r.errors:>8}"
        )
    for clients in INGEST_CLIENTS if "ingest" in parts else ():
        r = results[f"ingest_{clients}"]
        print(
            f"{f'position ingest, {clients} client(s)':<34}"
            f"{r['positions_per_s']:>10.0f} positions/s "
            f"(10,000-fix batches, median {r['batch_median_ms']:.0f} ms per batch)"
        )
    print(f"server RSS after the run: {results['rss_mib']:.0f} MiB ({args.workers} workers)")
    print(
        "targets: nearest p99 <= 15 ms at 32 clients and API/SQL <= 3; "
        "locate p99 <= 10 ms at 32 clients; ingest >= 50,000 positions/s"
    )


if __name__ == "__main__":
    main()
