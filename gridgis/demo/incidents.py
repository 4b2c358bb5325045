"""A modelled incident history for the demo: seeded, written set-wise, replaced on every run.

Everything here is a modelling assumption, labelled as such in each description: category
shares loosely follow the mix of 110 and grid reports in Chinese city statistics (disputes and
traffic are the largest groups, drugs the smallest), calls follow a diurnal curve peaking in
the evening, locations follow grid population. Each incident is dispatched to its top
recommendation, who arrives after their ETA (from the project's one ETA model) with seeded
noise; it is then resolved on site or referred, per category, and closed. A dispute sent to a
mediator is settled on the spot (`mediated_success`) or referred to the mediation committee,
whose mediation then succeeds or fails; each closed incident's reporter is called back a day
or so later (follow-up: reached or not, satisfied or not).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
from sqlalchemy import Connection

from gridgis.boundaries import sql as boundaries_sql
from gridgis.demo import sql as demo_sql
from gridgis.demo.load import _copy_rows
from gridgis.demo.recommend import recommend_many
from gridgis.dispatch.eta import EtaModel, setting_of_kind
from gridgis.dispatch.incidents import CategoryRoute, categories, next_status

Progress = Callable[[str, int, int], None]

DEMO_SOURCE = "demo"
CHINA_TIME = timezone(timedelta(hours=8), "Asia/Shanghai")

# Modelled share of each category among reports (weights; normalised over the categories that
# exist). A category added later without a weight here gets DEFAULT_WEIGHT.
CATEGORY_WEIGHTS: Mapping[str, float] = {
    "traffic_accident": 14,
    "neighbour_dispute": 13,
    "theft": 10,
    "noise": 9,
    "family_dispute": 8,
    "sanitation": 8,
    "public_facility": 7,
    "fight": 7,
    "fraud": 6,
    "vulnerable_assistance": 6,
    "labour_dispute": 4,
    "property_dispute": 4,
    "missing_person": 2,
    "drugs": 1,
}
DEFAULT_WEIGHT = 2.0

# Modelled probability that a matter is resolved on site; otherwise it is referred on (police
# matters to a case team, disputes to the people's mediation committee, services to a bureau).
RESOLVED_ON_SITE: Mapping[str, float] = {
    "traffic_accident": 0.85,
    "neighbour_dispute": 0.6,
    "theft": 0.3,
    "noise": 0.9,
    "family_dispute": 0.65,
    "sanitation": 0.7,
    "public_facility": 0.5,
    "fight": 0.55,
    "fraud": 0.15,
    "vulnerable_assistance": 0.9,
    "labour_dispute": 0.35,
    "property_dispute": 0.45,
    "missing_person": 0.8,
    "drugs": 0.1,
}
DEFAULT_ON_SITE = 0.6

# Modelled relative call volume per local hour (0-23): lowest before dawn, a morning rise,
# a lunchtime plateau and an evening peak at 19-22 h.
# fmt: off
DIURNAL = np.array([3, 2, 1.5, 1.2, 1.2, 1.8, 3, 4.5, 5.5, 6, 6, 6.2,
                    6, 5.5, 5.5, 5.8, 6, 6.5, 7.5, 8.5, 9, 8.5, 7, 5])
# fmt: on

# Modelled: of the disputes the committee takes on after a referral, the share it settles.
MEDIATION_SUCCESS_AFTER_REFERRAL = 0.55
# Modelled follow-up calls: the share of reporters reached, and of those who answer, the share
# satisfied; a few reached reporters give no answer.
FOLLOW_UP_REACHED = 0.95
FOLLOW_UP_NO_ANSWER = 0.03
FOLLOW_UP_SATISFIED = 0.96
DEMO_RECORDER = "demo"

REFERRAL_NOTES = {
    "police": "移交派出所/刑侦部门办理 (referred to the police case team)",
    "mediation": "移交人民调解委员会 (referred to the people's mediation committee)",
    "service": "转相关职能部门处置 (referred to the responsible bureau)",
}
MEDIATION_NOTES = {
    "on_site": "现场调解成功 (settled by the mediator on the spot)",
    "mediated_success": "调解委员会调解成功 (settled by the mediation committee)",
    "mediated_failed": "调解未成功，告知诉讼途径 (mediation failed; parties told of the courts)",
}


@dataclass(frozen=True)
class IncidentDemoSummary:
    """What `gridgis demo incidents` wrote."""

    seed: int
    incidents: int
    events: int
    follow_ups: int
    removed: int
    outside_grids: int
    exact_recommendations: int
    start: datetime
    end: datetime
    by_status: dict[str, int]
    by_category: dict[str, int]
    seconds: float


def default_end(now: datetime) -> datetime:
    """Midnight (China time) at the start of `now`'s day: the history ends there."""
    local = now.astimezone(CHINA_TIME)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _weights(codes: Sequence[str], table: Mapping[str, float], default: float) -> np.ndarray:
    w = np.array([table.get(c, default) for c in codes], dtype=np.float64)
    return w / w.sum()


