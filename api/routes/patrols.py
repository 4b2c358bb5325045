"""Patrol tasks: units reserve them, the volunteers' app grabs slots for volunteers, who
cancel, check in and check out; figures, leaderboards and the hours map layer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status
from sqlalchemy.orm import Session

from api.deps import SessionDep, SettingsDep
from api.params import Crs, QueryTime
from api.patrol_schemas import (
    ClaimCreate,
    ClaimPublic,
    LeaderboardPublic,
    PatrolCreate,
    PatrolListPublic,
    PatrolPublic,
    PatrolStatsPublic,
    PresenceIn,
)
from api.schemas import ErrorPublic
from api.security import actor
from gridgis import crs as crs_mod
from gridgis.errors import InvalidInput
from gridgis.vocabulary import PatrolLevel
from gridgis.workflows import patrol_stats, patrols
from gridgis.workflows.patrols import Acting, PatrolRules, PatrolSpec

router = APIRouter(tags=["patrols"])

TaskId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The patrol task's id")]
ResponderId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The volunteer")]
From = Annotated[
    QueryTime | None,
    Query(alias="from", description="RFC 3339 with an offset (default: 28 days before `to`)"),
]
To = Annotated[
    QueryTime | None,
    Query(alias="to", description="RFC 3339 with an offset, exclusive (default: now)"),
]
DEFAULT_WINDOW = timedelta(days=28)
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorPublic, "description": "No such task, unit, responder or claim"},
    422: {"model": ErrorPublic, "description": "Invalid input; `field` names it"},
}
REFUSALS: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorPublic,
        "description": "Refused by the task's state; `error` says why: `full`, `overlap` (the "
        "volunteer holds a task overlapping in time), `closed` (cancelled, started or ended), "
        "`role`, `checked_in`, `not_checked_in`, `outside_area`, `outside_window`",
    }
}


@contextmanager
def decided(db: Session) -> Iterator[None]:
    """Commit, or roll back on a refusal, in the route's own thread. A claim holds the task's
    row lock until its transaction ends; left to the session dependency, that waits for a
    thread-pool hop, and under a burst of grabs the pool's threads are all taken by requests
    waiting for that very lock (measured: 50 simultaneous grabs timed out on the pool)."""
    try:
        yield
    except BaseException:
        db.rollback()
        raise
    db.commit()


def acting(request: Request) -> Acting:
    """The caller as the library sees it: an admin may act for any unit, a unit's key for
    its own unit only."""
    name = actor(request)  # Forbidden when nobody is identified
    key = getattr(request.state, "api_key", None)
    if key is not None:
        return Acting(actor=name, unit_id=key.unit_id, any_unit=key.role == "admin")
    # A signed-in person rather than a key: only an admin acts for units.
    role = getattr(getattr(request.state, "user", None), "role", None)
    return Acting(actor=name, unit_id=None, any_unit=role == "admin")


def claim_public(row: dict[str, Any]) -> dict[str, Any]:
    def point(prefix: str) -> dict[str, Any] | None:
        lon = row.get(f"{prefix}_lon")
        return None if lon is None else {"lon": lon, "lat": row[f"{prefix}_lat"], "crs": "wgs84"}

    return {**row, "check_in": point("check_in"), "check_out": point("check_out")}


def task_public(row: dict[str, Any]) -> dict[str, Any]:
    claimed = int(row["claimed"])
    claims = row.get("claims")
    return {
        **row,
        "unit": {"id": row["unit_id"], "name": row["unit_name"]},
        "start": row["starts_at"],
        "end": row["ends_at"],
        "claimed": claimed,
        "free": max(0, int(row["slots"]) - claimed),
        "claims": None if claims is None else [claim_public(c) for c in claims],
    }


def _window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone offset.", field=name)
    end = end or datetime.now(UTC)
    if start is None:
        try:
            start = end - DEFAULT_WINDOW
        except OverflowError:
            raise InvalidInput("to is too early.", field="to") from None
    return start, end


@router.post(
    "/patrols",
    response_model=PatrolPublic,
    status_code=status.HTTP_201_CREATED,
    responses={**ERRORS, 403: {"model": ErrorPublic, "description": "Another unit's task"}},
)
def create_patrol(
    request: Request, body: PatrolCreate, db: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """Reserve a patrol task for a unit: the area as grid codes or a drawn polygon or route
    (GeoJSON, WGS84, within the city), a future time window (at most
    GRIDGIS_PATROL_MAX_DURATION_H hours, starting at most GRIDGIS_PATROL_MAX_ADVANCE_DAYS ahead)
    and 1-100 slots. A unit's key may reserve for its own unit only; admins for any."""
    spec = PatrolSpec(
        unit_id=body.unit_id,
        start=body.start,
        end=body.end,
        slots=body.slots,
        grid_codes=body.grid_codes,
        area=body.area,
        title=body.title,
        required_role=body.required_role,
    )
    rules = PatrolRules.from_settings(settings)
    return task_public(patrols.create_patrol(db, spec, rules, acting=acting(request)))


