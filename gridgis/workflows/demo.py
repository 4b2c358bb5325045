"""Modelled patrol activity and service posts for the demo (seeded; labelled as modelled data).

Patrols go through the library's own rules (reserve, grab, cancel, check in and out) with the
clock set to each moment of the modelled weeks, so the figures and maps are built from the
same rows real use would write. Service posts are written set-wise: 18,000 cadres' posts are
one statement, not 18,000 claims."""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from gridgis.db import Executor
from gridgis.errors import GridgisError, InvalidInput
from gridgis.workflows import patrols
from gridgis.workflows.patrols import Acting, PatrolRules, PatrolSpec

DEMO = "demo"
SHANGHAI = ZoneInfo("Asia/Shanghai")
UNIT_KINDS = ("企业志愿队", "学校", "居委会", "志愿服务队")
# Typical patrol shifts (local time): evening rounds and weekend mornings.
SHIFTS = ((19, 0, 2.0), (20, 0, 2.0), (9, 0, 2.5), (14, 30, 2.0))
POSTS_COMMUNITY = (
    "elderly visits 关爱老人走访",
    "safety inspection 安全巡查",
    "dispute watch 矛盾纠纷排查",
    "environment 环境卫生督导",
    "policy outreach 政策宣传",
    "youth care 青少年关爱",
    "fire safety 消防安全检查",
    "residents' voice 民情收集",
    "flood watch 防汛巡查",
    "services for the disabled 助残服务",
)
POSTS_VILLAGE = (
    "elderly visits 关爱老人走访",
    "safety inspection 安全巡查",
    "dispute watch 矛盾纠纷排查",
    "left-behind children 留守儿童关爱",
    "fire safety 消防安全检查",
    "farmland and water 农田水利巡查",
    "policy outreach 政策宣传",
    "flood watch 防汛巡查",
    "residents' voice 民情收集",
    "environment 环境卫生督导",
)


Progress = Callable[[str, int, int], None]


@dataclass
class PatrolDemoSummary:
    """What `generate_patrols` wrote."""

    units: int = 0
    tasks: int = 0
    claims: int = 0
    cancelled: int = 0
    no_shows: int = 0
    check_ins: int = 0
    check_outs: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    start: datetime | None = None
    end: datetime | None = None
    seconds: float = 0.0


def _shift_start(day: datetime, shift: tuple[int, int, float]) -> datetime:
    return day.replace(hour=shift[0], minute=shift[1], second=0, microsecond=0).astimezone(UTC)


def _jitter(rng: random.Random, lon: float, lat: float, metres: float) -> tuple[float, float]:
    """A point within about `metres` of (lon, lat)."""
    return (
        lon + rng.uniform(-metres, metres) / 101_000.0,
        lat + rng.uniform(-metres, metres) / 111_000.0,
    )


def remove_demo_patrols(db: Executor) -> int:
    """Delete the demo units and everything they reserved; returns how many units."""
    db.execute(
        text("DELETE FROM patrol_tasks WHERE unit_id IN (SELECT id FROM units WHERE source = :s)"),
        {"s": DEMO},
    )
    removed = db.execute(text("DELETE FROM units WHERE source = :s RETURNING id"), {"s": DEMO})
    return len(removed.all())


