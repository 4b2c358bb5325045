"""Coverage runs (create, list, per-area summary, H3 cells) and the "where to add" planner."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from api.coverage_schemas import (
    AreaLevel,
    CellFeatureCollection,
    CoverageAreas,
    CoverageRunCreate,
    CoverageRunList,
    CoverageRunPublic,
    PlanCreate,
    PlanPublic,
)
from api.deps import SessionDep, SettingsDep
from api.params import (
    INT8_MAX,
    Cursor,
    Text,
    decode_id_cursor,
    encode_id_cursor,
    next_link,
    page_position,
)
from api.quotas import RATE_LIMITED, HeavySlot
from api.schemas import error_responses
from api.security import actor
from gridgis import crs as crs_mod
from gridgis.coverage import runs
from gridgis.coverage import sql as coverage_sql
from gridgis.coverage.plan import check_role, plan_posts
from gridgis.coverage.runs import CoverageRequest, CoverageRun
from gridgis.db.engine import allow_bulk_statements
from gridgis.dispatch.eta import StraightLineEta
from gridgis.roads.model import ROAD_MODEL_NAME, RoadEta

router = APIRouter(tags=["coverage"])

ERRORS = error_responses(404, 409, 422)
RunId = Annotated[int, Path(ge=1, le=INT8_MAX)]


def _public(run: CoverageRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "created_at": run.created_at,
        "status": run.status,
        "generation": run.generation_id,
        "duration_s": None if run.duration_s is None else round(run.duration_s, 3),
        "cell_count": run.cell_count,
        "parameters": run.parameters,
        "summary": run.summary,
    }


def _request_of(body: CoverageRunCreate | PlanCreate, generation: int | None) -> CoverageRequest:
    return CoverageRequest(
        roles=tuple(body.roles) if body.roles is not None else None,
        statuses=tuple(body.statuses),
        target_s=body.target_s,
        k=body.k,
        resolution=body.resolution,
        generation_id=generation,
    )


@router.post(
    "/coverage/runs",
    status_code=201,
    response_model=CoverageRunPublic,
    responses={**ERRORS, **RATE_LIMITED},
)
def create_run(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    body: CoverageRunCreate,
    _slot: HeavySlot,
) -> dict[str, Any]:
    """Compute and store a coverage run over the whole city: for every H3 cell the ETA of the
    nearest and k-th nearest counted responder and how many reach it within the target; then
    shares, ETAs and responders per 10,000 people for every grid, township, county and the
    city. The summary is the city row."""
    allow_bulk_statements(db, settings)
    model = request.app.state.eta_provider.coverage_model(db, body.eta_model)
    progress = request.app.state.coverage_progress
    token = progress.start(
        started_by=actor(request),
        parameters=body.model_dump(mode="json", exclude={"client_token"}),
        client_token=body.client_token,
    )
    try:
        run = runs.run_coverage(
            db,
            model,
            _request_of(body, body.generation),
            stale_after_s=settings.stale_after_s,
            release_reads=db.rollback,
            progress=lambda stage, step, steps: progress.update(token, stage, step, steps),
        )
    finally:
        progress.finish(token)
    return _public(run)


@router.delete("/coverage/runs/{run_id}", status_code=204, responses=ERRORS)
def delete_run(request: Request, db: SessionDep, run_id: RunId) -> Response:
    """Delete a run with its cells and statistics (audited). Runs also expire after
    GRIDGIS_COVERAGE_RETENTION_DAYS."""
    runs.delete_run(db, run_id, actor=actor(request))
    request.app.state.hexagon_cache.discard(run_id)
    return Response(status_code=204)


@router.get("/coverage/runs", response_model=CoverageRunList, responses=ERRORS)
def list_runs(
    request: Request,
    db: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[
        int | None,
        Query(ge=1, le=INT8_MAX, deprecated=True, description="Deprecated: use `cursor`"),
    ] = None,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Stored runs, newest first; follow `next`."""
    start = decode_id_cursor(cursor) if cursor is not None else before
    found = runs.list_runs(db, before=start, limit=limit)
    more = len(found) == limit and found[-1].id > 1
    return {
        "runs": [_public(r) for r in found],
        "next": next_link(request, encode_id_cursor(found[-1].id)) if more else None,
    }


@router.get("/coverage/runs/{run_id}", response_model=CoverageRunPublic, responses=ERRORS)
def get_run(db: SessionDep, run_id: RunId) -> dict[str, Any]:
    """One stored run with its parameters and city summary."""
    return _public(runs.get_run(db, run_id))


