"""Dispatch benchmark: nearest, locate and position ingest over HTTP, beside raw SQL baselines.

    .venv/bin/python -m benchmarks.bench_dispatch [--volunteers 300000] [--seconds 15]

Loads the demo with the requested volunteer force into a separate database (gridgis_bench),
serves the API with uvicorn on loopback and drives it with wrk (GET) and httpx (batches).
Prints a table with ratios against baselines measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
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
from gridgis.boundaries.sql import _ANCESTORS, _TEAM, LOCATE_GRIDS
from gridgis.dispatch.sql.nearest import _NEAREST_BY_ROLE, SOURCE_PARAMS
from gridgis.settings import get_settings

ROLES = "community_police,grid_worker"
# The session options of the API's dispatch reads (gridgis.db.engine), for the baselines too.
READ_OPTIONS = "-c jit=off -c plan_cache_mode=force_generic_plan"
# (clients, overlapping): gateways with their own responders, then random overlapping batches.
INGEST_RUNS = ((1, False), (2, False), (4, False), (2, True), (4, True))


def raw_sql_nearest(
    conninfo: str, points: list[tuple[float, float]], *, clients: int, seconds: float
) -> LoadResult:
    """The nearest shortlist query (with the grid lookup it carries) alone, through psycopg,
    one connection per client thread."""
    sql = re.sub(r"(?<!:):(\w+)", r"%(\1)s", _NEAREST_BY_ROLE.text)
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds
    stale_after = timedelta(seconds=get_settings().stale_after_s)

    def worker(offset: int) -> None:
        mine: list[float] = []
        # The session the API's dispatch reads get (gridgis.db.engine: no JIT, generic plans).
        with psycopg.connect(conninfo, options=READ_OPTIONS, autocommit=True) as conn:
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
                        "generation_id": None,
                        **SOURCE_PARAMS,
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


# -- the database alone: pgbench ---------------------------------------------------------------
# pgbench (C, prepared statements, no HTTP and no Python) runs the API's statements against
# the same call points: the most any client of this database can get out of these two cores.


def _pgbench_statement(sql: str, values: dict[str, str]) -> str:
    """A dispatch SQL statement with its :name parameters replaced by SQL expressions."""
    sql = "\n".join(line.split("--")[0] for line in sql.splitlines())
    sql = re.sub(r"(?<!:):(\w+)", lambda m: values[m.group(1)], sql)
    return " ".join(sql.split())


def _call_point(axis: str) -> str:
    return f"(SELECT {axis} FROM bench_call_points WHERE i = :i)"


def pgbench_scripts(stale_after_s: float) -> dict[str, str]:
    """pgbench scripts for nearest (the API's first-round shortlist) and for locate (its
    three statements: grids at the point, ancestors, team)."""
    point = {"lon": _call_point("lon"), "lat": _call_point("lat")}
    nearest = _pgbench_statement(
        _NEAREST_BY_ROLE.text,
        {
            **point,
            "roles": "'{" + ROLES + "}'",
            "statuses": "'{available}'",
            "fresh_since": f"now() - make_interval(secs => {stale_after_s})",
            "shortlist": "14",
            "home_shortlist": "28",
            "generation_id": "NULL",
            **{name: f"'{word}'" for name, word in SOURCE_PARAMS.items()},
        },
    )
    grids = _pgbench_statement(LOCATE_GRIDS.text, {**point, "generation_id": "NULL"})
    locate = "\n".join(
        [
            f"SELECT code, generation_id AS gen FROM ({grids}) AS hits LIMIT 1 \\gset",
            _pgbench_statement(_ANCESTORS.text, {"generation_id": ":gen", "code": ":code"}) + ";",
            _pgbench_statement(_TEAM.text, {"code": ":code"}) + ";",
        ]
    )
    header = "\\set i random(1, :npoints)\n"
    return {"nearest": header + nearest + ";\n", "locate": header + locate + "\n"}


def pgbench_run(
    url: str, points: list[tuple[float, float]], script: str, *, clients: int, seconds: int
) -> LoadResult | None:
    """Run one pgbench script; None when pgbench is not installed."""
    pgbench = shutil.which("pgbench")
    if pgbench is None:
        return None
    parsed = make_url(url)
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_call_points "
            "(i int PRIMARY KEY, lon float8 NOT NULL, lat float8 NOT NULL)"
        )
        with conn.transaction():
            conn.execute("TRUNCATE bench_call_points")
            with conn.cursor().copy("COPY bench_call_points (i, lon, lat) FROM STDIN") as copy:
                for i, (lon, lat) in enumerate(points, start=1):
                    copy.write_row((i, lon, lat))
    env = {
        **os.environ,
        "PGHOST": parsed.host or "127.0.0.1",
        "PGPORT": str(parsed.port or 5432),
        "PGUSER": parsed.username or "",
        "PGPASSWORD": parsed.password or "",
        "PGOPTIONS": READ_OPTIONS,
    }
    with tempfile.TemporaryDirectory() as tmp:
        script_path = Path(tmp) / "script.sql"
        script_path.write_text(script)
        subprocess.run(
            [pgbench, "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2)),
             "-T", str(seconds), "-D", f"npoints={len(points)}", "-l",
             "--log-prefix", str(Path(tmp) / "log"), "-f", str(script_path),
             parsed.database or ""],
            check=True, env=env, cwd=tmp, capture_output=True, text=True,
        )  # fmt: skip
        latencies = [
            int(line.split()[2]) / 1e6
            for log in Path(tmp).glob("log.*")
            for line in log.read_text().splitlines()
        ]
    return latency_result(latencies, seconds)


def settle(conninfo: str) -> None:
    """After the ingest runs (1.5 million rewritten fixes): vacuum and checkpoint, so the
    read benchmarks measure dispatch, not the write-back of the ingest's WAL. (The mixed load
    of bench_load measures reads beside a live feed.)"""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE responder_positions")
        # CHECKPOINT needs pg_checkpoint on a shared server; the vacuum alone must do there.
        with contextlib.suppress(psycopg.Error):
            conn.execute("CHECKPOINT")


def ingest_run(
    base_url: str,
    homes: dict[int, tuple[float, float]],
    *,
    batches: int,
    batch_size: int,
    clients: int,
    api_key: str,
    overlapping: bool,
) -> dict[str, float]:
    """Post `batches` batches of fresh fixes (payloads pre-encoded) and measure positions/s.

    Gateways (the default): each client owns a disjoint share of the roster, as a feed
    gateway owns its devices, and reports each of its responders in turn. Overlapping: every
    batch draws responders at random from the whole roster, so concurrent batches share
    rows and queue on their locks (the worst case, reported beside). Each fix lies around the
    responder's home base (sigma ~500 m): people on duty move about their own grid, so the
    live force keeps the city's shape."""
    rng = random.Random(11)
    responder_ids = list(homes)
    ids = list(responder_ids)
    rng.shuffle(ids)
    shares = [ids[i::clients] for i in range(clients)]
    cursors = [0] * clients
    payloads: list[list[bytes]] = [[] for _ in range(clients)]
    for b in range(batches):
        now = datetime.now(UTC).isoformat()
        client = b % clients
        if overlapping:
            chosen = [rng.choice(responder_ids) for _ in range(batch_size)]
        else:
            share, at = shares[client], cursors[client]
            chosen = [share[(at + k) % len(share)] for k in range(batch_size)]
            cursors[client] = (at + batch_size) % len(share)
        items = [
            {
                "responder_id": rid,
                "lon": round(homes[rid][0] + rng.gauss(0, 0.005), 6),
                "lat": round(homes[rid][1] + rng.gauss(0, 0.0045), 6),
                "recorded_at": now,
            }
            for rid in chosen
        ]
        payloads[client].append(json.dumps({"positions": items}).encode())
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
    threads = [threading.Thread(target=worker, args=(payloads[i],)) for i in range(clients)]
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
        default="ingest,nearest,locate,ceiling",
        help="comma-separated parts to run: ingest, nearest (with its raw-SQL baseline), "
        "locate, ceiling (nearest and locate statements through pgbench: the database alone)",
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
        homes = {
            int(r[0]): (float(r[1]), float(r[2]))
            for r in conn.execute(
                "SELECT id, ST_X(home), ST_Y(home) FROM responders WHERE home IS NOT NULL"
            )
        }

    with served_api(url, args.workers) as server:
        nearest_paths = [
            f"/v1/responders/nearest?lon={x}&lat={y}&n=5&roles={ROLES}" for x, y in points
        ]
        locate_paths = [f"/v1/locate?lon={x}&lat={y}" for x, y in points]
        # Warm up caches and connection pools before measuring.
        wrk_run(server.url, nearest_paths, connections=8, seconds=3, api_key=server.api_key)
        # Ingest first: it makes a share of the roster "live", as in service.
        for clients, overlapping in INGEST_RUNS if "ingest" in parts else ():
            results[f"ingest_{clients}_{overlapping}"] = ingest_run(
                server.url,
                homes,
                batches=args.batches,
                batch_size=10_000,
                clients=clients,
                api_key=server.api_key,
                overlapping=overlapping,
            )
        if "ingest" in parts:
            settle(conninfo)
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
    scripts = pgbench_scripts(settings.stale_after_s)
    for name in ("nearest", "locate") if "ceiling" in parts else ():
        for clients in (1, 32):
            results[f"ceiling_{name}_{clients}"] = pgbench_run(
                url, points, scripts[name], clients=clients, seconds=args.seconds
            )

    print()
    print(
        f"{'benchmark':<34}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}"
        f"{'API/SQL p50':>13}{'API/SQL p99':>13}"
    )
    for clients in (1, 32) if "nearest" in parts else ():
        api = results[f"nearest_api_{clients}"]
        sql = results[f"nearest_sql_{clients}"]
        for label, r, ratios in (
            (
                f"nearest API, {clients} clients",
                api,
                (api.p50_ms / sql.p50_ms, api.p99_ms / sql.p99_ms),
            ),
            (f"nearest raw SQL, {clients} clients", sql, ()),
        ):
            print(
                f"{label:<34}{r.rps:>10.0f}{r.p50_ms:>10.2f}{r.p99_ms:>10.2f}{r.errors:>8}"
                + "".join(f"{ratio:>13.2f}" for ratio in ratios)
            )
    for clients in (1, 32) if "locate" in parts else ():
        r = results[f"locate_api_{clients}"]
        print(
            f"{f'locate API, {clients} clients':<34}{r.rps:>10.0f}{r.p50_ms:>10.2f}"
            f"{r.p99_ms:>10.2f}{r.errors:>8}"
        )
    for clients, overlapping in INGEST_RUNS if "ingest" in parts else ():
        r = results[f"ingest_{clients}_{overlapping}"]
        label = f"{clients} client(s), overlapping" if overlapping else f"{clients} gateway(s)"
        print(
            f"{f'position ingest, {label}':<34}"
            f"{r['positions_per_s']:>10.0f} positions/s "
            f"(10,000-fix batches, median {r['batch_median_ms']:.0f} ms per batch, "
            f"{r['accepted'] / (args.batches * 10_000):.0%} accepted)"
        )
    for name in ("nearest", "locate") if "ceiling" in parts else ():
        for clients in (1, 32):
            c = results.get(f"ceiling_{name}_{clients}")
            if c is None:
                print(f"{name} pgbench: pgbench is not installed")
                continue
            print(
                f"{f'{name} pgbench (DB alone), {clients} cl.':<34}{c.rps:>10.0f}"
                f"{c.p50_ms:>10.2f}{c.p99_ms:>10.2f}{c.errors:>8}"
            )
    print(f"server RSS after the run: {results['rss_mib']:.0f} MiB ({args.workers} workers)")
    print(
        "targets: nearest p99 <= 15 ms at 32 clients and API/SQL <= 3; "
        "locate p99 <= 10 ms at 32 clients; ingest >= 50,000 positions/s"
    )


if __name__ == "__main__":
    main()
