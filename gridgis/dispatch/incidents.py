"""Incidents: idempotent intake, routing by category (data), recommendations and the timeline."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from gridgis import audit
from gridgis import crs as crs_mod
from gridgis.boundaries.lookup import locate
from gridgis.db import incident_queries, queries, responder_claims
from gridgis.db.models import INCIDENT_EVENT_TYPES, INCIDENT_STATUSES, INPUT_CRS
from gridgis.db.queries import Candidate, Executor
from gridgis.dispatch.eta import EtaModel, Setting, setting_of_kind
from gridgis.dispatch.nearest import (
    RankedResponder,
    geodesic_lower_bound_m,
    nearest_responders,
    rank_candidates,
)
from gridgis.errors import Conflict, InvalidInput, NotFound, OutsideCoverage
from gridgis.validation import check_lon_lat

# A caller's clock a little ahead of ours is normal; further ahead is a wrong clock.
FUTURE_TOLERANCE = timedelta(minutes=5)
RECOMMENDATIONS = 5
MAX_EXTERNAL_ID = 100
MAX_DESCRIPTION = 4000
MAX_NOTE = 2000
MAX_PAGE = 500
AVAILABLE = ("available",)


# -- routing -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CategoryRoute:
    """One row of `incident_categories`: who is recommended for this kind of incident."""

    code: str
    name_zh: str
    name_en: str
    police_matter: bool
    primary_roles: tuple[str, ...]
    fallback_roles: tuple[str, ...]
    prefer_team: bool
    divert_to_mediation: bool

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CategoryRoute:
        return cls(
            code=row["code"],
            name_zh=row["name_zh"],
            name_en=row["name_en"],
            police_matter=bool(row["police_matter"]),
            primary_roles=tuple(row["primary_roles"]),
            fallback_roles=tuple(row["fallback_roles"]),
            prefer_team=bool(row["prefer_team"]),
            divert_to_mediation=bool(row["divert_to_mediation"]),
        )


def categories(db: Executor) -> list[CategoryRoute]:
    """Every routing category."""
    return [CategoryRoute.from_row(r) for r in incident_queries.categories(db)]


def category_route(db: Executor, code: Any) -> CategoryRoute:
    """The route of a category; InvalidInput naming `category` when it does not exist."""
    if not isinstance(code, str) or not code or len(code) > 32 or not code.isprintable():
        raise InvalidInput("category must be a category code.", field="category")
    row = incident_queries.category(db, code)
    if row is None:
        known = ", ".join(c.code for c in categories(db))
        raise InvalidInput(
            f"Unknown category {code[:40]!r}; expected one of: {known}.", field="category"
        )
    return CategoryRoute.from_row(row)


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


def _recommended(
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
        responders=_recommended(primary.results, fallback, n),
    )


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
        incident_queries.build_responder_pool(
            db, pool, role, statuses=AVAILABLE, fresh_since=fresh_since
        )
    shortlist = n + 4
    settings: list[Setting] = [setting_of_kind(g[1] if g else None) for g in grids]

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
            rows = incident_queries.pool_nearest_many(
                db, pool, members, lons, lats, team_of, shortlist
            )
            counts: dict[int, list[float]] = defaultdict(list)
            for i, candidate in rows:
                found.others[i].append(candidate)
                counts[i].append(candidate.planar or 0.0)
            for i in members:
                planars = counts.get(i, [])
                found.reach[i].append((len(planars), max(planars, default=0.0)))
            with_team = [j for j, grid in enumerate(team_of) if grid is not None]
            if with_team:
                team_rows = incident_queries.pool_team_many(
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
            team = rank_candidates(found.team[i], model, settings[i], team_ids)
            kept = rank_candidates(found.others[i], model, settings[i], team_ids)[:n]
            radius = kept[-1].distance_m if len(kept) == n else math.inf
            lat = points[i][1]
            certified = all(
                count < shortlist or geodesic_lower_bound_m(far, lat) > radius
                for count, far in found.reach[i]
            )
            answers[i] = [*team, *kept] if certified else None
        return answers

    everyone = list(range(len(points)))
    primary = tier(everyone, lambda route: route.primary_roles)
    short = [
        i
        for i in everyone
        if (ranked := primary[i]) is not None and len(ranked) < n and routes[i].fallback_roles
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
            answers.append(_recommended(first, second, n))
    return answers, exact


def _team_grid(grid: tuple[str, str] | None, route: CategoryRoute) -> str | None:
    return grid[0] if grid is not None and route.prefer_team else None


# -- input checks --------------------------------------------------------------------------------
def _aware_time(value: Any, name: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"{name} must be an ISO 8601 timestamp.", field=name) from None
    if not isinstance(value, datetime):
        raise InvalidInput(f"{name} must be an ISO 8601 timestamp.", field=name)
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(
            f"{name} needs a time zone (e.g. 2026-11-26T20:15:00+08:00).", field=name
        )
    return value


def _check_time(value: Any, name: str, now: datetime) -> datetime:
    value = _aware_time(value, name)
    if value > now + FUTURE_TOLERANCE:
        raise InvalidInput(
            f"{name} ({value.isoformat()}) is in the future (now {now.isoformat()}).", field=name
        )
    return value


def _check_text(value: Any, name: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text.", field=name)
    if "\x00" in value:  # PostgreSQL text cannot hold NUL
        raise InvalidInput(f"{name} must not contain NUL characters.", field=name)
    if len(value) > limit:
        raise InvalidInput(f"{name} is longer than {limit} characters.", field=name)
    return value


def _check_external_id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("external_id must be a non-empty string.", field="external_id")
    if len(value) > MAX_EXTERNAL_ID:
        raise InvalidInput(
            f"external_id is longer than {MAX_EXTERNAL_ID} characters.", field="external_id"
        )
    if value != value.strip() or not value.isprintable():
        raise InvalidInput(
            "external_id must not have surrounding spaces or control characters.",
            field="external_id",
        )
    return value


def _check_id(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**63:
        raise InvalidInput(f"{name} must be a positive integer.", field=name)
    return value


# -- intake --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IncidentReport:
    """An incident as a dispatch system sends it (coordinates in `crs`)."""

    external_id: Any
    category: Any
    lon: Any
    lat: Any
    reported_at: Any
    crs: Any = "wgs84"
    description: Any = ""


@dataclass(frozen=True)
class IntakeResult:
    """The stored incident and whether this call created it (False: an identical retry)."""

    incident: dict[str, Any]
    created: bool


def _differences(stored: Mapping[str, Any], sent: Mapping[str, Any]) -> list[str]:
    return [name for name, value in sent.items() if stored[name] != value]


def _same_or_conflict(stored: Mapping[str, Any], sent: Mapping[str, Any]) -> None:
    differs = _differences(stored, sent)
    if differs:
        raise Conflict(
            f"external_id {stored['external_id']!r} is already incident {stored['id']} with "
            f"different {', '.join(differs)}; a retry must repeat the original report exactly.",
            field="external_id",
        )


def report_incident(
    db: Executor,
    report: IncidentReport,
    model: EtaModel,
    *,
    now: datetime | None = None,
    stale_after_s: float = 900.0,
    source: str = "api",
    actor: str = audit.LIBRARY_ACTOR,
) -> IntakeResult:
    """Record an incident, locate its grid, recommend responders; idempotent on external_id.

    A repeat of an earlier report returns the stored incident (created False); a report that
    reuses an external_id with different content raises Conflict. A point outside every grid is
    recorded with no grid. Coordinates are converted to WGS84 here, the only place they enter.
    A new incident is written to the audit trail (`incident.create`) in the same transaction.
    """
    now = now or datetime.now(UTC)
    external_id = _check_external_id(report.external_id)
    route = category_route(db, report.category)
    if report.crs not in INPUT_CRS:
        raise InvalidInput(f"crs must be one of {', '.join(INPUT_CRS)}.", field="crs")
    input_lon, input_lat = check_lon_lat(report.lon, report.lat)
    lon, lat = crs_mod.to_wgs84(input_lon, input_lat, report.crs)
    try:
        lon, lat = check_lon_lat(float(lon), float(lat))
    except InvalidInput as exc:
        raise InvalidInput(
            f"({input_lon}, {input_lat}) in {report.crs} falls outside WGS84 bounds when "
            "converted.",
            field=exc.field,
        ) from None
    sent = {
        "category": route.code,
        "input_crs": report.crs,
        "input_lon": input_lon,
        "input_lat": input_lat,
        "reported_at": _check_time(report.reported_at, "reported_at", now),
        "description": _check_text(report.description, "description", MAX_DESCRIPTION),
    }

    stored = incident_queries.incident_by_external_id(db, external_id)
    if stored is not None:
        _same_or_conflict(stored, sent)
        return IntakeResult(get_incident(db, int(stored["id"])), created=False)

    generation_id: int | None = None
    grid: dict[str, Any] | None = None
    try:
        located = locate(db, lon, lat, with_team=False)
        generation_id, grid = located.generation, located.grid
    except OutsideCoverage:
        pass  # still recorded: an incident is never lost for lying outside the grids
    recommendation = recommend(
        db, lon, lat, route, model, stale_after_s=stale_after_s, now=now
    ).snapshot(now)
    new_id = incident_queries.insert_incident(
        db,
        {
            **sent,
            "external_id": external_id,
            "lon": lon,
            "lat": lat,
            "generation_id": generation_id,
            "grid_code": grid["code"] if grid else None,
            "grid_kind": grid["kind"] if grid else None,
            "recommendation": json.dumps(recommendation, ensure_ascii=False),
            "source": source,
        },
    )
    if new_id is None:
        # A concurrent request with the same external_id committed first: same rules as a retry.
        stored = incident_queries.incident_by_external_id(db, external_id)
        if stored is None:  # pragma: no cover - the conflicting row cannot vanish in between
            raise Conflict("external_id is being registered concurrently.", field="external_id")
        _same_or_conflict(stored, sent)
        return IntakeResult(get_incident(db, int(stored["id"])), created=False)
    incident = get_incident(db, new_id)
    audit.record(
        db,
        actor=actor,
        action="incident.create",
        entity="incident",
        entity_id=str(new_id),
        after={
            key: incident[key]
            for key in ("external_id", "reported_at", "lon", "lat", "input", "grid", "status")
        }
        | {"category": incident["category"]["code"], "source": source},
    )
    return IntakeResult(incident, created=True)


# -- reading -------------------------------------------------------------------------------------
def _event_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "seq": int(row["seq"]),
        "type": row["type"],
        "responder_id": None if row["responder_id"] is None else int(row["responder_id"]),
        "responder_role": row["responder_role"],
        "at": row["at"],
        "note": row["note"],
        "recorded_at": row["recorded_at"],
    }


def _incident_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    grid = None
    if row["grid_code"] is not None:
        grid = {"code": row["grid_code"], "name": row["grid_name"], "kind": row["grid_kind"]}
    return {
        "id": int(row["id"]),
        "external_id": row["external_id"],
        "category": {
            "code": row["category"],
            "name_zh": row["category_name_zh"],
            "name_en": row["category_name_en"],
            "police_matter": bool(row["police_matter"]),
        },
        "description": row["description"],
        "reported_at": row["reported_at"],
        "received_at": row["received_at"],
        "lon": float(row["lon"]),
        "lat": float(row["lat"]),
        "input": {
            "crs": row["input_crs"],
            "lon": float(row["input_lon"]),
            "lat": float(row["input_lat"]),
        },
        "grid": grid,
        "generation": row["generation_id"],
        "status": row["status"],
        "source": row["source"],
        "updated_at": row["updated_at"],
    }


def get_incident(db: Executor, incident_id: int) -> dict[str, Any]:
    """An incident with its recommendation snapshot and its full timeline, in order."""
    row = incident_queries.incident_by_id(db, incident_id)
    if row is None:
        raise NotFound(f"No incident with id {incident_id}.", field="id")
    incident = _incident_dict(row)
    incident["recommendation"] = row["recommendation"]
    incident["timeline"] = [_event_dict(e) for e in incident_queries.timeline(db, incident_id)]
    return incident


# -- the timeline --------------------------------------------------------------------------------
@dataclass(frozen=True)
class EventReport:
    """One step of an incident's handling, as a dispatch system reports it."""

    type: Any
    at: Any
    responder_id: Any = None
    note: Any = ""


