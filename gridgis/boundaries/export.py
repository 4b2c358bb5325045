"""Areas as GeoJSON FeatureCollections (the API's /v1/areas and `gridgis export areas`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gridgis.boundaries import sql as boundaries_sql
from gridgis.db import Executor
from gridgis.errors import InvalidInput

PROPERTY_KEYS = ("code", "name", "level", "parent_code", "kind", "population", "generation")


def feature_of(area: dict[str, Any]) -> dict[str, Any]:
    """One area dict (with geometry) as a GeoJSON Feature."""
    return {
        "type": "Feature",
        "id": area["code"],
        "geometry": area["geometry"],
        "properties": {key: area[key] for key in PROPERTY_KEYS},
    }


def areas_feature_collection(
    db: Executor,
    generation_id: int,
    *,
    level: str | None = None,
    parent_code: str | None = None,
) -> dict[str, Any]:
    """Areas of a generation as a FeatureCollection in WGS84."""
    rows = boundaries_sql.list_areas(db, generation_id, level=level, parent_code=parent_code)
    return {"type": "FeatureCollection", "features": [feature_of(a) for a in rows]}


def export_areas_geojson(
    db: Executor, out: Path, *, level: str | None = None, generation: int | None = None
) -> int:
    """Write the same FeatureCollection /v1/areas serves; returns the feature count."""
    generation_id = boundaries_sql.resolve_generation_id(db, generation)
    collection = areas_feature_collection(db, generation_id, level=level)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(collection, ensure_ascii=False) + "\n", encoding="utf-8")
    return len(collection["features"])


EXPORT_FORMATS = ("geojson", "gpkg", "shp")
# Shapefile field names stop at 10 characters: parent_code is written as `parent`.
_SHAPEFILE_COLUMNS = {"parent_code": "parent"}


def areas_frame(
    db: Executor,
    generation_id: int,
    *,
    level: str | None = None,
    parent_code: str | None = None,
) -> Any:
    """Areas of a generation as a GeoDataFrame (WGS84) with the export properties."""
    import geopandas as gpd
    from shapely.geometry import shape

    rows = boundaries_sql.list_areas(
        db, generation_id, level=level, parent_code=parent_code, precision=7
    )
    return gpd.GeoDataFrame(
        {key: [row[key] for row in rows] for key in PROPERTY_KEYS},
        geometry=[shape(row["geometry"]) for row in rows],
        crs="EPSG:4326",
    )


def write_areas(frame: Any, out: Path, fmt: str) -> None:
    """Write an areas frame as GeoPackage, GeoJSON or Shapefile (with .cpg UTF-8 and .prj)."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(EXPORT_FORMATS)}.", field="format")
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "gpkg":
        frame.to_file(out, driver="GPKG", layer="areas", engine="pyogrio")
    elif fmt == "shp":
        frame.rename(columns=_SHAPEFILE_COLUMNS).to_file(
            out, driver="ESRI Shapefile", engine="pyogrio", encoding="UTF-8"
        )
    else:
        frame.to_file(out, driver="GeoJSON", engine="pyogrio")


def export_areas(
    db: Executor,
    out: Path,
    *,
    fmt: str = "geojson",
    level: str | None = None,
    generation: int | None = None,
) -> int:
    """Write areas (codes, names, parents, generation) in `fmt`; returns the feature count."""
    if fmt == "geojson":
        return export_areas_geojson(db, out, level=level, generation=generation)
    generation_id = boundaries_sql.resolve_generation_id(db, generation)
    frame = areas_frame(db, generation_id, level=level)
    write_areas(frame, out, fmt)
    return len(frame)


def areas_geopackage(
    db: Executor, generation_id: int, *, level: str | None = None, parent_code: str | None = None
) -> bytes:
    """Areas as the bytes of a GeoPackage (layer `areas`), for HTTP downloads."""
    import tempfile

    frame = areas_frame(db, generation_id, level=level, parent_code=parent_code)
    with tempfile.TemporaryDirectory(prefix="gridgis-export-") as tmp:
        path = Path(tmp) / "areas.gpkg"
        write_areas(frame, path, "gpkg")
        return path.read_bytes()
