"""Load benchmark: a realistic request mix against `gridgis serve --workers 2` for 60 seconds.

    .venv/bin/python -m benchmarks.bench_load [--volunteers 300000] [--seconds 60]
        [--connections 32] [--workers 2] [--batch-size 200]

Loads the demo with 300,000 volunteers into gridgis_bench, serves the API on loopback and
drives it with wrk and one Lua script: 70% nearest responders, 20% locate, 10% live-position
batches (fresh fixes for random responders, time-stamped when sent). Reports throughput,
p50/p99 over every request, errors (connection errors, timeouts and any status >= 400) and
the server's resident memory (all worker processes, sampled each second; the peak is shown).
Targets: no errors, p99 <= 50 ms, RSS < 500 MB.

Two ways to load it:
- closed loop (default): every connection sends its next request as soon as the last one is
  answered: the saturation throughput, and latency that is mostly queueing;
- offered rate (--rate R, or --rate roster): each connection waits an exponentially
  distributed pause between requests so that about R requests/s arrive, as independent
  clients would. `roster` derives R from the whole roster reporting its position once every
  --report-every seconds (60): fixes/s / batch size = batches/s, and batches are 10% of the mix.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

from sqlalchemy import text

from benchmarks.common import (
    bench_database_url,
    machine_summary,
    prepare_scale_data,
    sample_call_points,
    served_api,
)
from gridgis.db.engine import make_engine
from gridgis.settings import get_settings

ROLES = "community_police,grid_worker"
MIX = {"nearest": 0.70, "locate": 0.20, "batch": 0.10}
TARGETS = {"p99_ms": 50.0, "rss_mb": 500.0}

# wrk calls request() for every request; the shares of MIX decide which kind it sends.
LUA = """
nearest = %(nearest)s
locate = %(locate)s
ids = %(ids)s
home_lon = %(home_lon)s
home_lat = %(home_lat)s
key = %(key)s
batch_size = %(batch_size)d
p_nearest = %(p_nearest)f
p_locate = %(p_locate)f
get_headers = {["X-API-Key"] = key}
post_headers = {["X-API-Key"] = key, ["Content-Type"] = "application/json"}

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init(args)
  math.randomseed(seed)
end

-- Offered-rate mode: an exponential pause (mean think_ms) before each request; 0 = none.
think_ms = %(think_ms)f
function delay()
  if think_ms <= 0 then return 0 end
  return math.floor(-math.log(1 - math.random()) * think_ms)
end