_NEEDS_RESPONDER = ("dispatched", "arrived")
MEDIATION_OUTCOMES = ("mediated_success", "mediated_failed")


def next_status(
    status: str,
    reported_at: datetime,
    events: Sequence[Mapping[str, Any]],
    type_: str,
    responder_id: int | None,
    at: datetime,
    *,
    diverts: bool = False,
) -> str:
    """The incident status after appending an event, or Conflict when the event is out of order.

    open -> dispatched -> on_scene -> resolved | referred -> closed. A responder arrives only
    after being dispatched; "resolved" means resolved on site, so it needs an arrival; a
    referral (to mediation or another agency) may come at any time before closing; closing
    needs a resolution, a referral or a mediation outcome; nothing follows "closed". Time
    never runs backwards.

    A matter of a category that diverts to people's mediation (`diverts`), once diverted (a
    mediator dispatched or a referral), records one mediation outcome: `mediated_success`
    (settled: status resolved) or `mediated_failed`; the third outcome is a `referred` after
    the mediator was dispatched (passed on). A matter resolved on site has no mediation
    outcome, and one settled by mediation is not "resolved" again.
    """
    if status == "closed":
        raise Conflict("The incident is closed: no event can follow 'closed'.", field="type")
    if at < reported_at:
        raise Conflict(
            f"at ({at.isoformat()}) is before the incident was reported "
            f"({reported_at.isoformat()}).",
            field="at",
        )
    if events and at < events[-1]["at"]:
        last = events[-1]
        raise Conflict(
            f"at ({at.isoformat()}) is before the previous event ({last['type']} at "
            f"{last['at'].isoformat()}); events are appended in time order.",
            field="at",
        )
    dispatched = {e["responder_id"]: e["at"] for e in events if e["type"] == "dispatched"}
    arrived = {e["responder_id"] for e in events if e["type"] == "arrived"}
    seen = {e["type"] for e in events}
    if type_ in _NEEDS_RESPONDER and responder_id is None:
        raise InvalidInput(f"A '{type_}' event needs responder_id.", field="responder_id")
    if type_ == "dispatched":
        if responder_id in dispatched:
            raise Conflict(
                f"Responder {responder_id} is already dispatched to this incident.",
                field="responder_id",
            )
        return "dispatched" if status == "open" else status
    if type_ == "arrived":
        if responder_id not in dispatched:
            raise Conflict(
                f"Responder {responder_id} was never dispatched to this incident; "
                "an arrival needs a dispatch first.",
                field="responder_id",
            )
        if responder_id in arrived:
            raise Conflict(f"Responder {responder_id} has already arrived.", field="responder_id")
        if at < dispatched[responder_id]:
            raise Conflict("An arrival cannot come before its dispatch.", field="at")
        return "on_scene" if status in ("open", "dispatched") else status
    if type_ in MEDIATION_OUTCOMES:
        if not diverts:
            raise Conflict(
                f"'{type_}' is a people's-mediation outcome; this incident's category does not "
                "divert to mediation.",
                field="type",
            )
        mediator = any(
            e["type"] == "dispatched" and e["responder_role"] == "mediator" for e in events
        )
        if not (mediator or "referred" in seen):
            raise Conflict(
                f"'{type_}' needs the matter diverted to mediation first (a mediator "
                "dispatched or a referral).",
                field="type",
            )
        if seen & set(MEDIATION_OUTCOMES):
            raise Conflict("The mediation outcome is already recorded.", field="type")
        if "resolved" in seen:
            raise Conflict(
                "The incident was resolved on site; it has no mediation outcome.", field="type"
            )
        return "resolved" if type_ == "mediated_success" else status
    if type_ == "resolved":
        if "mediated_success" in seen:
            raise Conflict("The matter is already settled by mediation.", field="type")
        if not arrived:
            raise Conflict(
                "'resolved' means resolved on site and needs an arrival first; "
                "use 'referred' to pass the matter on.",
                field="type",
            )
        if "resolved" in seen:
            raise Conflict("The incident is already resolved.", field="type")
        return "resolved"
    if type_ == "referred":
        if "mediated_success" in seen:
            raise Conflict("The matter is already settled by mediation.", field="type")
        if "referred" in seen:
            raise Conflict("The incident is already referred.", field="type")
        return "referred"
    if type_ == "closed":
        if not seen & {"resolved", "referred", *MEDIATION_OUTCOMES}:
            raise Conflict(
                "Closing needs a 'resolved' or 'referred' event (or a mediation outcome) first.",
                field="type",
            )
        return "closed"
    raise InvalidInput(
        f"type must be one of {', '.join(INCIDENT_EVENT_TYPES)}.", field="type"
    )  # pragma: no cover - checked before


