"""KPI series benchmark: the dashboard's weekly series (every county and the city) computed in
one statement for all weeks, beside the same figures asked week by week (one `/v1/kpis`
statement per week, as the series was computed before) and the floor: one `/v1/kpis`
statement over the whole range.

    .venv/bin/python -m benchmarks.bench_kpi_series [--incidents 30000] [--weeks 12 60]
        [--repeat 5] [--database gridgis_bench]

Loads the small demo unless the database already holds a demo, replaces its incidents with
`--incidents` modelled ones over the longest range (seeded), then times each way `--repeat`
times and counts the KPI statements each sends.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, event, text

from benchmarks import common
from benchmarks.common import bench_database_url, machine_summary
from gridgis.settings import get_settings

CHARTS = 6  # the dashboard draws six charts of one series
LEVELS = ["city", "county"]


def _timed(conn: Connection, work: Callable[[], Any], repeat: int) -> tuple[float, int]:
    """(median ms, KPI statements sent per call)."""
    sent: list[str] = []

    def count(*args: Any) -> None:
        if "facts AS (" in str(args[2]):
            sent.append("kpi")

    took = []
    event.listen(conn, "before_cursor_execute", count)
    try:
        for _ in range(repeat):
            started = time.perf_counter()
            work()
            took.append((time.perf_counter() - started) * 1000)
    finally:
        event.remove(conn, "before_cursor_execute", count)
    return statistics.median(took), len(sent) // repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=30_000)
    parser.add_argument("--weeks", type=int, nargs="+", default=[12, 60])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database", default=common.BENCH_DATABASE)
    args = parser.parse_args()
    common.BENCH_DATABASE = args.database
    from gridgis.db.engine import make_engine
    from gridgis.db.migrate import upgrade
    from gridgis.demo.generate import generate_demo
    from gridgis.demo.incidents import generate_incidents
    from gridgis.demo.load import load_demo
    from gridgis.dispatch.eta import eta_model_from_settings
    from gridgis.dispatch.kpi_series import kpi_series
    from gridgis.dispatch.kpis import incident_kpis

    settings = get_settings()
    engine = make_engine(settings, url=bench_database_url(settings), pool_size=1, bulk=True)
    end = datetime(2026, 11, 30, tzinfo=UTC)
    longest = max(args.weeks)
    print(machine_summary())
    with engine.connect() as conn:
        upgrade(conn)
        if not conn.execute(text("SELECT 1 FROM responders LIMIT 1")).first():
            load_demo(conn, generate_demo(seed=2080, volunteers=2_000))
        started = time.perf_counter()
        generate_incidents(
            conn,
            args.incidents,
            7,
            eta_model_from_settings(settings),
            days=longest * 7,
            end=end,
            now=end,
        )
        conn.commit()
        conn.execute(text("ANALYZE incidents"))
        conn.execute(text("ANALYZE incident_events"))
        conn.commit()
        print(
            f"{args.incidents:,} incidents over {longest} weeks "
            f"(generated in {time.perf_counter() - started:.1f} s)\n"
        )
        print(f"{'':46} {'median ms':>10} {'statements':>11} {'x floor':>8}")
        for weeks in args.weeks:
            start = end - timedelta(weeks=weeks)

            def floor(start: datetime = start) -> Any:
                return incident_kpis(conn, start=start, end=end, levels=LEVELS)

            def week_by_week(start: datetime = start, weeks: int = weeks) -> Any:
                return [
                    incident_kpis(
                        conn,
                        start=start + timedelta(weeks=i),
                        end=start + timedelta(weeks=i + 1),
                        levels=LEVELS,
                    )
                    for i in range(weeks)
                ]

            def one_pass(start: datetime = start) -> Any:
                return kpi_series(conn, level="county", start=start, end=end)

            base, base_n = _timed(conn, floor, args.repeat)
            rows = [
                (f"{weeks} weeks: whole range, one /v1/kpis (floor)", base, base_n),
                (
                    f"{weeks} weeks: series week by week (before)",
                    *_timed(conn, week_by_week, args.repeat),
                ),
                (
                    f"{weeks} weeks: series in one statement (after)",
                    *_timed(conn, one_pass, args.repeat),
                ),
            ]
            for name, ms, sent in rows:
                print(f"{name:46} {ms:10.1f} {sent:11d} {ms / base:8.2f}")
            before, after = rows[1][1], rows[2][1]
            print(
                f"{weeks} weeks: the dashboard's {CHARTS} charts: before {CHARTS} x "
                f"{rows[1][2]} statements, {CHARTS * before:.0f} ms; after 1 statement "
                f"(the other {CHARTS - 1} from the cache), {after:.0f} ms\n"
            )
    engine.dispose()


if __name__ == "__main__":
    main()
