"""Recommendations for the demo history: `recommend` for many incidents at once, set-wise."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from gridgis.db import Executor
from gridgis.demo import sql as demo_sql
from gridgis.dispatch.assignments import team_ids_of_grids
from gridgis.dispatch.eta import EtaModel, Setting, setting_of_kind
from gridgis.dispatch.incidents.recommendation import (
    RECOMMENDATIONS,
    needs_fallback,
    recommend,
    recommended,
)
from gridgis.dispatch.incidents.routing import CategoryRoute
from gridgis.dispatch.nearest import (
    RankedResponder,
    certify_radius_m,
    rank_candidates,
    shortlist_certified,
)
from gridgis.dispatch.sql.nearest import Candidate
from gridgis.vocabulary import AVAILABLE


@dataclass
class _Tier:
    """Set-wise candidates of one recommendation tier for many points."""

    team: dict[int, list[Candidate]] = field(default_factory=lambda: defaultdict(list))
    others: dict[int, list[Candidate]] = field(default_factory=lambda: defaultdict(list))
    # (rows returned, farthest planar distance) per point and role: certifies the shortlist.
    reach: dict[int, list[tuple[int, float]]] = field(default_factory=lambda: defaultdict(list))


def recommend_many(
    db: Executor,
    points: Sequence[tuple[float, float]],
    grids: Sequence[tuple[str, str] | None],
    routes: Sequence[CategoryRoute],
    model: EtaModel,
    *,
    n: int = RECOMMENDATIONS,
    stale_after_s: float = 900.0,
    now: datetime | None = None,
) -> tuple[list[list[dict[str, Any]]], int]:
    """`recommend` for many incidents at once: the same answers, set-wise.

    `grids[i]` is the (code, kind) `locate` gives for `points[i]` (None outside every grid).
    Each role's available responders go into a temporary table with its own GiST index; one
    KNN query per role serves every point, and the shortlist is certified the way
    `nearest_responders` certifies it. A point whose shortlist cannot be certified is
    answered by `recommend` itself. Returns the responder lists and how many needed that.
    """
    now = now or datetime.now(UTC)
    fresh_since = now - timedelta(seconds=stale_after_s)
    roles = sorted({r for route in routes for r in (*route.primary_roles, *route.fallback_roles)})
    pools = {role: i for i, role in enumerate(roles)}
    for role, pool in pools.items():
        demo_sql.build_responder_pool(
            db, pool, role, statuses=(AVAILABLE,), fresh_since=fresh_since
        )
    shortlist = n + 4
    settings: list[Setting] = [setting_of_kind(g[1] if g else None) for g in grids]
    # Every row says whether it is on the incident grid's team, preferred or not.
    members = team_ids_of_grids(db, [g[0] for g in grids if g is not None])
    grid_team = [members.get(g[0], set()) if g is not None else set() for g in grids]

    def tier(
        indices: Sequence[int], roles_of: Callable[[CategoryRoute], tuple[str, ...]]
    ) -> dict[int, list[RankedResponder] | None]:
        found = _Tier()
        by_role: dict[str, list[int]] = defaultdict(list)
        for i in indices:
            for role in roles_of(routes[i]):
                by_role[role].append(i)
        for role, members in by_role.items():
            pool = pools[role]
            lons = [points[i][0] for i in members]
            lats = [points[i][1] for i in members]
            team_of = [_team_grid(grids[i], routes[i]) for i in members]
            rows = demo_sql.pool_nearest_many(db, pool, members, lons, lats, team_of, shortlist)
            counts: dict[int, list[float]] = defaultdict(list)
            for i, candidate in rows:
                found.others[i].append(candidate)
                counts[i].append(candidate.planar or 0.0)
            for i in members:
                planars = counts.get(i, [])
                found.reach[i].append((len(planars), max(planars, default=0.0)))
            with_team = [j for j, grid in enumerate(team_of) if grid is not None]
            if with_team:
                team_rows = demo_sql.pool_team_many(
                    db,
                    pool,
                    [members[j] for j in with_team],
                    [lons[j] for j in with_team],
                    [lats[j] for j in with_team],
                    [str(team_of[j]) for j in with_team],
                )
                for i, candidate in team_rows:
                    found.team[i].append(candidate)
        answers: dict[int, list[RankedResponder] | None] = {}
        for i in indices:
            team_ids = {c.responder_id for c in found.team[i]}
            pricer = model.for_call(points[i][0], points[i][1], settings[i])
            team = rank_candidates(found.team[i], pricer, model.target_s, team_ids)
            kept = rank_candidates(
                found.others[i], pricer, model.target_s, team_ids | grid_team[i], n
            )
            kept = kept[:n]
            radius = certify_radius_m(kept, n, pricer, math.inf)
            lat = points[i][1]
            certified = shortlist_certified(
                ((shortlist, count, far) for count, far in found.reach[i]), radius, lat
            )
            answers[i] = [*team, *kept] if certified else None
        return answers

    everyone = list(range(len(points)))
    primary = tier(everyone, lambda route: route.primary_roles)
    short = [
        i
        for i in everyone
        if (ranked := primary[i]) is not None
        and routes[i].fallback_roles
        and needs_fallback(ranked, n)
    ]
    fallback = tier(short, lambda route: route.fallback_roles)
    answers: list[list[dict[str, Any]]] = []
    exact = 0
    for i in everyone:
        first = primary[i]
        second = fallback.get(i, [])
        if first is None or second is None:
            exact += 1
            lon, lat = points[i]
            answers.append(
                recommend(
                    db,
                    lon,
                    lat,
                    routes[i],
                    model,
                    n=n,
                    stale_after_s=stale_after_s,
                    now=now,
                ).responders
            )
        else:
            answers.append(recommended(first, second, n))
    return answers, exact


def _team_grid(grid: tuple[str, str] | None, route: CategoryRoute) -> str | None:
    return grid[0] if grid is not None and route.prefer_team else None