def add_event(
    db: Executor,
    incident_id: int,
    event: EventReport,
    *,
    now: datetime | None = None,
    actor: str = audit.LIBRARY_ACTOR,
) -> dict[str, Any]:
    """Append an event under the incident's row lock; returns the incident with its timeline.

    A dispatch claims the responder: under the responder's row lock they must be `available`
    (else Conflict naming responder_id) and become `busy`. Closing the incident sets the
    responders it still holds (busy, last dispatched to it) back to `available`. The event,
    the status changes and their audit entries are written in the caller's transaction.
    """
    now = now or datetime.now(UTC)
    if event.type not in INCIDENT_EVENT_TYPES:
        raise InvalidInput(f"type must be one of {', '.join(INCIDENT_EVENT_TYPES)}.", field="type")
    at = _check_time(event.at, "at", now)
    responder_id = (
        None if event.responder_id is None else _check_id(event.responder_id, "responder_id")
    )
    if event.type in _NEEDS_RESPONDER and responder_id is None:
        raise InvalidInput(f"A '{event.type}' event needs responder_id.", field="responder_id")
    note = _check_text(event.note, "note", MAX_NOTE)

    locked = incident_queries.lock_incident(db, incident_id)
    if locked is None:
        raise NotFound(f"No incident with id {incident_id}.", field="id")
    role = None
    if responder_id is not None:
        role = incident_queries.responder_role(db, responder_id)
        if role is None:
            raise NotFound(f"No responder with id {responder_id}.", field="responder_id")
    events = incident_queries.timeline(db, incident_id)
    status = next_status(
        locked["status"],
        locked["reported_at"],
        events,
        event.type,
        responder_id,
        at,
        diverts=bool(locked["divert_to_mediation"]),
    )
    if event.type == "dispatched" and responder_id is not None:
        role = _claim_responder(db, responder_id, incident_id, actor)
    incident_queries.append_event(
        db,
        incident_id,
        seq=len(events) + 1,
        type_=event.type,
        responder_id=responder_id,
        responder_role=role,
        at=at,
        note=note,
        status=status,
    )
    audit.record(
        db,
        actor=actor,
        action="incident.event",
        entity="incident",
        entity_id=str(incident_id),
        before={"status": locked["status"]},
        after={
            "status": status,
            "event": {
                "seq": len(events) + 1,
                "type": event.type,
                "responder_id": responder_id,
                "responder_role": role,
                "at": at,
                "note": note,
            },
        },
    )
    if event.type == "closed":
        _release_responders(db, incident_id, actor)
    return get_incident(db, incident_id)


