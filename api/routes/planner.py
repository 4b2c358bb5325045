"""The planners' read models over stored coverage runs (hexagons by zoom, area tables with CSV
and GeoJSON export, run comparison, runs in progress) and KPI time series with their charts."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from api.deps import SessionDep, SettingsDep
from api.params import INT8_MAX, QueryTime, Text
from api.planner_schemas import (
    AreaFeatureCollection,
    HexagonCollection,
    KpiSeriesPublic,
    RunAreas,
    RunComparison,
    RunsInProgress,
)
from api.quotas import RATE_LIMITED, SeriesSlot
from api.schemas import ErrorPublic
from api.security import actor
from gridgis.coverage import progress, runs, views
from gridgis.coverage import sql as coverage_sql
from gridgis.dispatch import kpi_series
from gridgis.vocabulary import AreaLevel

router = APIRouter()

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorPublic, "description": "A run or area does not exist"},
    422: {"model": ErrorPublic, "description": "Invalid input; `field` names it"},
}
RunId = Annotated[int, Path(ge=1, le=INT8_MAX)]
Level = Annotated[AreaLevel, Query(description="city, county, township or grid")]
Parent = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=20,
        pattern=r"^[0-9]+$",
        description="Only the areas of `level` inside this area",
    ),
]
CSV_MEDIA = "text/csv; charset=utf-8"
GEOJSON_MEDIA = "application/geo+json"


@router.get(
    "/coverage/progress", response_model=RunsInProgress, tags=["coverage"], responses=ERRORS
)
def runs_in_progress(request: Request, db: SessionDep) -> dict[str, Any]:
    """Coverage runs any server process is computing now, oldest first, with their stage and
    who started them: a console polls it while its `POST /v1/coverage/runs` is under way (a
    run is stored only when complete). `mine` marks the caller's own runs; their
    `client_token` (sent with the POST) tells the caller's runs apart."""
    me = actor(request)
    found = []
    for run in progress.runs_in_progress(db):
        mine = run["started_by"] == me
        found.append({**run, "mine": mine, "client_token": run["client_token"] if mine else None})
    return {"runs": found}


@router.get(
    "/coverage/runs/{run_id}/hexagons",
    response_model=HexagonCollection,
    tags=["coverage"],
    responses=ERRORS,
)
def run_hexagons(
    request: Request,
    db: SessionDep,
    run_id: RunId,
    bbox: Annotated[
        Text,
        Query(max_length=200, description="minlon,minlat,maxlon,maxlat (WGS84) of the view"),
    ],
    zoom: Annotated[int, Query(ge=0, le=22, description="The web map's zoom")],
) -> Response:
    """The run's cells in a map view as GeoJSON hexagons, gathered to a coarser H3 resolution
    (zoom - 2 up to zoom 9, then zoom - 3; at least 5, at most the run's; coarser when the
    view would hold more than 20,000 of them): every hexagon with a cell centre in the view,
    with all its cells' people and people within target summed, the ETA population-weighted.
    A finished run's hexagons are gathered once per resolution and kept by the process."""
    parsed = runs.parse_bbox(bbox)
    assert parsed is not None
    # Built and encoded in the documented shape by the library, not validated again.
    encoded = views.hexagons_json(
        db, run_id, bbox=parsed, zoom=zoom, cache=request.app.state.hexagon_cache
    )
    return Response(encoded, media_type="application/json")


@router.get(
    "/coverage/runs/{run_id}/areas",
    response_model=RunAreas,
    tags=["coverage"],
    responses={
        **ERRORS,
        200: {
            "description": "JSON, or the same rows as CSV or GeoJSON",
            "content": {
                CSV_MEDIA: {"schema": {"type": "string"}},
                GEOJSON_MEDIA: {"schema": {"$ref": "#/components/schemas/AreaFeatureCollection"}},
            },
        },
    },
)
def run_areas(
    db: SessionDep,
    run_id: RunId,
    level: Level = "county",
    parent: Parent = None,
    format: Annotated[
        Literal["json", "csv", "geojson"],
        Query(description="json (default), csv (a download) or geojson (with outlines)"),
    ] = "json",
) -> Any:
    """A run's figures for every area of `level` (inside `parent` when given): the drill-down
    city -> county -> township -> grid, exportable as CSV or GeoJSON."""
    areas = views.run_areas(db, run_id, level, parent)
    suffix = f"-{parent}" if parent else ""
    if format == "csv":
        return Response(
            views.areas_csv(areas),
            media_type=CSV_MEDIA,
            headers={
                "Content-Disposition": f'attachment; filename="coverage-{run_id}-{level}'
                f'{suffix}.csv"'
            },
        )
    if format == "geojson":
        run = coverage_sql.get_run(db, run_id)
        collection = views.areas_geojson(db, run.generation_id, areas)
        AreaFeatureCollection.model_validate(collection)
        return JSONResponse(
            collection,
            media_type=GEOJSON_MEDIA,
            headers={
                "Content-Disposition": f'attachment; filename="coverage-{run_id}-{level}'
                f'{suffix}.geojson"'
            },
        )
    return {"run": run_id, "level": level, "parent": parent, "areas": areas}


