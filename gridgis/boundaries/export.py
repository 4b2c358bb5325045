"""Areas as GeoJSON FeatureCollections (the API's /v1/areas and `gridgis export areas`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gridgis.db import queries
from gridgis.db.queries import Executor

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
    rows = queries.list_areas(db, generation_id, level=level, parent_code=parent_code)
    return {"type": "FeatureCollection", "features": [feature_of(a) for a in rows]}


def export_areas_geojson(
    db: Executor, out: Path, *, level: str | None = None, generation: int | None = None
) -> int:
    """Write the same FeatureCollection /v1/areas serves; returns the feature count."""
    generation_id = queries.resolve_generation_id(db, generation)
    collection = areas_feature_collection(db, generation_id, level=level)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(collection, ensure_ascii=False) + "\n", encoding="utf-8")
    return len(collection["features"])
