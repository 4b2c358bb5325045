"""Recommendations: the category's primary roles (its grid team first), then its fallback roles
when the primary ones are too few or too slow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gridgis.db import Executor
from gridgis.dispatch.eta import EtaModel, Setting
from gridgis.dispatch.incidents.routing import CategoryRoute
from gridgis.dispatch.nearest import RankedResponder, nearest_responders
from gridgis.times import rfc3339

RECOMMENDATIONS = 5


@dataclass(frozen=True)
class Recommendation:
    """Who to send, best first, up to `n` responders: the category's primary roles (its grid
    team first when the category prefers the team), with its fallback roles offered when the
    primary ones are too few or none meets the ETA target (see `recommended`)."""

    grid: dict[str, Any] | None
    setting: Setting
    eta_model: str
    target_s: float
    responders: list[dict[str, Any]]

    def snapshot(self, at: datetime) -> dict[str, Any]:
        """The JSON stored with the incident: what was recommended, when and by which model."""
        return {
            "at": rfc3339(at),
            "eta_model": self.eta_model,
            "target_s": self.target_s,
            "setting": self.setting,
            "responders": self.responders,
        }


def needs_fallback(primary: Sequence[RankedResponder], n: int) -> bool:
    """Fallback roles are consulted when the primary ones are fewer than `n` or none of them
    meets the ETA target."""
    return len(primary) < n or not any(r.within_target for r in primary[:n])


def recommended(
    primary: Sequence[RankedResponder], fallback: Sequence[RankedResponder], n: int
) -> list[dict[str, Any]]:
    """Up to `n` rows, each with its tier. While some primary responder meets the target the
    primary tier comes first (in its own order) and fallback responders only fill it up; when
    none does, both tiers are merged by ETA (sooner help first), keeping the best primary row."""
    primary, fallback = list(primary[:n]), list(fallback[:n])
    tiers = [("primary", r) for r in primary]
    if any(r.within_target for r in primary):
        tiers += [("fallback", r) for r in fallback]
    else:
        merged = sorted(
            [*tiers, *(("fallback", r) for r in fallback)],
            key=lambda item: (item[1].eta_s, item[1].distance_m, item[1].responder_id),
        )
        tiers = merged[:n]
        if primary and not any(tier == "primary" for tier, _ in tiers):
            tiers[-1] = ("primary", primary[0])
    chosen: list[dict[str, Any]] = []
    seen: set[int] = set()
    for tier, r in tiers:
        if len(chosen) == n:
            break
        if r.responder_id in seen:
            continue
        seen.add(r.responder_id)
        chosen.append(
            {
                "rank": len(chosen) + 1,
                "responder_id": r.responder_id,
                "name": r.name,
                "role": r.role,
                "tier": tier,
                "team": r.team,
                "distance_m": r.distance_m,
                "eta_s": r.eta_s,
                "within_target": r.within_target,
                "position_source": r.source,
                "priced_by": r.priced_by,
            }
        )
    return chosen


def recommend(
    db: Executor,
    lon: float,
    lat: float,
    route: CategoryRoute,
    model: EtaModel,
    *,
    n: int = RECOMMENDATIONS,
    stale_after_s: float = 900.0,
    now: datetime | None = None,
) -> Recommendation:
    """Recommend responders for an incident of `route`'s category at (lon, lat) (WGS84)."""
    now = now or datetime.now(UTC)
    primary = nearest_responders(
        db,
        lon,
        lat,
        model,
        n=n,
        roles=route.primary_roles,
        prefer_team=route.prefer_team,
        stale_after_s=stale_after_s,
        now=now,
    )
    fallback: list[RankedResponder] = []
    if route.fallback_roles and needs_fallback(primary.results, n):
        fallback = nearest_responders(
            db,
            lon,
            lat,
            model,
            n=n,
            roles=route.fallback_roles,
            prefer_team=route.prefer_team,
            stale_after_s=stale_after_s,
            now=now,
        ).results
    return Recommendation(
        grid=primary.grid,
        setting=primary.setting,
        eta_model=model.name,
        target_s=model.target_s,
        responders=recommended(primary.results, fallback, n),
    )