function batch_body()
  local now = os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ")
  local items = {}
  for i = 1, batch_size do
    -- Around the responder's home (sigma ~500 m, Box-Muller): on duty in their own grid.
    local k = math.random(#ids)
    local r = math.sqrt(-2 * math.log(1 - math.random()))
    local a = 2 * math.pi * math.random()
    local lon = home_lon[k] + 0.005 * r * math.cos(a)
    local lat = home_lat[k] + 0.0045 * r * math.sin(a)
    items[i] = string.format(
      '{"responder_id":%%d,"lon":%%.6f,"lat":%%.6f,"recorded_at":"%%s"}',
      ids[k], lon, lat, now)
  end
  return '{"positions":[' .. table.concat(items, ",") .. ']}'
end

request = function()
  local r = math.random()
  if r < p_nearest then
    return wrk.format("GET", nearest[math.random(#nearest)], get_headers)
  elseif r < p_nearest + p_locate then
    return wrk.format("GET", locate[math.random(#locate)], get_headers)
  end
  return wrk.format("POST", "/v1/positions/batch", post_headers, batch_body())
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("GRIDGIS %%d %%d %%d %%f %%f %%f\\n", summary.requests,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
"""


def _lua_list(items: list[str] | list[int]) -> str:
    return "{" + ",".join(json.dumps(i) for i in items) + "}"


def run_mix(
    base_url: str,
    api_key: str,
    points: list[tuple[float, float]],
    responders: list[tuple[int, float, float]],
    *,
    seconds: int,
    connections: int,
    batch_size: int,
    mix: dict[str, float] = MIX,
    rate: float = 0.0,
) -> dict[str, float]:
    """One wrk run of the mix; returns requests, errors, req/s and latency percentiles (ms)."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk")
    script = LUA % {
        "nearest": _lua_list(
            [f"/v1/responders/nearest?lon={x}&lat={y}&n=5&roles={ROLES}" for x, y in points]
        ),
        "locate": _lua_list([f"/v1/locate?lon={x}&lat={y}" for x, y in points]),
        "ids": _lua_list([r[0] for r in responders]),
        "home_lon": _lua_list([round(r[1], 6) for r in responders]),
        "home_lat": _lua_list([round(r[2], 6) for r in responders]),
        "key": json.dumps(api_key),
        "batch_size": batch_size,
        "p_nearest": mix["nearest"],
        "p_locate": mix["locate"],
        # Each connection then sends about rate / connections requests a second.
        "think_ms": connections / rate * 1000.0 if rate > 0 else 0.0,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
        path = fh.name
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "10s",
                "-s",
                path,
                base_url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(path)
    match = re.search(r"GRIDGIS (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"could not read wrk's report:\n{out}")
    requests = int(match.group(1))
    return {
        "requests": requests,
        "socket_errors": int(match.group(2)),
        "status_errors": int(match.group(3)),
        "rps": requests / seconds,
        "p50_ms": float(match.group(4)),
        "p99_ms": float(match.group(5)),
        "max_ms": float(match.group(6)),
    }


def _responders(url: str, count: int) -> list[tuple[int, float, float]]:
    """`count` random responders with their home (id, lon, lat)."""
    engine = make_engine(get_settings(), url=url, pool_size=1)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, ST_X(home), ST_Y(home) FROM responders WHERE home IS NOT NULL "
                    "ORDER BY random() LIMIT :n"
                ),
                {"n": count},
            )
            return [(int(r[0]), float(r[1]), float(r[2])) for r in rows]
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--volunteers", type=int, default=300_000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--batch-size", type=int, default=200, help="fixes per position batch")
    parser.add_argument(
        "--mix", default="nearest=70,locate=20,batch=10", help="percent of each kind of request"
    )
    parser.add_argument(
        "--rate",
        default="0",
        help="offered requests/s (0: closed loop, as fast as answered; 'roster': derived "
        "from the whole roster reporting every --report-every seconds)",
    )
    parser.add_argument("--report-every", type=float, default=60.0)
    args = parser.parse_args()
    shares = {k: float(v) for k, v in (part.split("=") for part in args.mix.split(","))}
    mix = {kind: shares.get(kind, 0.0) / sum(shares.values()) for kind in MIX}

    url = bench_database_url(get_settings())
    roster = prepare_scale_data(url, args.volunteers)
    if args.rate == "roster":
        fixes_per_s = sum(roster.values()) / args.report_every
        rate = fixes_per_s / args.batch_size / mix["batch"]
        print(
            f"offered rate from the roster: {sum(roster.values()):,} responders every "
            f"{args.report_every:.0f} s = {fixes_per_s:,.0f} fixes/s = "
            f"{fixes_per_s / args.batch_size:.1f} batches/s = {rate:.0f} req/s in the mix"
        )
    else:
        rate = float(args.rate)
    points = sample_call_points(url, 1000)
    responders = _responders(url, 20_000)
    print(f"machine: {machine_summary()}")
    print(f"roster: {sum(roster.values()):,} responders {roster}")
    shown = ", ".join(f"{share:.0%} {kind}" for kind, share in mix.items())
    print(
        f"mix: {shown} ({args.batch_size} fixes per batch); {args.connections} connections, "
        f"{args.seconds} s, {args.workers} workers, "
        + (f"offered {rate:.0f} req/s" if rate > 0 else "closed loop")
    )

    with served_api(url, args.workers) as server:
        # Warm up the pools and caches (and make part of the roster live) before measuring.
        run_mix(
            server.url,
            server.api_key,
            points,
            responders,
            seconds=5,
            connections=8,
            batch_size=args.batch_size,
        )
        peak = [server.rss_mib()]
        stop = threading.Event()

        def sample_rss() -> None:
            while not stop.wait(1.0):
                peak.append(server.rss_mib())

        sampler = threading.Thread(target=sample_rss, daemon=True)
        sampler.start()
        started = time.perf_counter()
        result = run_mix(
            server.url,
            server.api_key,
            points,
            responders,
            seconds=args.seconds,
            connections=args.connections,
            batch_size=args.batch_size,
            mix=mix,
            rate=rate,
        )
        elapsed = time.perf_counter() - started
        stop.set()
        sampler.join()
        rss_end = server.rss_mib()

    errors = int(result["socket_errors"] + result["status_errors"])
    rss_peak = max(peak)
    print()
    print(f"{'requests':<28}{int(result['requests']):>12,} in {elapsed:.0f} s")
    print(f"{'throughput':<28}{result['rps']:>12.0f} req/s")
    print(f"{'latency p50':<28}{result['p50_ms']:>12.2f} ms")
    print(f"{'latency p99':<28}{result['p99_ms']:>12.2f} ms")
    print(f"{'latency max':<28}{result['max_ms']:>12.2f} ms")
    print(
        f"{'errors':<28}{errors:>12} (socket {int(result['socket_errors'])}, "
        f"status >= 400 {int(result['status_errors'])})"
    )
    print(f"{'server RSS peak / end':<28}{rss_peak:>12.0f} / {rss_end:.0f} MiB")
    verdicts = {
        "no errors": errors == 0,
        f"p99 <= {TARGETS['p99_ms']:.0f} ms": result["p99_ms"] <= TARGETS["p99_ms"],
        f"RSS < {TARGETS['rss_mb']:.0f} MB": rss_peak * 1.048576 < TARGETS["rss_mb"],
    }
    print(
        "targets: " + ", ".join(f"{k}: {'met' if ok else 'MISSED'}" for k, ok in verdicts.items())
    )


if __name__ == "__main__":
    main()
