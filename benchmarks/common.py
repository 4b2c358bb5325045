"""Shared benchmark plumbing: a scale database, a served API, wrk runs and latency stats."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import make_url

from gridgis.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parents[1]
# Checkouts sharing one server each name their own (GRIDGIS_BENCH_DATABASE).
BENCH_DATABASE = os.environ.get("GRIDGIS_BENCH_DATABASE", "gridgis_bench")


def machine_summary() -> str:
    """One line naming the machine the numbers were measured on."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def bench_database_url(settings: Settings) -> str:
    """The benchmark database (created with PostGIS if missing) on the configured server."""
    from gridgis.cli import prepare_database
    from gridgis.db.embedded import ensure_database

    url = make_url(prepare_database(settings, quiet=True))
    admin = url.set(drivername="postgresql", database="postgres")
    ensure_database(admin.render_as_string(hide_password=False), BENCH_DATABASE)
    return url.set(database=BENCH_DATABASE).render_as_string(hide_password=False)


def prepare_scale_data(url: str, volunteers: int, seed: int = 2080) -> dict[str, int]:
    """Migrate and load the demo with `volunteers` volunteers unless it is already there."""
    from gridgis.db.engine import make_engine
    from gridgis.db.migrate import upgrade
    from gridgis.demo.generate import generate_demo
    from gridgis.demo.load import load_demo

    engine = make_engine(get_settings(), url=url, pool_size=1, bulk=True)
    try:
        with engine.connect() as conn:
            upgrade(conn)
            count = conn.execute(
                text("SELECT COUNT(*) FROM responders WHERE role = 'volunteer'")
            ).scalar_one()
            if count != volunteers:
                started = time.perf_counter()
                print(f"loading the demo with {volunteers:,} volunteers ...", flush=True)
                load_demo(conn, generate_demo(seed=seed, volunteers=volunteers))
                conn.commit()
                print(f"  loaded in {time.perf_counter() - started:.1f} s", flush=True)
            # Steady state in service: every responder is on duty and has reported (here: one
            # fix at home, five minutes old, fresh for dispatch). Benchmarks send newer fixes.
            conn.execute(text("DELETE FROM responder_positions"))
            conn.execute(
                text(
                    """
                    INSERT INTO responder_positions (responder_id, role, position, recorded_at)
                    SELECT id, role, home, now() - interval '5 minutes' FROM responders
                    """
                )
            )
            conn.commit()
            totals = conn.execute(
                text("SELECT role, COUNT(*) FROM responders GROUP BY role ORDER BY role")
            ).all()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE responders"))
            conn.execute(text("VACUUM ANALYZE responder_positions"))
    finally:
        engine.dispose()
    return {r[0]: int(r[1]) for r in totals}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    api_key: str

    def rss_mib(self) -> float:
        """Resident memory of the server and its worker processes."""
        pids = [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        total = 0
        for pid in pids:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return total / 1024


@contextmanager
def served_api(database_url: str, workers: int) -> Iterator[Server]:
    """Run uvicorn on a free loopback port against `database_url` until the block ends."""
    import secrets as _secrets

    from gridgis.auth import create_api_key
    from gridgis.db.engine import make_engine

    port = free_port()
    secret = _secrets.token_urlsafe(32)
    engine = make_engine(get_settings(), url=database_url, pool_size=1)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM api_keys WHERE name = 'benchmark'"))
        _, api_key = create_api_key(conn, secret, name="benchmark", role="system")
    engine.dispose()
    env = dict(
        os.environ,
        GRIDGIS_DATABASE_URL=database_url,
        GRIDGIS_ENV="production",
        GRIDGIS_SECRET_KEY=secret,
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gridgis.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError("the API server did not come up")
        time.sleep(0.3)
    try:
        yield Server(url, process, api_key)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float


def wrk_run(
    base_url: str,
    paths: Sequence[str],
    *,
    connections: int,
    seconds: int,
    threads: int = 1,
    api_key: str = "",
) -> LoadResult:
    """Drive GET requests over `paths` (round robin) with wrk and parse its latency report."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk")
    # The key goes into each request explicitly: wrk's -H never reached these requests.
    lua = (
        "paths = {"
        + ",".join(json.dumps(p) for p in paths)
        + "}\n"
        + 'headers = {["X-API-Key"] = '
        + json.dumps(api_key)
        + "}\n"
        + (
            "counter = 0\n"
            "function setup(thread) thread:set('offset', math.random(#paths)) end\n"
            "request = function()\n"
            "  counter = counter + 1\n"
            "  return wrk.format('GET', paths[((counter + offset) % #paths) + 1], headers)\n"
            "end\n"
            "done = function(summary, latency, requests)\n"
            "  io.write(string.format('GRIDGIS %d %d %f %f\\n', summary.requests,\n"
            "    summary.errors.status + summary.errors.connect + summary.errors.read +\n"
            "    summary.errors.write + summary.errors.timeout,\n"
            "    latency:percentile(50) / 1000, latency:percentile(99) / 1000))\n"
            "end\n"
        )
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua)
        script = fh.name
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "10s",
                "-s",
                script,
                base_url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script)
    match = re.search(r"GRIDGIS (\d+) (\d+) ([\d.]+) ([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"could not read wrk's report:\n{out}")
    requests, errors = int(match.group(1)), int(match.group(2))
    return LoadResult(
        requests=requests,
        errors=errors,
        rps=requests / seconds,
        p50_ms=float(match.group(3)),
        p99_ms=float(match.group(4)),
    )


def latency_result(latencies_s: Sequence[float], seconds: float, errors: int = 0) -> LoadResult:
    arr = np.asarray(latencies_s) * 1000
    return LoadResult(
        requests=len(arr),
        errors=errors,
        rps=len(arr) / seconds,
        p50_ms=float(np.percentile(arr, 50)) if len(arr) else float("nan"),
        p99_ms=float(np.percentile(arr, 99)) if len(arr) else float("nan"),
    )


def sample_call_points(url: str, count: int, seed: int = 7) -> list[tuple[float, float]]:
    """Call locations weighted by grid population (points inside grids), reproducible."""
    from gridgis.db.engine import make_engine

    engine = make_engine(get_settings(), url=url, pool_size=1)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT setseed(:s)"), {"s": seed / 1000})
            rows = conn.execute(
                text(
                    """
                    WITH g AS (
                        SELECT geom, population FROM areas
                        WHERE level = 'grid'
                          AND generation_id = (SELECT id FROM generations WHERE active)
                        ORDER BY -ln(random()) / GREATEST(population, 1)
                        LIMIT :n
                    )
                    SELECT ST_X(p.geom), ST_Y(p.geom)
                    FROM g, ST_Dump(ST_GeneratePoints(g.geom, 1, :seed)) p
                    """
                ),
                {"n": count, "seed": seed},
            ).all()
    finally:
        engine.dispose()
    return [(round(float(x), 6), round(float(y), 6)) for x, y in rows]
