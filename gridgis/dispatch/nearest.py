"""Nearest responders to a call, ranked by ETA: KNN shortlist, exact re-rank, certified (or a
second read of everyone within the certified radius)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from gridgis.boundaries import sql as boundaries_sql
from gridgis.db import Executor
from gridgis.dispatch.eta import CallEtas, EtaModel, Setting, StraightLineCall, setting_of_kind
from gridgis.dispatch.sql import nearest as nearest_sql
from gridgis.dispatch.sql.nearest import Candidate
from gridgis.errors import InvalidInput
from gridgis.validation import check_lon_lat
from gridgis.vocabulary import AVAILABLE, RESPONDER_STATUSES

MAX_RESULTS = 100
HOME_WALK = 2  # measured: 1 needs a second round for ~20% of calls when most report, 4 costs more
# Metres per degree of latitude is at least this anywhere on the WGS84 ellipsoid (at the equator).
_MIN_METRES_PER_DEGREE = 110_574.0


@dataclass(frozen=True)
class RankedResponder:
    """One row of a nearest-responders answer."""

    responder_id: int
    name: str
    role: str
    status: str
    distance_m: float
    eta_s: float
    within_target: bool
    lon: float
    lat: float
    recorded_at: datetime | None
    source: str
    grid_code: str | None
    team: bool
    # The model that priced this result (a road model prices positions far from any road with
    # its straight-line fallback).
    priced_by: str = ""


@dataclass(frozen=True)
class NearestAnswer:
    """Where the call is and who can reach it soonest."""

    lon: float
    lat: float
    grid: dict[str, Any] | None
    setting: Setting
    results: list[RankedResponder]
    eta_model: str
    target_s: float
    shortlist_rounds: int = 1
    query: dict[str, Any] = field(default_factory=dict)


def geodesic_lower_bound_m(planar_degrees: float, lat: float) -> float:
    """A distance every point at least `planar_degrees` (in lon/lat degrees) away exceeds.

    One degree of longitude shrinks with cos(latitude), and the far point may sit up to
    `planar_degrees` closer to the pole; a 1% margin covers the ellipsoid's flattening.
    """
    worst_lat = min(89.9, abs(lat) + planar_degrees)
    return 0.99 * planar_degrees * _MIN_METRES_PER_DEGREE * math.cos(math.radians(worst_lat))


def _rank_key(item: RankedResponder) -> tuple[float, float, int]:
    return (item.eta_s, item.distance_m, item.responder_id)


def rank_candidates(
    candidates: Sequence[Candidate],
    pricer: CallEtas,
    target_s: float,
    team_ids: set[int],
    need: int | None = None,
) -> list[RankedResponder]:
    """Candidates priced for the call by `pricer` (its model's pricing of it), fastest first
    (by ETA, distance, id, each as rounded in the answer).

    With `need`, only the `need` fastest are returned."""
    if not candidates:
        return []
    priced = pricer.etas(
        np.asarray([c.lon for c in candidates]),
        np.asarray([c.lat for c in candidates]),
        distance_m=np.asarray([c.distance_m for c in candidates]),
        need=need,
    )
    # Results are built for those that can rank among the `need` fastest only (a dense
    # roster's second round prices thousands): anyone more than 0.1 s slower than the
    # `need`-th fastest stays slower once ETAs are rounded to 0.1 s.
    eta = priced.eta_s
    keep = np.flatnonzero(np.isfinite(eta))
    if need is not None and len(keep) > need:
        cut = float(np.partition(eta[keep], need - 1)[need - 1]) + 0.1
        keep = keep[eta[keep] <= cut]
    ranked = sorted(
        (
            RankedResponder(
                responder_id=c.responder_id,
                name=c.name,
                role=c.role,
                status=c.status,
                distance_m=round(c.distance_m, 1),
                eta_s=round(float(eta[i]), 1),
                within_target=bool(eta[i] <= target_s),
                lon=c.lon,
                lat=c.lat,
                recorded_at=c.recorded_at,
                source=c.source,
                grid_code=c.grid_code,
                team=c.responder_id in team_ids,
                priced_by=str(priced.priced_by[i]),
            )
            for i in keep.tolist()
            for c in (candidates[i],)
        ),
        key=_rank_key,
    )
    return ranked if need is None else ranked[:need]


def certify_radius_m(
    kept: Sequence[RankedResponder], n: int, pricer: CallEtas, otherwise: float
) -> float:
    """The straight-line distance beyond which no responder can rank among the `n` kept.

    Anyone farther than the call's reach in the n-th ETA (plus the 0.05 s the ETA may have
    been rounded down) is slower than all kept; with fewer than `n` kept, `otherwise`."""
    if len(kept) < n:
        return otherwise
    last = kept[-1]
    if isinstance(pricer, StraightLineCall):
        return last.distance_m  # its ETA grows with distance: the n-th distance is exact
    return max(last.distance_m, pricer.reach_m(last.eta_s + 0.05))


def search_box(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """A box (west, south, east, north in degrees) holding every point within `radius_m` of
    (lon, lat) on the ellipsoid; the whole world when the radius is not finite.

    A point outside is more than `dlat` degrees of latitude away (each worth at least
    _MIN_METRES_PER_DEGREE) or, within that band, more than `dlon` degrees of longitude, each
    worth at least its share of a degree at the band's most poleward latitude; a 1% margin
    covers the ellipsoid's flattening, as in `geodesic_lower_bound_m`."""
    if not math.isfinite(radius_m):
        return (-180.0, -90.0, 180.0, 90.0)
    dlat = radius_m / (0.99 * _MIN_METRES_PER_DEGREE)
    worst_lat = min(89.9, abs(lat) + dlat)
    dlon = min(360.0, dlat / math.cos(math.radians(worst_lat)))
    return (
        max(-180.0, lon - dlon),
        max(-90.0, lat - dlat),
        min(180.0, lon + dlon),
        min(90.0, lat + dlat),
    )


