"""Incidents (intake, timeline, listing), their routing categories and the KPIs over them."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from api.deps import SessionDep, SettingsDep
from api.incident_schemas import (
    CategoryListPublic,
    EventCreate,
    IncidentCreate,
    IncidentListPublic,
    IncidentPublic,
    IncidentStatus,
    KpiReportPublic,
)
from api.params import INT8_MAX, Cursor, QueryTime, Text, next_link
from api.schemas import ErrorPublic
from api.security import actor
from gridgis.dispatch import incidents, kpis
from gridgis.vocabulary import AREA_LEVELS, AreaLevel

router = APIRouter()

IncidentId = Annotated[int, Path(ge=1, le=INT8_MAX, description="The incident's id")]
AreaCode = Annotated[
    str | None,
    Query(
        min_length=6,
        max_length=20,
        pattern=r"^[0-9]+$",
        description="Any area code (city, county, township or grid): that area and everything "
        "in it",
    ),
]
From = Annotated[
    QueryTime | None,
    Query(alias="from", description="Reported at or after (RFC 3339 with a zone or Z)"),
]
To = Annotated[
    QueryTime | None, Query(alias="to", description="Reported before (RFC 3339 with a zone or Z)")
]

ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorPublic, "description": "An incident, responder or area does not exist"},
    422: {"model": ErrorPublic, "description": "Invalid input; `field` names it"},
}


@router.get("/incident-categories", response_model=CategoryListPublic, tags=["incidents"])
def list_categories(db: SessionDep) -> CategoryListPublic:
    """The routing table: who is recommended for each category of incident."""
    return CategoryListPublic.model_validate(
        {"categories": [asdict(c) for c in incidents.categories(db)]}
    )


@router.post(
    "/incidents",
    response_model=IncidentPublic,
    status_code=status.HTTP_201_CREATED,
    tags=["incidents"],
    responses={
        200: {"model": IncidentPublic, "description": "A retry: the incident already stored"},
        409: {"model": ErrorPublic, "description": "external_id reused with other content"},
        **ERRORS,
    },
)
def create_incident(
    request: Request,
    body: IncidentCreate,
    db: SessionDep,
    settings: SettingsDep,
    response: Response,
) -> IncidentPublic:
    """Record an incident, idempotent on `external_id`.

    Coordinates may be sent in WGS84, GCJ-02 or BD-09 (`crs`); the point is stored and returned
    in **WGS84** (`lon`, `lat`), the original kept in `input`. The incident is placed in its
    grid (a point outside every grid is still recorded, with `grid` null) and routed by its
    category: the recommended responders are stored with it as a snapshot.
    """
    result = incidents.report_incident(
        db,
        incidents.IncidentReport(
            external_id=body.external_id,
            category=body.category,
            lon=body.lon,
            lat=body.lat,
            crs=body.crs,
            reported_at=body.reported_at,
            description=body.description,
        ),
        request.app.state.eta_provider.model(db),
        stale_after_s=settings.stale_after_s,
        actor=actor(request),
    )
    if result.created:
        response.headers["Location"] = f"/v1/incidents/{result.incident['id']}"
    else:
        response.status_code = status.HTTP_200_OK
    return IncidentPublic.model_validate(result.incident)


@router.get(
    "/incidents",
    response_model=IncidentListPublic,
    tags=["incidents"],
    responses=ERRORS,
)
def list_incidents(
    request: Request,
    db: SessionDep,
    from_: From = None,
    to: To = None,
    area: AreaCode = None,
    status_: Annotated[IncidentStatus | None, Query(alias="status")] = None,
    category: Annotated[Text | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=incidents.MAX_PAGE)] = 100,
    cursor: Cursor = None,
) -> IncidentListPublic:
    """Incidents newest first, filtered by report time, area, status and category; paged by a
    cursor (follow `next`)."""
    page = incidents.list_incidents(
        db,
        start=from_,
        end=to,
        area=area,
        status=status_,
        category=category,
        limit=limit,
        cursor=cursor,
    )
    next_url = None
    if page.next_cursor is not None:
        next_url = next_link(request, page.next_cursor)
    return IncidentListPublic.model_validate({"incidents": page.items, "next": next_url})


@router.get(
    "/incidents/{id}",
    response_model=IncidentPublic,
    tags=["incidents"],
    responses=ERRORS,
)
def get_incident(db: SessionDep, id: IncidentId) -> IncidentPublic:
    """One incident with its recommendation snapshot and full timeline (events in order)."""
    return IncidentPublic.model_validate(incidents.get_incident(db, id))


@router.post(
    "/incidents/{id}/events",
    response_model=IncidentPublic,
    status_code=status.HTTP_201_CREATED,
    tags=["incidents"],
    responses={
        409: {
            "model": ErrorPublic,
            "description": "The event is out of order, or the responder to dispatch is not "
            "available (busy elsewhere or off duty)",
        },
        **ERRORS,
    },
)
def add_event(
    request: Request, db: SessionDep, id: IncidentId, body: EventCreate
) -> IncidentPublic:
    """Append an event to the timeline. Order: open -> dispatched -> on_scene (arrived) ->
    resolved (on site) or referred (alternatives: one of them) -> closed, as the state table
    in docs/API.md gives it; a 409 says which rule an event breaks. A matter
    diverted to people's mediation (a mediator on scene, or referred) records its outcome:
    `mediated_success` (status `mediated`) or `mediated_failed` (`mediation_failed`), then
    only `closed`; or, after a mediator's dispatch, `referred`.

    `dispatched` claims the responder: they must be `available` and become `busy` (of two
    dispatchers claiming one responder at once, one gets 409). `closed` sets the responders
    the incident still holds back to `available`."""
    incident = incidents.add_event(
        db,
        id,
        incidents.EventReport(
            type=body.type, at=body.at, responder_id=body.responder_id, note=body.note
        ),
        actor=actor(request),
    )
    return IncidentPublic.model_validate(incident)


@router.get("/kpis", response_model=KpiReportPublic, tags=["kpis"], responses=ERRORS)
def get_kpis(
    db: SessionDep,
    settings: SettingsDep,
    from_: From = None,
    to: To = None,
    area: AreaCode = None,
    level: Annotated[
        AreaLevel | None,
        Query(description="Only this level (default: every level)"),
    ] = None,
) -> KpiReportPublic:
    """Incident KPIs per area at every level (default: the last 30 days).

    Response time = first arrival - reported_at; within target means <= `eta_target_s`
    (rates over attended incidents, also for urban `community` grids only); median and p90 of
    response time; share of non-police matters diverted to mediation; share of attended
    incidents resolved on site.
    """
    report = kpis.incident_kpis(
        db,
        start=from_,
        end=to,
        area=area,
        target_s=settings.eta_target_s,
        levels=[level] if level else AREA_LEVELS,
    )
    return KpiReportPublic.model_validate(asdict(report))
