"""Responders: nearest to a call, list/read/create/update, and one responder's live position."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from api.deps import ReaderDep, SessionDep, SettingsDep, in_dispatch_thread
from api.params import (
    INT8_MAX,
    Cursor,
    PointQuery,
    Text,
    encode_id_cursor,
    next_link,
    page_position,
)
from api.responses import FastJSONResponse
from api.schemas import (
    IngestPublic,
    NearestPublic,
    PositionIn,
    ResponderCreate,
    ResponderFeatureCollection,
    ResponderListPublic,
    ResponderPublic,
    ResponderUpdate,
    error_responses,
)
from api.security import actor
from gridgis.db import Executor
from gridgis.dispatch import positions, responders
from gridgis.dispatch.nearest import MAX_RESULTS, nearest_responders
from gridgis.dispatch.sql import responders as responders_sql
from gridgis.errors import InvalidInput
from gridgis.filters import require_area
from gridgis.vocabulary import AVAILABLE, RESPONDER_STATUSES

router = APIRouter(tags=["responders"])

ERRORS = error_responses(404, 409, 422)
ROLES_CACHE_S = 60.0
ResponderId = Annotated[int, Path(ge=1, le=INT8_MAX)]


def parse_list(value: str | None, field: str, allowed: set[str] | None = None) -> list[str] | None:
    """A comma-separated query parameter as a list (None when absent or empty)."""
    if value is None or not value.strip():
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if allowed is not None:
        unknown = sorted(set(items) - allowed)
        if unknown:
            raise InvalidInput(
                f"unknown {field}: {', '.join(unknown)}; expected some of "
                f"{', '.join(sorted(allowed))}.",
                field=field,
            )
    return items


def known_roles(request: Request, db: Executor) -> set[str]:
    """The role vocabulary, cached briefly: it changes only with a migration."""
    cached = getattr(request.app.state, "roles_cache", None)
    if cached is None or cached[0] < time.monotonic():
        cached = (time.monotonic() + ROLES_CACHE_S, responders_sql.known_roles(db))
        request.app.state.roles_cache = cached
    roles: set[str] = cached[1]
    return roles


STATUS_SET: set[str] = set(RESPONDER_STATUSES)


@router.get("/responders/nearest", response_model=NearestPublic, responses=ERRORS)
async def nearest(
    request: Request,
    db: ReaderDep,
    settings: SettingsDep,
    point: PointQuery,
    n: Annotated[int, Query(ge=1, le=MAX_RESULTS)] = 5,
    roles: Annotated[
        Text | None, Query(max_length=500, description="Comma-separated roles (default: all)")
    ] = None,
    status: Annotated[
        Text, Query(max_length=100, description="Comma-separated statuses counted")
    ] = AVAILABLE,
    max_eta_s: Annotated[float | None, Query(gt=0, le=86_400, allow_inf_nan=False)] = None,
    prefer: Annotated[
        Literal["nearest", "team"],
        Query(
            description="team: the call grid's own team first, then the nearest others; "
            "`n` caps the whole answer"
        ),
    ] = "nearest",
) -> FastJSONResponse:
    """Who can reach (lon, lat) soonest? Distances are geodesic (WGS84 ellipsoid); ETAs come
    from the project's one ETA model. Responses are in WGS84 whatever `crs` the query used."""

    def work() -> FastJSONResponse:
        with db() as conn:
            role_list = parse_list(roles, "roles", known_roles(request, conn))
            status_list = parse_list(status, "status", STATUS_SET) or [AVAILABLE]
            wgs_lon, wgs_lat = point.wgs_lon, point.wgs_lat
            model = request.app.state.eta_provider.model(conn)
            answer = nearest_responders(
                conn,
                wgs_lon,
                wgs_lat,
                model,
                n=n,
                roles=role_list,
                statuses=status_list,
                max_eta_s=max_eta_s,
                stale_after_s=settings.stale_after_s,
                prefer_team=prefer == "team",
            )
        return FastJSONResponse(
            {
                "query": {
                    **point.echo(),
                    "n": n,
                    "roles": role_list,
                    "status": status_list,
                    "max_eta_s": max_eta_s,
                    "prefer": prefer,
                    "stale_after_s": settings.stale_after_s,
                    "setting": answer.setting,
                    "eta_model": model.parameters(),
                },
                "grid": (
                    {k: answer.grid[k] for k in ("code", "name", "kind")} if answer.grid else None
                ),
                "results": [
                    {
                        "responder_id": r.responder_id,
                        "name": r.name,
                        "role": r.role,
                        "status": r.status,
                        "distance_m": r.distance_m,
                        "eta_s": r.eta_s,
                        "within_target": r.within_target,
                        "position": {
                            "lon": r.lon,
                            "lat": r.lat,
                            "recorded_at": r.recorded_at,
                            "source": r.source,
                        },
                        "home_grid_code": r.grid_code,
                        "grid_code": r.grid_code,
                        "team": r.team,
                        "priced_by": r.priced_by,
                    }
                    for r in answer.results
                ],
            }
        )

    return await in_dispatch_thread(request, work)


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "responder_id": row["id"],
        "ref": row["ref"],
        "name": row["name"],
        "role": row["role"],
        "status": row["status"],
        "skills": row["skills"],
        "home_grid_code": row["home_grid_code"],
        "station_code": row["station_code"],
        "home": {"lon": row["home_lon"], "lat": row["home_lat"]},
        "position": {
            "lon": row["lon"],
            "lat": row["lat"],
            "recorded_at": row["recorded_at"],
            "source": row["position_source"],
        },
        "assignments": row["assignments"],
    }