def _claim_responder(db: Executor, responder_id: int, incident_id: int, actor: str) -> str:
    """Lock the responder, check they are available and mark them busy; returns their role."""
    row = responder_claims.lock_responder(db, responder_id)
    if row is None:  # pragma: no cover - checked under the incident lock just before
        raise NotFound(f"No responder with id {responder_id}.", field="responder_id")
    if row["status"] != "available":
        raise Conflict(
            f"Responder {responder_id} is {row['status']}, not available: another dispatch "
            "may have claimed them first.",
            field="responder_id",
        )
    responder_claims.set_status(db, responder_id, "busy")
    audit.record(
        db,
        actor=actor,
        action="responder.status",
        entity="responder",
        entity_id=str(responder_id),
        before={"status": "available"},
        after={"status": "busy", "incident_id": incident_id},
    )
    return str(row["role"])


def _release_responders(db: Executor, incident_id: int, actor: str) -> None:
    """Set the responders this incident still holds back to available (it is closed)."""
    for responder_id in responder_claims.lock_busy_for_incident(db, incident_id):
        responder_claims.set_status(db, responder_id, "available")
        audit.record(
            db,
            actor=actor,
            action="responder.status",
            entity="responder",
            entity_id=str(responder_id),
            before={"status": "busy", "incident_id": incident_id},
            after={"status": "available"},
        )