@router.get("/coverage/runs/{run_id}/summary", response_model=CoverageAreas, responses=ERRORS)
def run_summary(
    db: SessionDep,
    run_id: RunId,
    level: Annotated[AreaLevel, Query(description="city, county, township or grid")] = "city",
) -> dict[str, Any]:
    """Coverage of every area of one level (population-weighted ETAs; shares use k)."""
    return {"run": run_id, "level": level, "areas": runs.area_summary(db, run_id, level)}


@router.get("/coverage/runs/{run_id}/cells", response_model=CellFeatureCollection, responses=ERRORS)
def run_cells(
    request: Request,
    db: SessionDep,
    run_id: RunId,
    bbox: Annotated[
        Text | None,
        Query(
            max_length=200,
            description="minlon,minlat,maxlon,maxlat (WGS84): cells whose centre is inside",
        ),
    ] = None,
    format: Annotated[Literal["geojson"], Query(description="Only geojson")] = "geojson",
    per: Annotated[
        Literal["piece", "cell"],
        Query(
            description="piece: one feature per (cell, grid) row, as stored; cell: one feature "
            "per H3 cell with its people summed over the grids in it"
        ),
    ] = "piece",
    limit: Annotated[int, Query(ge=1, le=runs.MAX_CELL_PAGE)] = 1_000,
    after: Annotated[
        int | None,
        Query(ge=0, le=INT8_MAX, deprecated=True, description="Deprecated: use `cursor`"),
    ] = None,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """The run's H3 cells as GeoJSON hexagons, paged: follow `next` until it is null.

    A cell's people belong to the grid holding its centre. A grid too small to hold any cell
    centre keeps its people in the cell under its point-on-surface, so that cell also carries
    them: by default (`per=piece`) it is one feature per (cell, grid), id `h3:grid_code`;
    `per=cell` gives one feature per H3 cell (id `h3`) with the people summed, `grid_code`
    the grid holding the centre and `grid_codes` every grid with people in it."""
    page = runs.cells_page(
        db,
        run_id,
        bbox=runs.parse_bbox(bbox),
        after=page_position(cursor, after),
        limit=limit,
        per=per,
    )
    next_url = (
        next_link(request, encode_id_cursor(page.next_after))
        if page.next_after is not None
        else None
    )
    return {"type": "FeatureCollection", "features": page.features, "next": next_url}


def model_of_run(request: Request, db: SessionDep, run_id: int) -> StraightLineEta | RoadEta:
    """The model a stored run counted by (a run by road is planned by road)."""
    stored = coverage_sql.get_run(db, run_id).parameters.get("eta_model") or {}
    return request.app.state.eta_provider.coverage_model(
        db, "road" if stored.get("name") == ROAD_MODEL_NAME else "straight_line"
    )


def _candidates_wgs84(body: PlanCreate) -> list[list[float]] | None:
    if body.candidates is None or body.crs == "wgs84":
        return body.candidates
    converted = []
    for site in body.candidates:
        if len(site) != 2:
            return body.candidates  # the planner names the bad site
        lon, lat = crs_mod.to_wgs84(site[0], site[1], body.crs)
        converted.append([float(lon), float(lat)])
    return converted


@router.post("/coverage/plan", response_model=PlanPublic, responses={**ERRORS, **RATE_LIMITED})
def plan(
    request: Request, db: SessionDep, settings: SettingsDep, body: PlanCreate, _slot: HeavySlot
) -> dict[str, Any]:
    """Choose `add` new posts (maximal covering location problem) with every current responder
    kept where it is: greedy, an LP upper bound, and the exact integer programme (HiGHS) under
    a time limit. Returns the posts, what each adds, before/after shares and the gap."""
    run_id = body.run_id
    if run_id is None:
        model = request.app.state.eta_provider.coverage_model(db, body.eta_model)
    else:
        model = model_of_run(request, db, run_id)
    if run_id is None:
        check_role(db, body.role, body.roles)  # before the city-wide run, not after it
        allow_bulk_statements(db, settings)
        run_id = runs.run_coverage(
            db,
            model,
            _request_of(body, None),
            stale_after_s=settings.stale_after_s,
            release_reads=db.rollback,
        ).id
        db.commit()  # the run is kept, and no transaction stays open while the plan solves
    result = plan_posts(
        db,
        model,
        run_id=run_id,
        add=body.add,
        role=body.role,
        candidates=_candidates_wgs84(body),
        time_limit_s=body.time_limit_s,
        release_reads=db.rollback,
    )
    return dataclasses.asdict(result)