def _lognormal(rng: np.random.Generator, median: float, sigma: float, size: int) -> np.ndarray:
    return np.asarray(median * np.exp(rng.normal(0.0, sigma, size)))


def _referral_note(route: CategoryRoute) -> str:
    if route.police_matter:
        return REFERRAL_NOTES["police"]
    return REFERRAL_NOTES["mediation" if route.divert_to_mediation else "service"]


def _timeline(
    route: CategoryRoute,
    reported_at: datetime,
    top: Mapping[str, Any] | None,
    delays: Mapping[str, float],
    on_site: bool,
    now: datetime,
    mediation_succeeds: bool = False,
) -> tuple[list[dict[str, Any]], str]:
    """The modelled events of one incident and its resulting status (events after `now` are
    left out: those incidents are still in progress)."""
    if top is None:
        return [], "open"
    responder = int(top["responder_id"])
    role = str(top["role"])
    dispatched = reported_at + timedelta(seconds=delays["dispatch"])
    arrived = dispatched + timedelta(seconds=delays["travel"])
    finished = arrived + timedelta(seconds=delays["handling"])
    closed = finished + timedelta(seconds=delays["closing"])
    mediation = route.divert_to_mediation and role == "mediator"
    steps: list[tuple[str, int | None, str | None, datetime, str]] = [
        ("dispatched", responder, role, dispatched, ""),
        ("arrived", responder, role, arrived, ""),
    ]
    if on_site and mediation:
        steps.append(("mediated_success", None, None, finished, MEDIATION_NOTES["on_site"]))
    elif on_site:
        steps.append(("resolved", responder, role, finished, "现场处置完毕 (resolved on site)"))
    else:
        steps.append(("referred", responder, role, finished, _referral_note(route)))
        if route.divert_to_mediation:
            # The committee reports its outcome shortly before the matter is closed.
            outcome = "mediated_success" if mediation_succeeds else "mediated_failed"
            reported_back = finished + (closed - finished) * 0.9
            steps.append((outcome, None, None, reported_back, MEDIATION_NOTES[outcome]))
    steps.append(("closed", None, None, closed, ""))
    events: list[dict[str, Any]] = []
    status = "open"
    for type_, responder_id, responder_role, at, note in steps:
        if at > now:
            break
        # The modelled history obeys the same state machine as the API.
        status = next_status(
            status,
            reported_at,
            events,
            type_,
            responder_id,
            at,
            diverts=route.divert_to_mediation,
        )
        events.append(
            {
                "seq": len(events) + 1,
                "type": type_,
                "responder_id": responder_id,
                "responder_role": responder_role,
                "at": at,
                "note": note,
            }
        )
    return events, status