@router.get("/patrols", response_model=PatrolListPublic, responses=ERRORS)
def list_patrols(
    db: SessionDep,
    near: Annotated[
        str | None,
        Query(
            pattern=r"^\s*-?[0-9.]+\s*,\s*-?[0-9.]+\s*$",
            description="lon,lat: tasks whose area lies within `radius_m`, nearest first "
            "(geodesic distance to the area)",
        ),
    ] = None,
    radius_m: Annotated[float, Query(gt=0, le=100_000, allow_inf_nan=False)] = 5_000,
    crs: Crs = "wgs84",
    start_from: Annotated[
        QueryTime | None, Query(alias="from", description="Tasks ending after this")
    ] = None,
    start_to: Annotated[
        QueryTime | None, Query(alias="to", description="Tasks starting before this")
    ] = None,
    status: Annotated[
        str | None,
        Query(
            max_length=100, description="Comma-separated: open, full, underway, ended, cancelled"
        ),
    ] = None,
    grid: Annotated[
        str | None, Query(pattern=r"^[0-9]{12}$", description="Tasks touching this grid")
    ] = None,
    unit_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=patrols.MAX_PAGE)] = 50,
) -> dict[str, Any]:
    """Tasks for volunteers: near a point (sorted by geodesic distance) or in a grid, in a
    time window, by state (e.g. `status=open`: slots free, not started)."""
    point = None
    if near is not None:
        try:
            lon, lat = (float(v) for v in near.split(","))
        except ValueError:
            raise InvalidInput("near must be lon,lat in decimal degrees.", field="near") from None
        point = (lon, lat)
        if crs != "wgs84":
            try:
                converted = crs_mod.to_wgs84(lon, lat, crs)
            except Exception:
                raise InvalidInput("near could not be converted to WGS84.", field="near") from None
            point = (float(converted[0]), float(converted[1]))
    for name, value in (("from", start_from), ("to", start_to)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone offset.", field=name)
    statuses = [s.strip() for s in status.split(",") if s.strip()] if status else None
    rows = patrols.list_patrols(
        db,
        near=point,
        radius_m=radius_m,
        start_from=start_from,
        start_to=start_to,
        statuses=statuses,
        grid=grid,
        unit_id=unit_id,
        limit=limit,
    )
    return {"patrols": [task_public(r) for r in rows]}


@router.get("/patrols/stats", response_model=PatrolStatsPublic, responses=ERRORS)
def stats(
    db: SessionDep,
    start: From = None,
    end: To = None,
    level: Annotated[PatrolLevel, Query()] = "township",
) -> dict[str, Any]:
    """Per area and ISO week (Asia/Shanghai) of tasks starting in [from, to): tasks, slots
    offered and filled, patrol hours (check-in to check-out, or to the task's end), distinct
    volunteers and no-shows (late cancellations, and claims never checked in)."""
    start, end = _window(start, end)
    rows = patrol_stats.patrol_stats(db, level, start, end)
    return {"level": level, "from": start, "to": end, "rows": rows}


@router.get("/patrols/leaderboard", response_model=LeaderboardPublic, responses=ERRORS)
def leaderboard(
    db: SessionDep,
    start: From = None,
    end: To = None,
    by: Annotated[Literal["unit", "volunteer"], Query()] = "volunteer",
    limit: Annotated[int, Query(ge=1, le=patrol_stats.MAX_LEADERBOARD)] = 20,
) -> dict[str, Any]:
    """Units or volunteers ranked by patrol hours (the seasonal contests, 四季竞赛)."""
    start, end = _window(start, end)
    return {"by": by, "leaders": patrol_stats.leaderboard(db, by, start, end, limit=limit)}


@router.get(
    "/patrols/hours.geojson",
    responses={
        200: {"content": {"application/geo+json": {}}, "description": "Grid polygons"},
        **ERRORS,
    },
)
def hours_layer(db: SessionDep, start: From = None, end: To = None) -> Response:
    """The planner's map layer: every grid (simplified polygon, WGS84) with its patrol hours,
    volunteers and tasks for tasks starting in [from, to)."""
    import json

    start, end = _window(start, end)
    collection = patrol_stats.hours_by_grid(db, start, end)
    return Response(
        json.dumps(collection, ensure_ascii=False, separators=(",", ":")),
        media_type="application/geo+json",
    )


@router.get("/patrols/{task_id}", response_model=PatrolPublic, responses=ERRORS)
def get_patrol(task_id: TaskId, db: SessionDep) -> dict[str, Any]:
    """A task with every claim (active first)."""
    return task_public(patrols.get_patrol(db, task_id))


@router.delete(
    "/patrols/{task_id}",
    response_model=PatrolPublic,
    responses={**ERRORS, **REFUSALS, 403: {"model": ErrorPublic}},
)
def cancel_patrol(request: Request, task_id: TaskId, db: SessionDep) -> dict[str, Any]:
    """Cancel a task (its unit's key or an admin); every held slot is released."""
    with decided(db):
        task = patrols.cancel_patrol(db, task_id, acting=acting(request))
    return task_public(task)


@router.post(
    "/patrols/{task_id}/claims",
    response_model=ClaimPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": ClaimPublic, "description": "The volunteer already held a slot"},
        **ERRORS,
        **REFUSALS,
    },
)
def grab(
    request: Request, task_id: TaskId, body: ClaimCreate, db: SessionDep, response: Response
) -> dict[str, Any]:
    """Grab a slot for a volunteer (抢单). Never over-booked under any concurrency; a
    volunteer who already holds a slot gets it back (200)."""
    with decided(db):
        result = patrols.grab(db, task_id, body.responder_id, acting=acting(request))
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return claim_public(result.claim)