def shortlist_certified(
    walks: Iterable[tuple[int, int, float]], radius_m: float, lat: float
) -> bool:
    """True when no responder left out of a shortlist can be within `radius_m` of `lat`.

    The shortlist is made of KNN walks, each given as (limit, rows walked, reach): a walk
    shorter than its limit met everyone who matches, a full one proves nothing beyond its
    reach (the planar distance of its farthest row, superseded home rows included)."""
    return all(
        walked < limit or geodesic_lower_bound_m(reach, lat) > radius_m
        for limit, walked, reach in walks
    )


def nearest_responders(
    db: Executor,
    lon: float,
    lat: float,
    model: EtaModel,
    *,
    n: int = 5,
    roles: Sequence[str] | None = None,
    statuses: Sequence[str] = (AVAILABLE,),
    max_eta_s: float | None = None,
    stale_after_s: float = 900.0,
    prefer_team: bool = False,
    now: datetime | None = None,
) -> NearestAnswer:
    """The `n` responders who can reach (lon, lat) soonest, sorted by ETA, distance, id.

    The result equals a brute-force ranking by exact geodesic distance over every matching
    responder: when the KNN shortlist cannot prove that nobody left out is sooner than the last
    one kept (or within `max_eta_s`), a second round reads everyone within that reach. `team`
    marks members of the call grid's team. With `prefer_team`, those members come first (in the
    same order), then the nearest others; `n` caps the whole answer either way.
    """
    lon, lat = check_lon_lat(lon, lat)
    if not 1 <= n <= MAX_RESULTS:
        raise InvalidInput(f"n must be between 1 and {MAX_RESULTS}, got {n}.", field="n")
    bad = [s for s in statuses if s not in RESPONDER_STATUSES]
    if bad or not statuses:
        raise InvalidInput(
            f"status must be some of {', '.join(RESPONDER_STATUSES)}; "
            f"got {', '.join(bad) or 'none'}.",
            field="status",
        )
    if max_eta_s is not None and not (math.isfinite(max_eta_s) and max_eta_s > 0):
        raise InvalidInput("max_eta_s must be a positive number of seconds.", field="max_eta_s")
    now = now or datetime.now(UTC)
    fresh_since = now - timedelta(seconds=stale_after_s)

    # Dispatch always answers: outside every grid (or before any boundaries are loaded) it
    # ranks with the rural parameters. The shortlist query finds the grid in the same round
    # trip; only the team, which shapes the shortlist, needs it first.
    grid: dict[str, Any] | None = None
    team: list[RankedResponder] = []
    team_ids: set[int] = set()
    team_pricer: CallEtas | None = None
    if prefer_team:
        grids = boundaries_sql.grids_at_point(db, None, lon, lat)
        grid = (
            {"code": grids[0].code, "name": grids[0].name, "kind": grids[0].kind} if grids else None
        )
    setting = setting_of_kind(grid["kind"] if grid else None)
    if grid is not None:
        members = nearest_sql.team_candidates(
            db, lon, lat, grid["code"], roles=roles, statuses=statuses, fresh_since=fresh_since
        )
        team_ids = {m.responder_id for m in members}
        team_pricer = model.for_call(lon, lat, setting)
        team = rank_candidates(members, team_pricer, model.target_s, team_ids)
        if max_eta_s is not None:
            team = [t for t in team if t.eta_s <= max_eta_s]
        team = team[:n]
    wanted = n - len(team)
    if wanted == 0:  # the team alone fills the answer
        return NearestAnswer(
            lon=lon,
            lat=lat,
            grid=grid,
            setting=setting,
            results=team,
            eta_model=model.name,
            target_s=model.target_s,
            shortlist_rounds=0,
        )

    # The first round walks a short KNN list per role and source, which certifies most calls.
    # Otherwise the second reads everyone within the radius the first round left open: the
    # n-th ETA can only fall as candidates are added, so that radius certifies the answer.
    shortlist = model.shortlist_per_answer * (n + len(team_ids)) + 4
    # Home lists walk past responders placed at a live fix (superseded rows); a longer list
    # keeps them from cutting the walk short when most of the force is reporting.
    limits = {"live": shortlist, "home": HOME_WALK * shortlist}
    found = nearest_sql.nearest_shortlist(
        db,
        lon,
        lat,
        roles=roles,
        statuses=statuses,
        fresh_since=fresh_since,
        shortlist=limits["live"],
        home_shortlist=limits["home"],
    )
    grid = found.grid  # the same grid prefer_team looked up first
    setting = setting_of_kind(grid["kind"] if grid else None)
    if team_pricer is not None and team_pricer.setting == setting:
        pricer = team_pricer  # the call's pricing is shared (a road model's search with it)
    else:
        pricer = model.for_call(lon, lat, setting)
    max_distance = pricer.reach_m(max_eta_s) if max_eta_s is not None else math.inf
    on_team = team_ids | found.team_ids
    others = [c for c in found.candidates if c.responder_id not in team_ids]
    kept = _fastest(others, pricer, model.target_s, on_team, wanted, max_eta_s)
    radius = certify_radius_m(kept, wanted, pricer, max_distance)
    walks = [
        (limits[source], walked, reach) for (source, _), (walked, reach) in found.walks.items()
    ]
    rounds = 1
    if not shortlist_certified(walks, radius, lat):
        rounds = 2
        more, more_team = nearest_sql.within_box(
            db,
            lon,
            lat,
            search_box(lon, lat, radius),
            roles=roles,
            statuses=statuses,
            fresh_since=fresh_since,
            seen=team_ids | {c.responder_id for c in found.candidates},
            grid_code=grid["code"] if grid else None,
        )
        others += more
        kept = _fastest(others, pricer, model.target_s, on_team | more_team, wanted, max_eta_s)
    return NearestAnswer(
        lon=lon,
        lat=lat,
        grid=grid,
        setting=setting,
        results=[*team, *kept],
        eta_model=model.name,
        target_s=model.target_s,
        shortlist_rounds=rounds,
    )


def _fastest(
    candidates: Sequence[Candidate],
    pricer: CallEtas,
    target_s: float,
    team_ids: set[int],
    wanted: int,
    max_eta_s: float | None,
) -> list[RankedResponder]:
    """The `wanted` fastest candidates (within `max_eta_s`)."""
    ranked = rank_candidates(candidates, pricer, target_s, team_ids, need=wanted)
    if max_eta_s is not None:
        ranked = [r for r in ranked if r.eta_s <= max_eta_s]
    return ranked[:wanted]
