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
- mediation success rate: diverted matters (non-police, diverting category) settled by
  mediation (`mediated_success`), over those with a mediation outcome (settled, failed, or
  referred on after a mediator was dispatched).
- settled on the spot rate: attended non-police ("non-illegal") matters resolved on site or
  settled by mediation after an arrival, over attended non-police matters.
- follow-up reach rate: closed incidents whose reporter was reached by the follow-up call,
  over closed incidents (a closed incident with no follow-up yet counts as not reached).
- follow-up satisfaction rate: satisfied answers over reached reporters who answered.
Each of the last four is reported beside the city's published figure (PUBLISHED).
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

PUBLISHED_SOURCE = (
    "Zhangzhou's published figures for 110 non-police matters and the 平安漳州e家 app: "
    "mediation success 80 %, non-illegal matters settled on the spot 93.2 %, every case "
    "followed up with a callback, 回访 satisfaction 100 %"
)


@dataclass(frozen=True)
class PublishedFigure:
    """A rate the city has published, to be shown beside the measured one."""

    rate: float
    source: str


# The city's published figures, beside which the measured rates are reported.
PUBLISHED: dict[str, PublishedFigure] = {
    "mediation_success_rate": PublishedFigure(0.80, PUBLISHED_SOURCE),
    "settled_on_spot_rate": PublishedFigure(0.932, PUBLISHED_SOURCE),
    "follow_up_reach_rate": PublishedFigure(1.0, PUBLISHED_SOURCE),
    "follow_up_satisfaction_rate": PublishedFigure(1.0, PUBLISHED_SOURCE),
}


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
    mediation_outcomes: int
    mediated_success: int
    mediation_success_rate: float | None
    non_police_attended: int
    settled_on_spot: int
    settled_on_spot_rate: float | None
    closed: int
    followed_up: int
    follow_up_reached: int
    follow_up_reach_rate: float | None
    follow_up_answered: int
    follow_up_satisfied: int
    follow_up_satisfaction_rate: float | None


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
    published: dict[str, PublishedFigure]


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def kpi_row(r: Mapping[str, Any]) -> KpiRow:
    """A KpiRow from one row of the KPI statement (counts in, rates computed)."""
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
        mediation_outcomes=int(r["mediation_outcomes"]),
        mediated_success=int(r["mediated_success"]),
        mediation_success_rate=_share(int(r["mediated_success"]), int(r["mediation_outcomes"])),
        non_police_attended=int(r["non_police_attended"]),
        settled_on_spot=int(r["settled_on_spot"]),
        settled_on_spot_rate=_share(int(r["settled_on_spot"]), int(r["non_police_attended"])),
        closed=int(r["closed"]),
        followed_up=int(r["followed_up"]),
        follow_up_reached=int(r["follow_up_reached"]),
        follow_up_reach_rate=_share(int(r["follow_up_reached"]), int(r["closed"])),
        follow_up_answered=int(r["follow_up_answered"]),
        follow_up_satisfied=int(r["follow_up_satisfied"]),
        follow_up_satisfaction_rate=_share(
            int(r["follow_up_satisfied"]), int(r["follow_up_answered"])
        ),
    )


def _aware(value: Any, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{name} must be a timestamp with a time zone.", field=name)
    return value


def check_target(target_s: float) -> None:
    """InvalidInput naming `target_s` unless it is a positive number of seconds (< 1 week)."""
    if not (isinstance(target_s, int | float) and 0 < target_s < 86_400 * 7):
        raise InvalidInput("target_s must be a positive number of seconds.", field="target_s")


def area_scope(db: Executor, area: str | None) -> tuple[int, str | None, str]:
    """(active generation, grid-code prefix of `area`, its level): what KPIs are counted over
    (the whole city when `area` is None); NotFound for an unknown area."""
    generation_id = boundaries_sql.active_generation_id(db)
    if area is None:
        return generation_id, None, "city"
    prefix = area_grid_prefix(db, area)
    return generation_id, prefix, str(incidents_sql.area_level(db, generation_id, area))


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
    check_target(target_s)
    unknown = [level for level in levels if level not in AREA_LEVELS]
    if unknown or not levels:
        raise InvalidInput(f"level must be some of {', '.join(AREA_LEVELS)}.", field="level")
    generation_id, prefix, min_level = area_scope(db, area)
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
    kpis = [kpi_row(r) for r in rows]
    return KpiReport(
        start=start,
        end=end,
        target_s=float(target_s),
        area=area,
        generation=generation_id,
        areas=[k for k in kpis if k.level != "outside"],
        outside_grids=next((k for k in kpis if k.level == "outside"), None),
        published=PUBLISHED,
    )
