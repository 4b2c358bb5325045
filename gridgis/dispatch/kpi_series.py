"""Incident KPIs per area by week (or day) as time series, computed in one statement for all
buckets and kept briefly per filters (the dashboard draws six charts of one series at once),
and a small SVG line chart of one of them with the city's own promise line (93.48 % on scene
within 5 minutes)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from gridgis.db import Executor
from gridgis.dispatch.kpis import KpiRow, area_scope, check_target, kpi_row
from gridgis.dispatch.sql import incidents as incidents_sql
from gridgis.errors import InvalidInput
from gridgis.vocabulary import AREA_LEVELS

# The share of incidents the city promises to reach within the target (its own 2025 figure).
CITY_PROMISE_SHARE = 0.9348
BUCKETS = {"week": timedelta(days=7), "day": timedelta(days=1)}
MAX_BUCKETS = 60
DEFAULT_WEEKS = 12
METRICS = (
    "within_target_rate",
    "urban_within_target_rate",
    "median_response_s",
    "p90_response_s",
    "diverted_share",
    "resolved_on_site_share",
)
SHARE_METRICS = {
    "within_target_rate",
    "urban_within_target_rate",
    "diverted_share",
    "resolved_on_site_share",
}
POINT_FIELDS = ("incidents", "attended", *METRICS)


@dataclass(frozen=True)
class KpiSeries:
    """One line per area of `level` (and the city), one point per bucket."""

    level: str
    bucket: str
    start: datetime
    end: datetime
    target_s: float
    city_promise_share: float
    buckets: list[datetime]
    series: list[dict[str, Any]]


def _point(row: KpiRow) -> dict[str, Any]:
    values = asdict(row)
    return {name: values[name] for name in POINT_FIELDS}


def _points(series: KpiSeries) -> int:
    return sum(len(line["points"]) for line in series.series)


class SeriesCache:
    """KPI series computed in the last `ttl_s` seconds, by their filters (at most `max_points`
    points in all, least recently used dropped first; a bigger series is not kept). Requests
    for a series being computed wait for it instead of computing it again: the dashboard asks
    for one series six times at once (one chart per metric)."""

    def __init__(self, ttl_s: float = 60.0, max_points: int = 100_000) -> None:
        self.ttl_s = ttl_s
        self.max_points = max_points
        self.points = 0
        self.computed = 0
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[float, KpiSeries]] = OrderedDict()
        self._computing: dict[Hashable, threading.Lock] = {}

    def _fresh(self, key: Hashable) -> KpiSeries | None:
        found = self._entries.get(key)
        if found is None or found[0] < time.monotonic():
            return None
        self._entries.move_to_end(key)
        return found[1]

    def get(self, key: Hashable, compute: Callable[[], KpiSeries]) -> KpiSeries:
        """The series under `key`, computed by `compute` unless fresh here."""
        with self._lock:
            found = self._fresh(key)
            if found is not None:
                return found
            flight = self._computing.setdefault(key, threading.Lock())
        with flight:
            with self._lock:
                found = self._fresh(key)
                if found is not None:
                    return found
            try:
                series = compute()
            finally:
                with self._lock:
                    self._computing.pop(key, None)
            size = _points(series)
            with self._lock:
                self.computed += 1
                if size <= self.max_points:
                    old = self._entries.pop(key, None)
                    if old is not None:
                        self.points -= _points(old[1])
                    self._entries[key] = (time.monotonic() + self.ttl_s, series)
                    self.points += size
                    while self.points > self.max_points:
                        _, (_, dropped) = self._entries.popitem(last=False)
                        self.points -= _points(dropped)
        return series


def kpi_series(
    db: Executor,
    *,
    level: str = "county",
    start: datetime | None = None,
    end: datetime | None = None,
    bucket: str = "week",
    area: str | None = None,
    target_s: float = 300.0,
    cache: SeriesCache | None = None,
) -> KpiSeries:
    """KPIs of every area of `level` (and the city) for each bucket in [start, end), with the
    figures of `incident_kpis` for each bucket, all buckets in one statement.

    Buckets start at `start` (default: DEFAULT_WEEKS buckets before `end`, which defaults to
    now); the last one may be shorter. At most MAX_BUCKETS buckets. With `cache`, a series
    asked for again within its time to live is not computed again."""
    if level not in AREA_LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(AREA_LEVELS)}.", field="level")
    if bucket not in BUCKETS:
        raise InvalidInput(f"bucket must be one of {', '.join(BUCKETS)}.", field="bucket")
    step = BUCKETS[bucket]
    end = end or datetime.now(UTC)
    if end.tzinfo is None:
        raise InvalidInput("to must be a timestamp with a time zone.", field="to")
    start = start or end - DEFAULT_WEEKS * step
    if start.tzinfo is None:
        raise InvalidInput("from must be a timestamp with a time zone.", field="from")
    if end <= start:
        raise InvalidInput("to must be later than from.", field="to")
    if (end - start) / step > MAX_BUCKETS:
        raise InvalidInput(
            f"from..to spans more than {MAX_BUCKETS} {bucket}s; choose a shorter range.",
            field="from",
        )
    check_target(target_s)
    generation_id, prefix, min_level = area_scope(db, area)
    levels = ["city"] if level == "city" else ["city", level]

    def compute() -> KpiSeries:
        buckets: list[datetime] = []
        at = start
        while at < end:
            buckets.append(at)
            at += step
        rows = incidents_sql.incident_kpi_series(
            db,
            generation_id=generation_id,
            start=start,
            end=end,
            step_s=step.total_seconds(),
            buckets=len(buckets),
            target_s=float(target_s),
            grid_prefix=prefix,
            min_level=min_level,
            levels=levels,
        )
        lines: dict[str, dict[str, Any]] = {}
        for r in rows:
            row = kpi_row(r)
            at = buckets[int(r["bucket"])]
            line = lines.setdefault(
                row.code or "",
                {"code": row.code, "name": row.name, "level": row.level, "points": []},
            )
            line["points"].append({"start": at, "end": min(at + step, end), **_point(row)})
        return KpiSeries(
            level=level,
            bucket=bucket,
            start=start,
            end=end,
            target_s=float(target_s),
            city_promise_share=CITY_PROMISE_SHARE,
            buckets=buckets,
            series=sorted(lines.values(), key=lambda s: (s["level"] != "city", s["code"] or "")),
        )

    if cache is None:
        return compute()
    key = (generation_id, level, start, end, bucket, area, float(target_s))
    return cache.get(key, compute)


# -- the chart ------------------------------------------------------------------------------------
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
    "#393b79",
    "#637939",
)
WIDTH, HEIGHT = 760, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 190, 24, 40


def series_svg(series: KpiSeries, metric: str, *, title: str = "", promise_label: str = "") -> str:
    """A line chart of `metric` (one line per area, the city thicker) as a standalone SVG
    document; share metrics get a dashed line at the city's promise. Every text is escaped."""
    if metric not in METRICS:
        raise InvalidInput(f"metric must be one of {', '.join(METRICS)}.", field="metric")
    share = metric in SHARE_METRICS
    values = [p[metric] for line in series.series for p in line["points"] if p[metric] is not None]
    if share:
        low = min([*values, series.city_promise_share, 1.0]) if values else 0.0
        low = max(0.0, min(low, series.city_promise_share) - 0.05)
        high = 1.0
    else:
        low, high = 0.0, (max(values) * 1.1 if values else 1.0) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(len(series.buckets), 1)

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - (v - low) / (high - low if high > low else 1))

    def label(v: float) -> str:
        return f"{v * 100:.0f}%" if share else f"{v:.0f}s"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
        f'<text x="{LEFT}" y="15" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for i in range(5):
        v = low + (high - low) * i / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            'stroke="#e3e3e3"/>'
            f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{label(v)}</text>'
        )
    every = max(1, n // 8)
    for i, at in enumerate(series.buckets):
        if i % every == 0:
            parts.append(
                f'<text x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
                f"{at:%m-%d}</text>"
            )
    if share:
        py = y(series.city_promise_share)
        parts.append(
            f'<line class="promise" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{py:.1f}" y2="{py:.1f}" '
            'stroke="#c00" stroke-dasharray="6 4" stroke-width="1.5"/>'
            f'<text x="{LEFT + plot_w - 4}" y="{py - 5:.1f}" text-anchor="end" fill="#c00">'
            f"{escape(promise_label)} {series.city_promise_share * 100:.2f}%</text>"
        )
    for index, line in enumerate(series.series):
        colour = "#000" if line["level"] == "city" else PALETTE[index % len(PALETTE)]
        width = 3 if line["level"] == "city" else 1.5
        points = [
            f"{x(i):.1f},{y(p[metric]):.1f}"
            for i, p in enumerate(line["points"])
            if p[metric] is not None
        ]
        name = line["name"] or line["code"] or ""
        if points:
            parts.append(
                f'<polyline data-code={quoteattr(line["code"] or "")} fill="none" '
                f'stroke="{colour}" stroke-width="{width}" points="{" ".join(points)}"/>'
            )
        ly = TOP + 14 * index + 8
        parts.append(
            f'<line x1="{WIDTH - RIGHT + 12}" x2="{WIDTH - RIGHT + 30}" y1="{ly - 4}" '
            f'y2="{ly - 4}" stroke="{colour}" stroke-width="{width}"/>'
            f'<text x="{WIDTH - RIGHT + 34}" y="{ly}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