@router.get(
    "/coverage/runs/{run_id}/compare/{other_id}",
    response_model=RunComparison,
    tags=["coverage"],
    responses={
        **ERRORS,
        200: {
            "description": "JSON, or the differences as GeoJSON with each area's outline",
            "content": {
                GEOJSON_MEDIA: {"schema": {"$ref": "#/components/schemas/AreaFeatureCollection"}}
            },
        },
    },
)
def compare_runs(
    db: SessionDep,
    run_id: RunId,
    other_id: RunId,
    level: Level = "county",
    parent: Parent = None,
    format: Annotated[Literal["json", "geojson"], Query(description="json or geojson")] = "json",
) -> Any:
    """Per-area differences between two runs (`other_id` minus `run_id`): e.g. before and
    after adding volunteers. Shares, people within target, mean and p90 ETA, responders."""
    result = views.compare_runs(db, run_id, other_id, level, parent)
    if format == "geojson":
        run = coverage_sql.get_run(db, other_id)
        collection = views.areas_geojson(db, run.generation_id, result["areas"])
        return JSONResponse(collection, media_type=GEOJSON_MEDIA)
    return result


@router.get(
    "/kpis/series",
    response_model=KpiSeriesPublic,
    tags=["kpis"],
    responses={
        **ERRORS,
        **RATE_LIMITED,
        200: {
            "description": "JSON, or (format=svg) a line chart of `metric`",
            "content": {"image/svg+xml": {"schema": {"type": "string"}}},
        },
    },
)
def get_kpi_series(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    _slot: SeriesSlot,
    level: Level = "county",
    from_: Annotated[
        QueryTime | None,
        Query(alias="from", description="First bucket starts here (default: 12 buckets ago)"),
    ] = None,
    to: Annotated[
        QueryTime | None, Query(description="Last bucket ends here (default: now)")
    ] = None,
    bucket: Annotated[Literal["week", "day"], Query(description="Bucket length")] = "week",
    area: Parent = None,
    format: Annotated[Literal["json", "svg"], Query(description="json or svg (a chart)")] = "json",
    metric: Annotated[
        Literal[
            "within_target_rate",
            "urban_within_target_rate",
            "median_response_s",
            "p90_response_s",
            "diverted_share",
            "resolved_on_site_share",
        ],
        Query(description="The chart's figure (format=svg)"),
    ] = "within_target_rate",
    lang: Annotated[Literal["zh-CN", "en"], Query(description="The chart's words")] = "zh-CN",
) -> Any:
    """Incident KPIs by week (or day) for the city and every area of `level` (the figures of
    `GET /v1/kpis`), at most 60 buckets; `format=svg` draws one of them with the city's own
    promise (93.48 % on scene within the target) as a dashed line. All buckets come from one
    statement, and a series is kept for a minute (the six charts of the dashboard are one
    computation); callers have a quota of their own for it (429 with Retry-After beyond)."""
    series = kpi_series.kpi_series(
        db,
        level=level,
        start=from_,
        end=to,
        bucket=bucket,
        area=area,
        target_s=settings.eta_target_s,
        cache=request.app.state.kpi_series_cache,
    )
    if format == "svg":
        words = CHART_WORDS[lang]
        svg = kpi_series.series_svg(
            series, metric, title=words[metric], promise_label=words["promise"]
        )
        return Response(
            svg,
            media_type="image/svg+xml",
            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
        )
    return KpiSeriesPublic.model_validate(asdict(series))


CHART_WORDS = {
    "zh-CN": {
        "within_target_rate": "5分钟内到场率（全部）",
        "urban_within_target_rate": "5分钟内到场率（城区）",
        "median_response_s": "响应时间中位数（秒）",
        "p90_response_s": "响应时间P90（秒）",
        "diverted_share": "人民调解分流率",
        "resolved_on_site_share": "现场化解率",
        "promise": "全市承诺",
    },
    "en": {
        "within_target_rate": "On scene within 5 min (all)",
        "urban_within_target_rate": "On scene within 5 min (urban)",
        "median_response_s": "Median response (s)",
        "p90_response_s": "P90 response (s)",
        "diverted_share": "Mediation diversion",
        "resolved_on_site_share": "Resolved on site",
        "promise": "City promise",
    },
}
