"""Recommendations: the category's primary roles (its grid team first), then its fallback roles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gridgis.db import Executor
from gridgis.dispatch.eta import EtaModel, Setting
from gridgis.dispatch.incidents.routing import CategoryRoute
from gridgis.dispatch.nearest import RankedResponder, nearest_responders

RECOMMENDATIONS = 5


@dataclass(frozen=True)
class Recommendation:
    """Who to send, best first: the category's primary roles (its grid team first when the
    category prefers the team), then its fallback roles, up to `n` responders."""

    grid: dict[str, Any] | None
    setting: Setting
    eta_model: str
    target_s: float
    responders: list[dict[str, Any]]

    def snapshot(self, at: datetime) -> dict[str, Any]:
        """The JSON stored with the incident: what was recommended, when and by which model."""
        return {
            "at": at.isoformat(),
            "eta_model": self.eta_model,
            "target_s": self.target_s,
            "setting": self.setting,
            "responders": self.responders,
        }


def recommended(
    primary: Sequence[RankedResponder], fallback: Sequence[RankedResponder], n: int
) -> list[dict[str, Any]]:
    chosen: list[dict[str, Any]] = []
    seen: set[int] = set()
    for tier, ranked in (("primary", primary), ("fallback", fallback)):
        for r in ranked:
            if len(chosen) == n:
                return chosen
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
    if len(primary.results) < n and route.fallback_roles:
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