def generate_patrols(
    db: Executor,
    *,
    weeks: int = 4,
    seed: int = 2080,
    units: int = 60,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> PatrolDemoSummary:
    """Replace the demo patrols: `units` units reserving tasks over the last `weeks` weeks and
    the coming one, volunteers living nearby grabbing them, some cancelling (late ones are
    no-shows), most checking in and out. Needs the demo loaded first."""
    if not 1 <= weeks <= 52:
        raise InvalidInput("weeks must be between 1 and 52.", field="weeks")
    if not 1 <= units <= 1000:
        raise InvalidInput("units must be between 1 and 1,000.", field="units")
    began = time.perf_counter()
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    rng = random.Random(seed)
    summary = PatrolDemoSummary()
    remove_demo_patrols(db)
    grids = [
        (r.code, r.name, r.parent_code, float(r.lon), float(r.lat))
        for r in db.execute(
            text(
                "SELECT a.code, a.name, a.parent_code, ST_X(ST_PointOnSurface(a.geom)) AS lon, "
                "ST_Y(ST_PointOnSurface(a.geom)) AS lat FROM areas a "
                "JOIN generations g ON g.id = a.generation_id AND g.active "
                "WHERE a.level = 'grid' ORDER BY a.code"
            )
        )
    ]
    if not grids:
        raise InvalidInput("Load the demo first (gridgis demo load).", field="demo")
    by_township: dict[str, list[tuple[str, str, str, float, float]]] = defaultdict(list)
    for g in grids:
        by_township[g[2]].append(g)
    volunteers_by_township: dict[str, list[int]] = defaultdict(list)
    volunteers_by_county: dict[str, list[int]] = defaultdict(list)
    for r in db.execute(
        text(
            "SELECT id, home_grid_code FROM responders WHERE role = 'volunteer' "
            "AND home_grid_code IS NOT NULL ORDER BY id"
        )
    ):
        volunteers_by_township[r.home_grid_code[:9]].append(int(r.id))
        volunteers_by_county[r.home_grid_code[:6]].append(int(r.id))
    rules = PatrolRules()
    acting = Acting(actor=DEMO)
    first_day = (now.astimezone(SHANGHAI) - timedelta(weeks=weeks)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    last_day = now.astimezone(SHANGHAI) + timedelta(days=7)
    summary.start, summary.end = first_day.astimezone(UTC), last_day.astimezone(UTC)
    homes = rng.sample(grids, min(units, len(grids)))
    plans: list[tuple[datetime, dict[str, Any], tuple[str, str, str, float, float]]] = []
    for index, home in enumerate(homes):
        kind = UNIT_KINDS[index % len(UNIT_KINDS)]
        created = (
            db.execute(
                text(
                    "INSERT INTO units (name, contact, grid_code, source, created_at) "
                    "VALUES (:name, :contact, :grid, :source, :at) RETURNING id"
                ),
                {
                    "name": f"{home[1]}{kind}{index + 1:03d}",
                    "contact": f"0596-{rng.randrange(2_000_000, 9_999_999)}",
                    "grid": home[0],
                    "source": DEMO,
                    "at": first_day - timedelta(days=30),
                },
            )
            .mappings()
            .one()
        )
        summary.units += 1
        day = first_day
        while day < last_day:
            # Two or three rounds a week, on random days and shifts.
            for _ in range(rng.choice((1, 2, 2, 3))):
                when = day + timedelta(days=rng.randrange(7))
                plans.append((when, {"unit_id": created["id"]}, home))
            day += timedelta(days=7)
    plans.sort(key=lambda p: (p[0], p[1]["unit_id"]))
    total = len(plans)
    for done, (day, unit, home) in enumerate(plans, start=1):
        if progress is not None and done % 25 == 0:
            progress("patrols", done, total)
        start = _shift_start(day, rng.choice(SHIFTS))
        if start >= summary.end:
            continue
        hours = rng.choice((1.5, 2.0, 2.0, 2.5, 3.0))
        township_grids = by_township[home[2]]
        area = [home, *rng.sample(township_grids, min(len(township_grids), rng.randrange(0, 3)))]
        codes = list(dict.fromkeys(g[0] for g in area))
        created_at = start - timedelta(days=rng.uniform(2, 10))
        try:
            task = patrols.create_patrol(
                db,
                PatrolSpec(
                    unit_id=unit["unit_id"],
                    start=start,
                    end=start + timedelta(hours=hours),
                    slots=rng.randrange(3, 11),
                    grid_codes=codes,
                    title=f"{home[1]}巡逻 (modelled)",
                    required_role="volunteer" if rng.random() < 0.3 else None,
                ),
                rules,
                acting=acting,
                now=created_at,
            )
        except GridgisError as exc:
            summary.refused[exc.code] = summary.refused.get(exc.code, 0) + 1
            continue
        summary.tasks += 1
        pool = volunteers_by_township.get(home[2]) or volunteers_by_county.get(home[0][:6], [])
        if not pool:
            continue
        fill = rng.uniform(0.5, 1.15)
        wanted = min(len(pool), round(task["slots"] * fill) + 1)
        grab_until = min(start, now)
        if grab_until <= created_at:
            continue
        span = (grab_until - created_at).total_seconds()
        lon, lat = home[3], home[4]
        for volunteer in rng.sample(pool, wanted):
            grabbed_at = created_at + timedelta(seconds=rng.uniform(60, span))
            try:
                claim = patrols.grab(db, task["id"], volunteer, acting=acting, now=grabbed_at)
            except GridgisError as exc:
                summary.refused[exc.code] = summary.refused.get(exc.code, 0) + 1
                continue
            summary.claims += 1
            roll = rng.random()
            if roll < 0.08:  # cancels: a third of them too late (no-show)
                late = rng.random() < 0.35
                cancel_at = (
                    start - timedelta(minutes=rng.uniform(10, 100))
                    if late
                    else grabbed_at + (start - grabbed_at) * rng.uniform(0.05, 0.5)
                )
                if cancel_at <= grabbed_at or cancel_at > now:
                    continue
                ended = patrols.cancel_claim(
                    db, task["id"], volunteer, rules, acting=acting, now=cancel_at
                )
                if ended["status"] == "no_show":
                    summary.no_shows += 1
                else:
                    summary.cancelled += 1
                continue
            if roll < 0.14:  # never turns up: counted as a no-show once the task has ended
                continue
            check_in_at = start + timedelta(minutes=rng.uniform(-15, 20))
            if check_in_at > now:
                continue
            x, y = _jitter(rng, lon, lat, 60)
            patrols.check_in(
                db,
                task["id"],
                claim.claim["responder_id"],
                x,
                y,
                rules,
                acting=acting,
                now=check_in_at,
                live_fix=False,
            )
            summary.check_ins += 1
            check_out_at = start + timedelta(hours=hours, minutes=rng.uniform(-25, 15))
            if rng.random() < 0.9 and check_in_at < check_out_at <= now:
                x, y = _jitter(rng, lon, lat, 60)
                patrols.check_out(
                    db,
                    task["id"],
                    volunteer,
                    x,
                    y,
                    rules,
                    acting=acting,
                    now=check_out_at,
                    live_fix=False,
                )
                summary.check_outs += 1
    summary.seconds = time.perf_counter() - began
    return summary


@dataclass
class PostDemoSummary:
    """What `generate_service_posts` wrote."""

    posts: int = 0
    claimed: int = 0
    cadres_with_posts: int = 0
    grids: int = 0
    grids_all_claimed: int = 0
    seconds: float = 0.0


def generate_service_posts(
    db: Executor, *, seed: int = 2080, posts_per_grid: tuple[int, int] = (8, 10)
) -> PostDemoSummary:
    """Replace the demo service posts: every grid offers a seeded number of posts (community
    or village catalogue), and the party cadres take them, each in their home grid first,
    then elsewhere in their township, then in their county, one post per cadre."""
    low, high = posts_per_grid
    if not 1 <= low <= high <= min(len(POSTS_COMMUNITY), len(POSTS_VILLAGE)):
        raise InvalidInput("posts per grid must be 1-10 (low <= high).", field="posts_per_grid")
    began = time.perf_counter()
    rng = random.Random(seed)
    db.execute(text("DELETE FROM service_posts WHERE source = :s"), {"s": DEMO})
    grids = [
        (r.code, r.kind)
        for r in db.execute(
            text(
                "SELECT a.code, a.kind FROM areas a "
                "JOIN generations g ON g.id = a.generation_id AND g.active "
                "WHERE a.level = 'grid' ORDER BY a.code"
            )
        )
    ]
    if not grids:
        raise InvalidInput("Load the demo first (gridgis demo load).", field="demo")
    post_grid: list[str] = []
    post_name: list[str] = []
    for code, kind in grids:
        catalogue = POSTS_COMMUNITY if kind == "community" else POSTS_VILLAGE
        for name in rng.sample(catalogue, rng.randint(low, high)):
            post_grid.append(code)
            post_name.append(name)
    rows = db.execute(
        text(
            "INSERT INTO service_posts (grid_code, name, source) "
            "SELECT g, n, :s FROM unnest(CAST(:grids AS varchar[]), CAST(:names AS varchar[])) "
            "AS t(g, n) RETURNING id, grid_code"
        ),
        {"grids": post_grid, "names": post_name, "s": DEMO},
    )
    vacant: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        vacant[r.grid_code].append(int(r.id))
    # Cadres already holding posts (claimed through the API) keep them and are not given more.
    cadres = [
        (int(r.id), r.home_grid_code)
        for r in db.execute(
            text(
                "SELECT r.id, r.home_grid_code FROM responders r WHERE r.role = 'party_cadre' "
                "AND r.home_grid_code IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                "service_post_claims c WHERE c.responder_id = r.id AND c.status = 'active') "
                "ORDER BY r.id"
            )
        )
    ]
    rng.shuffle(cadres)
    for posts in vacant.values():
        rng.shuffle(posts)
    by_township: dict[str, list[str]] = defaultdict(list)
    for code in vacant:
        by_township[code[:9]].append(code)
    claim_post: list[int] = []
    claim_cadre: list[int] = []
    waiting: list[tuple[int, str]] = []
    for cadre, home in cadres:
        if vacant.get(home):
            claim_post.append(vacant[home].pop())
            claim_cadre.append(cadre)
        else:
            waiting.append((cadre, home))
    by_county: dict[str, list[str]] = defaultdict(list)
    for code in vacant:
        by_county[code[:6]].append(code)
    # Then in their township, then in their county.
    for cadre, home in waiting:
        for nearby_grids in (by_township.get(home[:9], []), by_county.get(home[:6], [])):
            nearby = [g for g in nearby_grids if vacant[g]]
            if nearby:
                claim_post.append(vacant[rng.choice(nearby)].pop())
                claim_cadre.append(cadre)
                break
    db.execute(
        text(
            "INSERT INTO service_post_claims (post_id, responder_id) "
            "SELECT p, c FROM unnest(CAST(:posts AS bigint[]), CAST(:cadres AS bigint[])) "
            "AS t(p, c)"
        ),
        {"posts": claim_post, "cadres": claim_cadre},
    )
    summary = PostDemoSummary(
        posts=len(post_grid),
        claimed=len(claim_post),
        cadres_with_posts=len(set(claim_cadre)),
        grids=len(grids),
        grids_all_claimed=sum(1 for code, _ in grids if not vacant.get(code)),
    )
    summary.seconds = time.perf_counter() - began
    return summary