def generate_incidents(
    conn: Connection,
    count: int,
    seed: int,
    model: EtaModel,
    progress: Progress | None = None,
    *,
    days: int = 30,
    end: datetime | None = None,
    now: datetime | None = None,
    stale_after_s: float = 900.0,
) -> IncidentDemoSummary:
    """Replace the demo incidents with `count` modelled ones over the `days` before `end`.

    The same seed (and `end`) gives the same incidents; the caller commits. `end` defaults to
    today's midnight, China time; events later than `now` are not written.
    """
    if count < 0 or days < 1:
        raise ValueError("count must be >= 0 and days >= 1")
    clock = time.perf_counter()
    step = progress or (lambda stage, done, total: None)
    now = now or datetime.now(UTC)
    end = end or default_end(now)
    start = end - timedelta(days=days)
    total_steps = 6

    step("removing", 0, total_steps)
    removed = demo_sql.delete_incidents_by_source(conn, DEMO_SOURCE)
    routes = categories(conn)
    generation_id = boundaries_sql.active_generation_id(conn)
    grids = demo_sql.grids_for_sampling(conn, generation_id)
    if count == 0 or not grids or not routes:
        return IncidentDemoSummary(
            seed, 0, 0, 0, removed, 0, 0, start, end, {}, {}, time.perf_counter() - clock
        )

    step("sampling", 1, total_steps)
    rng = np.random.default_rng([seed, 0x1C1D])
    population = np.array([g["population"] for g in grids], dtype=np.float64) + 1.0
    grid_of = rng.choice(len(grids), size=count, p=population / population.sum())
    codes = [r.code for r in routes]
    category_of = rng.choice(
        len(routes), size=count, p=_weights(codes, CATEGORY_WEIGHTS, DEFAULT_WEIGHT)
    )
    day = rng.integers(0, days, size=count)
    hour = rng.choice(24, size=count, p=DIURNAL / DIURNAL.sum())
    second = rng.uniform(0.0, 3600.0, size=count)
    offsets = day * 86_400.0 + hour * 3_600.0 + np.floor(second)
    # Points inside each chosen grid, drawn by PostGIS (seeded) in one statement.
    per_grid = np.bincount(grid_of, minlength=len(grids))
    drawn = demo_sql.random_points_in_grids(
        conn,
        generation_id,
        [g["code"] for g in grids],
        per_grid.tolist(),
        seed=abs(seed) % 1_000_000 + 1,
    )
    by_grid: dict[str, list[tuple[float, float]]] = {}
    for code, lon, lat in drawn:
        by_grid.setdefault(code, []).append((lon, lat))
    pick = {code: rng.permutation(len(candidates)).tolist() for code, candidates in by_grid.items()}
    taken: Counter[str] = Counter()
    points: list[tuple[float, float]] = []
    for g in grid_of.tolist():
        code = grids[g]["code"]
        points.append(by_grid[code][pick[code][taken[code]]])
        taken[code] += 1
    # Numbered in time order, so external ids read like a dispatch log.
    order = np.lexsort((np.arange(count), offsets))
    points = [points[i] for i in order.tolist()]
    incident_routes = [routes[i] for i in category_of[order].tolist()]
    reported = [start + timedelta(seconds=float(s)) for s in offsets[order].tolist()]

    step("locating", 2, total_steps)
    located = demo_sql.locate_many(
        conn, generation_id, [p[0] for p in points], [p[1] for p in points]
    )

    step("recommending", 3, total_steps)
    recommended, exact = recommend_many(
        conn,
        points,
        located,
        incident_routes,
        model,
        stale_after_s=stale_after_s,
        now=now,
    )

    step("timelines", 4, total_steps)
    dispatch_s = np.clip(_lognormal(rng, 45.0, 0.5, count), 10.0, 900.0)
    noise = np.exp(rng.normal(0.0, 0.25, count))
    # Some responses are held up (address hard to find, blocked road): 8%, 2-15 min extra.
    held_up = np.where(rng.random(count) < 0.08, rng.uniform(120.0, 900.0, count), 0.0)
    handling_s = _lognormal(rng, 25 * 60.0, 0.6, count)
    on_site_p = [RESOLVED_ON_SITE.get(r.code, DEFAULT_ON_SITE) for r in incident_routes]
    on_site = rng.random(count) < np.array(on_site_p)
    # A matter resolved on site is closed within the hour or so; a referred one stays open
    # until the receiving body reports back (a day or two), so recent referrals are still open.
    closing_s = np.where(
        on_site, _lognormal(rng, 3_600.0, 0.8, count), _lognormal(rng, 36 * 3_600.0, 0.8, count)
    )

    mediation_succeeds = rng.random(count) < MEDIATION_SUCCESS_AFTER_REFERRAL
    call_after_s = _lognormal(rng, 20 * 3_600.0, 0.5, count)
    reached = rng.random(count) < FOLLOW_UP_REACHED
    answered = rng.random(count) >= FOLLOW_UP_NO_ANSWER
    satisfied = rng.random(count) < FOLLOW_UP_SATISFIED

    ids = demo_sql.reserve_incident_ids(conn, count)
    incident_rows: list[tuple[Any, ...]] = []
    event_rows: list[tuple[Any, ...]] = []
    follow_up_rows: list[tuple[Any, ...]] = []
    statuses: Counter[str] = Counter()
    for i in range(count):
        route = incident_routes[i]
        recs = recommended[i]
        top = recs[0] if recs else None
        travel = float(top["eta_s"]) * float(noise[i]) + float(held_up[i]) if top else 0.0
        events, status = _timeline(
            route,
            reported[i],
            top,
            {
                "dispatch": float(dispatch_s[i]),
                "travel": travel,
                "handling": float(handling_s[i]),
                "closing": float(closing_s[i]),
            },
            bool(on_site[i]),
            now,
            bool(mediation_succeeds[i]),
        )
        statuses[status] += 1
        called_at = events[-1]["at"] + timedelta(seconds=float(call_after_s[i])) if events else None
        if status == "closed" and called_at is not None and called_at <= now:
            was_reached = bool(reached[i])
            follow_up_rows.append(
                (
                    ids[i],
                    was_reached,
                    bool(satisfied[i]) if was_reached and answered[i] else None,
                    "" if was_reached else "电话未接通 (no answer)",
                    DEMO_RECORDER,
                    called_at.isoformat(),
                )
            )
        lon, lat = points[i]
        grid = located[i]
        snapshot = {
            "at": reported[i].isoformat(),
            "eta_model": model.name,
            "target_s": model.target_s,
            "setting": setting_of_kind(grid[1] if grid else None),
            "responders": recs,
        }
        incident_rows.append(
            (
                ids[i],
                f"demo-{seed}-{i + 1:06d}",
                route.code,
                f"模拟数据 modelled demo incident: {route.name_zh} / {route.name_en}",
                reported[i].isoformat(),
                (reported[i] + timedelta(seconds=5)).isoformat(),
                "wgs84",
                repr(lon),
                repr(lat),
                f"SRID=4326;POINT({lon!r} {lat!r})",
                generation_id if grid else None,
                grid[0] if grid else None,
                grid[1] if grid else None,
                status,
                json.dumps(snapshot, ensure_ascii=False),
                DEMO_SOURCE,
            )
        )
        for e in events:
            event_rows.append(
                (
                    ids[i],
                    e["seq"],
                    e["type"],
                    e["responder_id"],
                    e["responder_role"],
                    e["at"].isoformat(),
                    e["note"],
                )
            )

    step("writing", 5, total_steps)
    _copy_rows(
        conn,
        "incidents",
        (
            "id",
            "external_id",
            "category",
            "description",
            "reported_at",
            "received_at",
            "input_crs",
            "input_lon",
            "input_lat",
            "geom",
            "generation_id",
            "grid_code",
            "grid_kind",
            "status",
            "recommendation",
            "source",
        ),
        incident_rows,
    )
    _copy_rows(
        conn,
        "incident_events",
        ("incident_id", "seq", "type", "responder_id", "responder_role", "at", "note"),
        event_rows,
    )
    _copy_rows(
        conn,
        "incident_follow_ups",
        ("incident_id", "reached", "satisfied", "note", "recorded_by", "recorded_at"),
        follow_up_rows,
    )
    step("done", total_steps, total_steps)
    return IncidentDemoSummary(
        seed=seed,
        incidents=count,
        events=len(event_rows),
        follow_ups=len(follow_up_rows),
        removed=removed,
        outside_grids=sum(1 for g in located if g is None),
        exact_recommendations=exact,
        start=start,
        end=end,
        by_status=dict(sorted(statuses.items())),
        by_category=dict(Counter(r.code for r in incident_routes).most_common()),
        seconds=time.perf_counter() - clock,
    )
