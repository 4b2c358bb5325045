"""How cost grows with the force: the dispatch and coverage benchmarks at several roster sizes,
run back to back on one machine, reported as ratios to the smallest size.

    .venv/bin/python -m benchmarks.bench_scale [--sizes 300000,1000000,3000000] [--seconds 10]

For each size it runs `benchmarks.bench_dispatch --only nearest,ingest` (which loads the demo
with that many volunteers into the benchmark database) and then `benchmarks.bench_coverage` on
the same data, and reads the database's size. Prints each size's figures and their ratios to
the first size's; each benchmark's full output goes to --log.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from benchmarks.common import ROOT, bench_database_url, machine_summary
from gridgis.settings import get_settings

_NEAREST = r"nearest API, {} clients\s+\d+\s+([\d.]+)\s+([\d.]+)"
# (label, pattern over the benchmarks' printed reports, group)
MEASURES: tuple[tuple[str, str, int], ...] = (
    ("nearest p50 ms, 1 client", _NEAREST.format(1), 1),
    ("nearest p99 ms, 1 client", _NEAREST.format(1), 2),
    ("nearest p50 ms, 32 clients", _NEAREST.format(32), 1),
    ("nearest p99 ms, 32 clients", _NEAREST.format(32), 2),
    ("ingest positions/s, 1 gateway", r"position ingest, 1 gateway\(s\)\s+(\d+)", 1),
    ("ingest positions/s, 4 gateways", r"position ingest, 4 gateway\(s\)\s+(\d+)", 1),
    ("coverage run s (warm)", r"whole run, warm \(cell set cached\)\s+([\d.]+)", 1),
    ("coverage run s (cold)", r"whole run, cold \(cell set built\)\s+([\d.]+)", 1),
    ("demo load s", r"loaded in ([\d.]+) s", 1),
)


def run(command: list[str], log: Path) -> str:
    """Run a benchmark module, append its output to the log, and return the output."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True
    )
    output = result.stdout + result.stderr
    with log.open("a") as fh:
        fh.write(f"$ {' '.join(command)}  ({time.perf_counter() - started:.0f} s)\n{output}\n")
    if result.returncode != 0:
        raise SystemExit(f"{command[0]} failed (exit {result.returncode}); see {log}")
    return output


def database_mib(url: str) -> float:
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    assert row is not None
    return float(row[0]) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="300000,1000000,3000000")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--log", type=Path, default=Path("bench_scale.log"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    url = bench_database_url(get_settings())
    print(f"machine: {machine_summary()}", flush=True)

    figures: dict[int, dict[str, float]] = {}
    for size in sizes:
        output = run(
            [
                "benchmarks.bench_dispatch",
                "--volunteers", str(size),
                "--only", "nearest,ingest",
                "--seconds", str(args.seconds),
                "--batches", str(args.batches),
            ],
            args.log,
        )  # fmt: skip
        output += run(
            ["benchmarks.bench_coverage", "--volunteers", str(size), "--repeat", "2"], args.log
        )
        found: dict[str, float] = {"database MiB": database_mib(url)}
        for label, pattern, group in MEASURES:
            match = re.search(pattern, output)
            if match is not None:
                found[label] = float(match.group(group))
        figures[size] = found
        print(f"{size:,} volunteers: {found}", flush=True)

    base = figures[sizes[0]]
    labels = ["database MiB"] + [label for label, *_ in MEASURES]
    print()
    print(f"{'measure':<34}" + "".join(f"{s:>14,}" for s in sizes) + "   ratios to the first")
    for label in labels:
        values = [figures[s].get(label) for s in sizes]
        row = "".join(f"{v:>14.2f}" if v is not None else f"{'-':>14}" for v in values)
        ratios = " ".join(
            f"x{v / base[label]:.2f}" if v is not None and base.get(label) else "-"
            for v in values[1:]
        )
        print(f"{label:<34}{row}   {ratios}")


if __name__ == "__main__":
    main()
