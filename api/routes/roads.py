"""Road networks over HTTP: list, activate, import (via /v1/imports); isochrones and service
areas on the active network as GeoJSON polygons, and responders' routes to a call as GeoJSON
lines (WGS84)."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Path, Query, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from api.deps import SessionDep, SettingsDep
from api.params import INT4_MAX, INT8_MAX, PointQuery, Text
from api.road_schemas import RoutesPublic
from api.schemas import ErrorPublic, error_responses
from api.security import actor
from gridgis.dispatch.responders import get_responder
from gridgis.errors import Conflict, InvalidInput
from gridgis.roads.engine import RoadEngine
from gridgis.roads.isochrones import Isochrone, isochrones
from gridgis.roads.networks import (
    RoadImport,
    activate_network,
    import_network,
    list_networks,
    reprice_network,
)
from gridgis.roads.routes import MAX_ROUTES, RoutesAnswer, responder_routes
from gridgis.times import normalise_times
from gridgis.vocabulary import RoadProfile

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


_ID = re.compile(r"[0-9]{1,19}")
ResponderIds = Annotated[
    Text,
    Query(
        max_length=500,
        description=f"Comma-separated responder ids (1 to {MAX_ROUTES}), e.g. from a nearest "
        "answer",
    ),
]


def parse_responder_ids(value: str) -> list[int]:
    """Strict ids: digits only, within bigint (`1.0`, `true` or `-3` name no responder)."""
    parts = [part.strip() for part in value.split(",") if part.strip()]
    ids = []
    for part in parts:
        if not _ID.fullmatch(part) or not 1 <= int(part) <= INT8_MAX:
            raise InvalidInput(
                f"responder_ids must be comma-separated ids (1 to {INT8_MAX}); got {part!r}.",
                field="responder_ids",
            )
        ids.append(int(part))
    return ids


def _routes_body(answer: RoutesAnswer, query: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "query": {**query, "setting": answer.setting},
        "features": [
            {
                "type": "Feature",
                "id": route.responder_id,
                "geometry": {
                    "type": "LineString",
                    "coordinates": [
                        [round(float(x), 7), round(float(y), 7)] for x, y in route.coordinates
                    ],
                },
                "properties": {
                    "responder_id": route.responder_id,
                    "name": route.name,
                    "role": route.role,
                    "status": route.status,
                    "position_source": route.source,
                    "recorded_at": route.recorded_at,
                    "eta_s": route.eta_s,
                    "within_target": route.within_target,
                    "priced_by": route.priced_by,
                    "path": route.path,
                    "network_id": route.network_id,
                    "length_m": route.length_m,
                    "distance_m": route.distance_m,
                },
            }
            for route in answer.routes
        ],
    }


@router.get("/routes", response_model=RoutesPublic, responses=error_responses(404, 422))
def get_routes(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    point: PointQuery,
    responder_ids: ResponderIds,
) -> JSONResponse:
    """The way each named responder would go to the call at (lon, lat), from the position
    dispatch places them at now (a fresh live fix, else home), with the ETA the model in force
    gives (the same as `/v1/responders/nearest`). With the road model and an active network, a
    responder it prices gets the fastest road path (`path: road`, the legs to and from the road
    included, one-way streets respected); a responder priced by the straight-line model (that
    model in force, or a position farther than the snap limit from every road) gets the
    straight line (`path: straight_line`). 404 names the responders that do not exist."""
    ids = parse_responder_ids(responder_ids)
    model = request.app.state.eta_provider.model(db)
    answer = responder_routes(
        db,
        point.wgs_lon,
        point.wgs_lat,
        ids,
        model,
        stale_after_s=settings.stale_after_s,
    )
    query = {
        **point.echo(),
        "responder_ids": [route.responder_id for route in answer.routes],
        "stale_after_s": settings.stale_after_s,
        "eta_model": model.parameters(),
    }
    return JSONResponse(jsonable_encoder(normalise_times(_routes_body(answer, query))))


ROAD_UPLOAD_SUFFIXES = (".pbf", ".osm")
MAX_ROAD_UPLOAD_BYTES = 1_000_000_000  # a provincial extract (Fujian is a few hundred MB)


def import_road_upload(
    request: Request,
    db: SessionDep,
    upload: UploadFile,
    profile: RoadProfile,
    activate: bool,
    force: bool,
    label: str | None,
) -> JSONResponse:
    """`POST /v1/imports` with kind=roads: stage the uploaded extract as a road network."""
    name = FilePath(upload.filename or "").name
    if not name.lower().endswith(ROAD_UPLOAD_SUFFIXES):
        raise InvalidInput("Upload an OpenStreetMap extract (.osm.pbf).", field="file")
    folder = FilePath(tempfile.mkdtemp(prefix="gridgis-roads-"))
    try:
        path = folder / (re.sub(r"[^\w.-]", "_", name)[:120] or "extract.osm.pbf")
        written = 0
        with path.open("wb") as out:
            while chunk := upload.file.read(1 << 20):
                written += len(chunk)
                if written > MAX_ROAD_UPLOAD_BYTES:
                    raise InvalidInput("The upload is larger than 1 GB.", field="file")
                out.write(chunk)
        if written == 0:
            raise InvalidInput("The uploaded file is empty.", field="file")
        report = import_network(
            db,
            path,
            RoadImport(
                profile=profile,
                label=label,
                activate=activate,
                force=force,
                actor=actor(request),
                statement_timeout_ms=request.app.state.settings.bulk_statement_timeout_ms,
            ),
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return JSONResponse(jsonable_encoder(normalise_times(report)), status_code=201)


@router.get("/road-networks")
def list_road_networks(db: SessionDep) -> JSONResponse:
    """Every road network, newest first: status, size, QA error and warning counts."""
    return JSONResponse(jsonable_encoder(normalise_times({"networks": list_networks(db)})))


@router.post("/road-networks/{network_id}/activate", responses=ERRORS)
def activate_road_network(
    request: Request,
    db: SessionDep,
    network_id: Annotated[int, Path(ge=1, le=INT4_MAX)],
    force: Annotated[bool, Query(description="Activate even with QA errors")] = False,
) -> JSONResponse:
    """Make a road network the one road ETAs use (an older one: roll back). Audited."""
    outcome = activate_network(db, network_id, actor=actor(request), force=force)
    return JSONResponse(outcome)


@router.post("/road-networks/{network_id}/reprice", responses=ERRORS, status_code=201)
def reprice_road_network(
    request: Request,
    db: SessionDep,
    network_id: Annotated[int, Path(ge=1, le=INT4_MAX)],
    activate: Annotated[bool, Query(description="Activate the copy when its checks pass")] = False,
    force: Annotated[bool, Query(description="Activate even with QA errors")] = False,
    label: Annotated[Text | None, Query(max_length=200, description="Label of the copy")] = None,
) -> JSONResponse:
    """Stage a copy of a network whose edges are priced by the active boundary generation's
    urban and rural grids (after the boundaries changed), with its QA report. Audited when
    activated."""
    report = reprice_network(
        db,
        network_id,
        RoadImport(
            label=label,
            activate=activate,
            force=force,
            actor=actor(request),
            statement_timeout_ms=request.app.state.settings.bulk_statement_timeout_ms,
        ),
    )
    return JSONResponse(jsonable_encoder(normalise_times(report)), status_code=201)
