"""Offline HTML maps: a coverage run's planning map and the nearest-responders map of a call."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from api.deps import SessionDep, SettingsDep
from api.params import INT8_MAX, PointQuery, Text
from api.quotas import HeavySlot
from api.routes.coverage import model_of_run
from api.routes.responders import STATUS_SET, known_roles, parse_list
from api.schemas import ErrorPublic
from gridgis.coverage.plan import MAX_ADD, plan_posts
from gridgis.dispatch.nearest import MAX_RESULTS
from gridgis.mapping.policy import map_content_security_policy
from gridgis.vocabulary import AVAILABLE

router = APIRouter(tags=["maps"])


def _json_error(description: str) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{ErrorPublic.__name__}"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


# Errors are JSON although the map is HTML (a model here would be documented as text/html).
ERRORS: dict[int | str, dict[str, Any]] = {
    401: _json_error("No valid API key (X-API-Key)."),
    403: _json_error("The key's role may not do this."),
    404: _json_error("The run or the area does not exist"),
    409: _json_error("Conflict"),
    422: _json_error("Invalid input; `field` names it"),
    503: _json_error("The database is unreachable; retry after `Retry-After` seconds."),
}
HTML: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "A self-contained HTML map"}
}


def _map_page(page: str, tiles: str) -> HTMLResponse:
    """A map with its own Content-Security-Policy (api/headers.py adds the other headers)."""
    policy = map_content_security_policy(page, tiles=tiles)
    return HTMLResponse(page, headers={"Content-Security-Policy": policy})


@router.get(
    "/maps/coverage/{run_id}.html",
    response_class=HTMLResponse,
    responses={
        **ERRORS,
        **HTML,
        429: _json_error("Too many expensive requests; retry after `Retry-After` seconds."),
    },
)
def coverage_map(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    run_id: Annotated[int, Path(ge=1, le=INT8_MAX)],
    plan_add: Annotated[
        int, Query(ge=0, le=MAX_ADD, description="Also show N planned posts (0: none)")
    ] = 0,
    plan_role: Annotated[Text, Query(min_length=1, max_length=32)] = "volunteer",
    _slot: HeavySlot = None,
) -> HTMLResponse:
    """The planning map of a run: ETA heatmap over the H3 cells, grid choropleth of the
    population share within target, responders by role, police stations, incident density,
    boundaries and optional planned posts. Works without internet (Leaflet is inlined)."""
    # folium (~70 MiB) loads on the first map request, not in every API worker at start.
    from gridgis.mapping.coverage_map import coverage_map_html

    plan = None
    if plan_add:
        model = model_of_run(request, db, run_id)
        plan = plan_posts(db, model, run_id=run_id, add=plan_add, role=plan_role)
    page = coverage_map_html(
        db, run_id, tiles=settings.tiles, stale_after_s=settings.stale_after_s, plan=plan
    )
    return _map_page(page, settings.tiles)


@router.get("/maps/nearest.html", response_class=HTMLResponse, responses={**ERRORS, **HTML})
def nearest_map(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    point: PointQuery,
    n: Annotated[int, Query(ge=1, le=MAX_RESULTS)] = 5,
    roles: Annotated[Text | None, Query(max_length=500, description="Comma-separated")] = None,
    status: Annotated[Text, Query(max_length=100, description="Comma-separated")] = AVAILABLE,
) -> HTMLResponse:
    """The call location, its grid outlined and the nearest responders with their ETAs. The
    point may be sent in WGS84, GCJ-02 or BD-09 (`crs`); the map is drawn in WGS84."""
    from gridgis.mapping.dispatch_map import dispatch_map_html

    page = dispatch_map_html(
        db,
        point.wgs_lon,
        point.wgs_lat,
        request.app.state.eta_provider.model(db),
        tiles=settings.tiles,
        n=n,
        roles=parse_list(roles, "roles", known_roles(request, db)),
        statuses=parse_list(status, "status", STATUS_SET) or [AVAILABLE],
        stale_after_s=settings.stale_after_s,
    )
    return _map_page(page, settings.tiles)