def _feature(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": row["id"],
        "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
        "properties": {
            "responder_id": row["id"],
            "name": row["name"],
            "role": row["role"],
            "status": row["status"],
            "position_source": row["position_source"],
            "recorded_at": row["recorded_at"],
            "home_grid_code": row["home_grid_code"],
        },
    }


@router.get(
    "/responders",
    response_model=ResponderFeatureCollection | ResponderListPublic,
    responses=ERRORS,
)
def list_responders(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    role: Annotated[Text | None, Query(max_length=500, description="Comma-separated roles")] = None,
    status: Annotated[
        Text | None, Query(max_length=100, description="Comma-separated statuses")
    ] = None,
    grid: Annotated[
        str | None,
        Query(pattern=r"^[0-9]{12}$", description="Home grid or assigned grid (12-digit code)"),
    ] = None,
    format: Annotated[Literal["geojson", "json"], Query()] = "geojson",
    limit: Annotated[int, Query(ge=1, le=responders.MAX_PAGE)] = 100,
    after: Annotated[
        int | None,
        Query(ge=0, le=INT8_MAX, deprecated=True, description="Deprecated: use `cursor`"),
    ] = None,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Responders in id order, paged (follow `next`). Each geometry is the position dispatch
    would use right now: the live fix when fresh, else the home base (WGS84)."""
    if grid is not None:
        require_area(db, grid, field="grid", level="grid")
    page = responders.list_responders(
        db,
        roles=parse_list(role, "role", known_roles(request, db)),
        statuses=parse_list(status, "status", STATUS_SET),
        grid=grid,
        after=page_position(cursor, after),
        limit=limit,
        stale_after_s=settings.stale_after_s,
    )
    next_url = (
        next_link(request, encode_id_cursor(page.next_after))
        if page.next_after is not None
        else None
    )
    if format == "json":
        return {"responders": [_public(r) for r in page.items], "next": next_url}
    return {
        "type": "FeatureCollection",
        "features": [_feature(r) for r in page.items],
        "next": next_url,
    }


@router.get("/responders/{responder_id}", response_model=ResponderPublic, responses=ERRORS)
def get_responder(
    db: SessionDep, settings: SettingsDep, responder_id: ResponderId
) -> dict[str, Any]:
    """One responder, with the position dispatch would use now and their grid assignments."""
    return _public(responders.get_responder(db, responder_id, stale_after_s=settings.stale_after_s))


@router.post("/responders", response_model=ResponderPublic, status_code=201, responses=ERRORS)
def create_responder(
    request: Request, db: SessionDep, settings: SettingsDep, body: ResponderCreate
) -> dict[str, Any]:
    """Add a responder. The home grid is found from the home base (converted to WGS84)."""
    known_roles(request, db)
    row = responders.create_responder(
        db,
        name=body.name,
        role=body.role,
        home_lon=body.home.lon,
        home_lat=body.home.lat,
        crs=body.home.crs,
        skills=body.skills,
        status=body.status,
        ref=body.ref,
        station_code=body.station_code,
        stale_after_s=settings.stale_after_s,
        actor=actor(request),
    )
    return _public(row)


@router.patch("/responders/{responder_id}", response_model=ResponderPublic, responses=ERRORS)
def update_responder(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    responder_id: ResponderId,
    body: ResponderUpdate,
) -> dict[str, Any]:
    """Change status (available, busy, off_duty) and profile fields; only fields sent change."""
    changes = body.model_dump(exclude_unset=True)
    for key in ("name", "role", "status", "skills", "home"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} cannot be null.", field=key)
    return _public(
        responders.update_responder(
            db,
            responder_id,
            changes,
            stale_after_s=settings.stale_after_s,
            actor=actor(request),
        )
    )


@router.put("/responders/{responder_id}/position", response_model=IngestPublic, responses=ERRORS)
def put_position(
    db: SessionDep, settings: SettingsDep, responder_id: ResponderId, body: PositionIn
) -> Any:
    """Record one live fix. A fix older than the stored one, or already older than the
    service's stale-after time (GRIDGIS_STALE_AFTER_S), is ignored (`ignored_stale`: 1)."""
    report = positions.update_position(
        db,
        positions.PositionFix(
            responder_id=responder_id,
            lon=body.lon,
            lat=body.lat,
            recorded_at=body.recorded_at,
            crs=body.crs,
        ),
        stale_after_s=settings.stale_after_s,
    )
    return JSONResponse(
        {"accepted": report.accepted, "ignored_stale": report.ignored_stale, "rejected": []}
    )
