"""GET /v1/areas and /v1/areas/{code}: the boundary hierarchy as GeoJSON."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from api.deps import SessionDep
from api.params import Generation
from api.schemas import (
    AreaDetailPublic,
    AreaFeatureCollection,
    AreaLevel,
    AreaListPublic,
    ErrorPublic,
)
from gridgis.boundaries import sql as boundaries_sql
from gridgis.boundaries.export import areas_feature_collection, areas_geopackage, feature_of
from gridgis.filters import require_area

router = APIRouter(tags=["areas"])


@router.get(
    "/areas",
    response_model=AreaFeatureCollection | AreaListPublic,
    responses={
        200: {"content": {"application/geopackage+sqlite3": {}}},
        404: {"model": ErrorPublic},
        422: {"model": ErrorPublic},
    },
)
def list_areas(
    db: SessionDep,
    level: Annotated[AreaLevel | None, Query(description="Only areas of this level")] = None,
    parent: Annotated[
        str | None, Query(max_length=20, pattern=r"^[0-9]+$", description="Parent area code")
    ] = None,
    format: Annotated[
        Literal["geojson", "json", "gpkg"],
        Query(
            description="geojson: FeatureCollection with geometry; json: properties only; "
            "gpkg: a GeoPackage file (layer `areas`)"
        ),
    ] = "geojson",
    generation: Generation = None,
) -> AreaFeatureCollection | AreaListPublic | Response:
    """Areas of the hierarchy (WGS84). Properties: code, name, level, parent_code, kind,
    population, generation."""
    generation_id = boundaries_sql.resolve_generation_id(db, generation)
    if parent is not None:
        require_area(db, parent, field="parent", generation_id=generation_id)
    if format == "gpkg":
        return Response(
            areas_geopackage(db, generation_id, level=level, parent_code=parent),
            media_type="application/geopackage+sqlite3",
            headers={"Content-Disposition": f'attachment; filename="areas-{generation_id}.gpkg"'},
        )
    if format == "json":
        rows = boundaries_sql.list_areas(
            db, generation_id, level=level, parent_code=parent, with_geometry=False
        )
        return AreaListPublic.model_validate({"areas": rows})
    return AreaFeatureCollection.model_validate(
        areas_feature_collection(db, generation_id, level=level, parent_code=parent)
    )


@router.get(
    "/areas/{code}",
    response_model=AreaDetailPublic,
    responses={404: {"model": ErrorPublic}, 422: {"model": ErrorPublic}},
)
def get_area(
    db: SessionDep,
    code: Annotated[str, Path(max_length=20, pattern=r"^[0-9]+$")],
    generation: Generation = None,
) -> AreaDetailPublic:
    """One area as a GeoJSON Feature, with its children's codes."""
    generation_id = boundaries_sql.resolve_generation_id(db, generation)
    area = boundaries_sql.get_area(db, generation_id, code)
    feature = feature_of(area)
    feature["children"] = area["children"]
    return AreaDetailPublic.model_validate(feature)
