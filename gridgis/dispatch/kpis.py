"""Incident KPIs per area at every level, computed by SQL aggregates in one statement.

Definitions (incidents reported in [start, end)):
- response time: first arrival (any responder) minus reported_at; incidents without an
  arrival have none and are "not attended".
- within target: response time <= target_s (settings `eta_target_s`, default 300 s). The rate
  is over attended incidents, overall and for urban grids (grid kind `community`).
- median / p90: percentile_cont over attended incidents' response times, in seconds.
- diverted share: non-police incidents whose category diverts to people's mediation and that
  had a mediator dispatched or were referred, over all non-police incidents.
- resolved on site share: incidents resolved after an arrival, over attended incidents.
Incidents outside every grid are reported separately (`outside_grids`), never in an area.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gridgis.boundaries import sql as boundaries_sql
from gridgis.db import Executor
from gridgis.dispatch.incidents import area_grid_prefix
from gridgis.dispatch.sql import incidents as incidents_sql
from gridgis.errors import InvalidInput
from gridgis.vocabulary import AREA_LEVELS

DEFAULT_PERIOD = timedelta(days=30)


@dataclass(frozen=True)
class KpiRow:
    """The KPIs of one area (or of the incidents outside every grid)."""

    level: str
    code: str | None
    name: str | None
    parent_code: str | None
    incidents: int
    attended: int
    within_target: int
    within_target_rate: float | None
    urban_attended: int
    urban_within_target: int
    urban_within_target_rate: float | None
    median_response_s: float | None
    p90_response_s: float | None
    non_police: int
    diverted: int
    diverted_share: float | None
    resolved_on_site: int
    resolved_on_site_share: float | None


@dataclass(frozen=True)
class KpiReport:
    """KPIs for every area of the hierarchy (or of one area and its descendants)."""

    start: datetime
    end: datetime
    target_s: float
    area: str | None
    generation: int
    areas: list[KpiRow]
    outside_grids: KpiRow | None


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def _row(r: Mapping[str, Any]) -> KpiRow:
    return KpiRow(
        level=r["level"],
        code=r["code"],
        name=r["name"],
        parent_code=r["parent_code"],
        incidents=int(r["incidents"]),
        attended=int(r["attended"]),
        within_target=int(r["within_target"]),
        within_target_rate=_share(int(r["within_target"]), int(r["attended"])),
        urban_attended=int(r["urban_attended"]),
        urban_within_target=int(r["urban_within_target"]),
        urban_within_target_rate=_share(int(r["urban_within_target"]), int(r["urban_attended"])),
        median_response_s=_seconds(r["median_response_s"]),
        p90_response_s=_seconds(r["p90_response_s"]),
        non_police=int(r["non_police"]),
        diverted=int(r["diverted"]),
        diverted_share=_share(int(r["diverted"]), int(r["non_police"])),
        resolved_on_site=int(r["resolved_on_site"]),
        resolved_on_site_share=_share(int(r["resolved_on_site"]), int(r["attended"])),
    )


def _aware(value: Any, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{name} must be a timestamp with a time zone.", field=name)
    return value


def incident_kpis(
    db: Executor,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    area: str | None = None,
    target_s: float = 300.0,
    levels: Sequence[str] = AREA_LEVELS,
) -> KpiReport:
    """KPIs per area (city, county, township, grid) of the active generation.

    Incidents reported in [start, end) count (default: the 30 days before now). With `area`,
    that area and its descendants; `levels` limits which levels are returned. Every area
    appears, with zero counts when it had no incident.
    """
    end = _aware(end, "to") if end is not None else datetime.now(UTC)
    try:
        start = _aware(start, "from") if start is not None else end - DEFAULT_PERIOD
    except OverflowError:
        raise InvalidInput("to is too early.", field="to") from None
    if end <= start:
        raise InvalidInput("to must be later than from.", field="to")
    if not (isinstance(target_s, int | float) and 0 < target_s < 86_400 * 7):
        raise InvalidInput("target_s must be a positive number of seconds.", field="target_s")
    unknown = [level for level in levels if level not in AREA_LEVELS]
    if unknown or not levels:
        raise InvalidInput(f"level must be some of {', '.join(AREA_LEVELS)}.", field="level")
    generation_id = boundaries_sql.active_generation_id(db)
    prefix = None
    min_level = "city"
    if area is not None:
        prefix = area_grid_prefix(db, area)
        min_level = str(incidents_sql.area_level(db, generation_id, area))
    rows = incidents_sql.incident_kpis(
        db,
        generation_id=generation_id,
        start=start,
        end=end,
        target_s=float(target_s),
        grid_prefix=prefix,
        min_level=min_level,
        levels=levels,
        with_outside=area is None,
    )
    kpis = [_row(r) for r in rows]
    return KpiReport(
        start=start,
        end=end,
        target_s=float(target_s),
        area=area,
        generation=generation_id,
        areas=[k for k in kpis if k.level != "outside"],
        outside_grids=next((k for k in kpis if k.level == "outside"), None),
    )
