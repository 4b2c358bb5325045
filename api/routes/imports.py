"""POST /v1/imports and /v1/generations: stage, check, activate and roll back boundaries."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse

from api.deps import SessionDep
from api.errors import error_body
from api.import_schemas import (
    ActivationPublic,
    GenerationDetailPublic,
    GenerationListPublic,
    ImportReportPublic,
)
from api.params import INT4_MAX, Text
from api.routes.roads import import_road_upload
from api.schemas import AreaLevel, error_responses
from api.security import actor
from gridgis.boundaries import generations
from gridgis.db.engine import allow_bulk_statements
from gridgis.errors import InvalidInput
from gridgis.roads.networks import pricing_notice
from gridgis.vocabulary import RoadProfile

router = APIRouter(tags=["boundaries"])

ERRORS = error_responses(404, 409, 422)
UPLOAD_SUFFIXES = (".geojson", ".json", ".gpkg", ".zip")
_CHUNK = 1 << 20

FieldName = Annotated[Text | None, Form(max_length=64)]


def _save_upload(upload: UploadFile, folder: FilePath, max_bytes: int) -> FilePath:
    """Copy the upload to disk under a safe name with its suffix (GDAL reads files)."""
    name = FilePath(upload.filename or "").name
    suffix = FilePath(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise InvalidInput(
            "Upload a .geojson, .gpkg, or a .zip holding a shapefile (.shp .dbf .shx .prj).",
            field="file",
        )
    stem = re.sub(r"[^\w.-]", "_", FilePath(name).stem)[:80] or "upload"
    path = folder / f"{stem}{suffix}"
    written = 0
    with path.open("wb") as out:
        while chunk := upload.file.read(_CHUNK):
            written += len(chunk)
            if written > max_bytes:
                raise InvalidInput(
                    f"The upload is larger than {max_bytes:,} bytes (GRIDGIS_MAX_UPLOAD_BYTES).",
                    field="file",
                )
            out.write(chunk)
    if written == 0:
        raise InvalidInput("The uploaded file is empty.", field="file")
    return path


@router.post(
    "/imports",
    status_code=201,
    response_model=ImportReportPublic,
    responses=ERRORS,
)
def create_import(
    request: Request,
    db: SessionDep,
    file: Annotated[
        UploadFile,
        File(description="GeoJSON, GeoPackage or a zipped Shapefile; an .osm.pbf for roads"),
    ],
    level: Annotated[AreaLevel | None, Form(description="Required for boundaries")] = None,
    kind: Annotated[
        Literal["boundaries", "roads"], Form(description="boundaries, or a road network")
    ] = "boundaries",
    profile: Annotated[RoadProfile, Form(description="Road network profile")] = "car",
    layer: FieldName = None,
    code_field: FieldName = None,
    name_field: FieldName = None,
    parent_field: FieldName = None,
    kind_field: FieldName = None,
    population_field: FieldName = None,
    crs: Annotated[
        Text | None, Form(max_length=32, description="EPSG:nnnn, wgs84, gcj02 or bd09")
    ] = None,
    encoding: Annotated[Text | None, Form(max_length=32)] = None,
    activate: Annotated[bool, Form()] = False,
    force: Annotated[bool, Form(description="Activate even with QA errors")] = False,
    base: Annotated[
        int | None, Form(ge=0, le=INT4_MAX, description="Copy other levels from (0: none)")
    ] = None,
    label: Annotated[Text | None, Form(max_length=200)] = None,
    tolerance_m2: Annotated[float, Form(gt=0, le=1e9)] = 1.0,
    sliver_width_m: Annotated[float, Form(ge=0, le=1e6)] = 2.0,
) -> Any:
    """Stage an uploaded boundary file as a new generation, check it, activate it when asked
    and clean (or forced). A CRS error stages nothing (422 with the report). With
    `kind=roads`, stage an OSM extract as a road network (its QA report; see `gridgis import
    roads`)."""
    if kind == "roads":
        return import_road_upload(request, db, file, profile, activate, force, label)
    if level is None:
        raise InvalidInput("level is required for a boundary import.", field="level")
    options, import_request = generations.import_options(
        level,
        layer=layer,
        code_field=code_field,
        name_field=name_field,
        parent_field=parent_field,
        kind_field=kind_field,
        population_field=population_field,
        crs=crs,
        encoding=encoding,
        activate=activate,
        force=force,
        base=base,
        label=label,
        actor=actor(request),
        tolerance_m2=tolerance_m2,
        sliver_width_m=sliver_width_m,
    )
    folder = FilePath(tempfile.mkdtemp(prefix="gridgis-upload-"))
    try:
        path = _save_upload(file, folder, request.app.state.settings.max_upload_bytes)
        allow_bulk_statements(db, request.app.state.settings)
        report = generations.import_file(db, path, options, import_request)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if report["generation"] is None:
        first = report["errors"][0] if report["errors"] else {"check": "empty", "message": ""}
        field = "crs" if first["check"] == "crs" else "file"
        return JSONResponse(
            error_body(
                "invalid_input", first["message"] or "Nothing to import.", field, report=report
            ),
            status_code=422,
        )
    if report["activated"]:
        report["road_pricing"] = pricing_notice(db)
    return ImportReportPublic.model_validate(report)


@router.get("/generations", response_model=GenerationListPublic)
def list_generations(db: SessionDep) -> GenerationListPublic:
    """Every boundary generation, newest first: status, areas per level, QA counts."""
    return GenerationListPublic.model_validate({"generations": generations.list_generations(db)})


GenerationId = Annotated[int, Path(ge=1, le=INT4_MAX)]


@router.get("/generations/{generation_id}", response_model=GenerationDetailPublic, responses=ERRORS)
def get_generation(db: SessionDep, generation_id: GenerationId) -> GenerationDetailPublic:
    """One generation with its stored QA report."""
    return GenerationDetailPublic.model_validate(generations.get_generation(db, generation_id))


@router.post(
    "/generations/{generation_id}/activate", response_model=ActivationPublic, responses=ERRORS
)
def activate_generation(
    request: Request,
    db: SessionDep,
    generation_id: GenerationId,
    force: Annotated[bool, Query(description="Activate even with QA errors")] = False,
) -> ActivationPublic:
    """Make a generation the one lookups use (an older one: roll back). Audited."""
    outcome = generations.activate_generation(db, generation_id, actor=actor(request), force=force)
    if outcome["changed"]:
        outcome["road_pricing"] = pricing_notice(db)
    return ActivationPublic.model_validate(outcome)