@router.delete(
    "/patrols/{task_id}/claims/{responder_id}",
    response_model=ClaimPublic,
    responses={**ERRORS, **REFUSALS},
)
def cancel_claim(
    request: Request,
    task_id: TaskId,
    responder_id: ResponderId,
    db: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """The volunteer gives the slot up. Later than GRIDGIS_PATROL_CANCEL_DEADLINE_H hours
    before the start it is recorded as a no-show (`status: no_show`)."""
    rules = PatrolRules.from_settings(settings)
    with decided(db):
        claim = patrols.cancel_claim(db, task_id, responder_id, rules, acting=acting(request))
    return claim_public(claim)


def _presence(body: PresenceIn) -> tuple[float, float]:
    if body.crs == "wgs84":
        return body.lon, body.lat
    lon, lat = crs_mod.to_wgs84(body.lon, body.lat, body.crs)
    return float(lon), float(lat)


@router.post(
    "/patrols/{task_id}/claims/{responder_id}/check-in",
    response_model=ClaimPublic,
    responses={**ERRORS, **REFUSALS},
)
def check_in(
    request: Request,
    task_id: TaskId,
    responder_id: ResponderId,
    body: PresenceIn,
    db: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Check in with a position: accepted within the area plus GRIDGIS_PATROL_CHECKIN_TOLERANCE_M
    (default 200 m) and the window plus GRIDGIS_PATROL_CHECKIN_TOLERANCE_MIN. The position is
    also the volunteer's live fix: dispatch sees them there, available."""
    lon, lat = _presence(body)
    rules = PatrolRules.from_settings(settings)
    with decided(db):
        claim = patrols.check_in(db, task_id, responder_id, lon, lat, rules, acting=acting(request))
    return claim_public(claim)


@router.post(
    "/patrols/{task_id}/claims/{responder_id}/check-out",
    response_model=ClaimPublic,
    responses={**ERRORS, **REFUSALS},
)
def check_out(
    request: Request,
    task_id: TaskId,
    responder_id: ResponderId,
    body: PresenceIn,
    db: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Check out with a position, under the same rules as check-in."""
    lon, lat = _presence(body)
    rules = PatrolRules.from_settings(settings)
    with decided(db):
        claim = patrols.check_out(
            db, task_id, responder_id, lon, lat, rules, acting=acting(request)
        )
    return claim_public(claim)