# -- listing -------------------------------------------------------------------------------------
def area_grid_prefix(db: Executor, area: Any) -> str:
    """The grid-code prefix of an area: codes are hierarchical (GB/T 2260 plus grid digits), so
    a county's grids start with its 6 digits and a township's with its 9; a city's code ends in
    "00" and its grids share the first 4. NotFound naming `area` for an unknown area."""
    if not isinstance(area, str) or not area.isdigit() or len(area) > 20:
        raise InvalidInput("area must be an area code (digits).", field="area")
    generation_id = queries.active_generation_id(db)
    level = incident_queries.area_level(db, generation_id, area)
    if level is None:
        raise NotFound(f"No area with code {area!r} in the active generation.", field="area")
    return area[:4] if level == "city" else area


@dataclass(frozen=True)
class IncidentPage:
    """One page of incidents, newest first, and the cursor of the next page (None at the end)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


def _encode_cursor(reported_at: datetime, incident_id: int) -> str:
    raw = json.dumps([reported_at.isoformat(), incident_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at_text, incident_id = json.loads(raw)
        at = datetime.fromisoformat(at_text)
        if at.tzinfo is None or not isinstance(incident_id, int) or not 0 < incident_id < 2**63:
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("cursor is not one this service issued.", field="cursor") from None
    return at, incident_id


def list_incidents(
    db: Executor,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    area: str | None = None,
    status: str | None = None,
    category: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> IncidentPage:
    """Incidents reported in [start, end), in an area (any level), newest first, paged."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}.", field="limit")
    if start is not None:
        start = _aware_time(start, "from")
    if end is not None:
        end = _aware_time(end, "to")
    if start is not None and end is not None and end <= start:
        raise InvalidInput("to must be later than from.", field="to")
    if status is not None and status not in INCIDENT_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(INCIDENT_STATUSES)}.", field="status")
    if category is not None:
        category = category_route(db, category).code
    prefix = area_grid_prefix(db, area) if area is not None else None
    after = _decode_cursor(cursor) if cursor else None
    rows = incident_queries.list_incidents(
        db,
        start=start,
        end=end,
        grid_prefix=prefix,
        status=status,
        category=category,
        after=after,
        limit=limit + 1,
    )
    items = [_incident_dict(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = _encode_cursor(last["reported_at"], int(last["id"]))
    return IncidentPage(items=items, next_cursor=next_cursor)
