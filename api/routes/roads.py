"""Isochrones and service areas on the active road network, as GeoJSON polygons (WGS84)."""

from __future__ import annotations

from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from api.deps import SessionDep, SettingsDep
from api.params import INT8_MAX, PointQuery, Text
from api.schemas import ErrorPublic
from gridgis.dispatch.responders import get_responder
from gridgis.errors import Conflict, InvalidInput
from gridgis.roads.engine import RoadEngine
from gridgis.roads.isochrones import Isochrone, isochrones

router = APIRouter(tags=["roads"])

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {
        "model": ErrorPublic,
        "description": "The point is farther than the snap limit from roads",
    },
    409: {"model": ErrorPublic, "description": "No road network is active"},
    422: {"model": ErrorPublic, "description": "Invalid coordinates or minutes"},
}
Minutes = Annotated[
    Text, Query(description="Comma-separated minutes, e.g. 5,10,15 (each in (0, 120])")
]


def parse_minutes(value: str) -> list[float]:
    try:
        return [float(part) for part in value.split(",") if part.strip()]
    except ValueError as exc:
        raise InvalidInput("minutes must be comma-separated numbers.", field="minutes") from exc


def _engine(request: Request, db: SessionDep) -> RoadEngine:
    engine = request.app.state.eta_provider.active_engine(db)
    if engine is None:
        raise Conflict(
            "No road network is active: import one with `gridgis import roads` and activate it.",
            field="network",
        )
    return engine


def _feature_collection(
    engine: RoadEngine, bands: list[Isochrone], query: dict[str, Any]
) -> JSONResponse:
    features = [
        {
            "type": "Feature",
            "geometry": shapely.geometry.mapping(shapely.set_precision(band.polygon, 1e-7)),
            "properties": {"minutes": band.minutes, "edges_reached": band.edges_reached},
        }
        for band in bands
    ]
    return JSONResponse(
        {
            "type": "FeatureCollection",
            "features": features,
            "query": {**query, "network_id": engine.network_id, "profile": engine.profile},
        }
    )


@router.get("/isochrones", responses=ERRORS)
def get_isochrones(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    point: PointQuery,
    minutes: Minutes = "5,10,15",
) -> JSONResponse:
    """What can be reached from (lon, lat) by road within each number of minutes: polygons
    of the reached streets (buffered 50 m), nested by time, in WGS84."""
    engine = _engine(request, db)
    wgs_lon, wgs_lat = point.wgs_lon, point.wgs_lat
    bands = isochrones(
        engine,
        wgs_lon,
        wgs_lat,
        parse_minutes(minutes),
        request.app.state.eta_provider.straight_line,
        max_snap_m=settings.road_max_snap_m,
    )
    query = point.echo()
    return _feature_collection(engine, bands, query)


@router.get("/responders/{responder_id}/service-area", responses=ERRORS)
def get_service_area(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    responder_id: Annotated[int, Path(ge=1, le=INT8_MAX)],
    minutes: Minutes = "5",
) -> JSONResponse:
    """Where a responder can be within each number of minutes of dispatch (turnout included),
    from the position dispatch would use now (a fresh live fix, else home)."""
    engine = _engine(request, db)
    responder = get_responder(db, responder_id, stale_after_s=settings.stale_after_s)
    fallback = request.app.state.eta_provider.straight_line
    bands = isochrones(
        engine,
        float(responder["lon"]),
        float(responder["lat"]),
        parse_minutes(minutes),
        fallback,
        max_snap_m=settings.road_max_snap_m,
        start_s=fallback.turnout_s,
    )
    return _feature_collection(engine, bands, {"responder_id": responder_id})
