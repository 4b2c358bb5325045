"""The demo dataset on disk: CSV + GeoJSON files with a manifest, written and read back."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from gridgis import crs
from gridgis.demo import counties as cty
from gridgis.demo.model import (
    _AREA_COLUMNS,
    _FACILITY_COLUMNS,
    MODELLED_NOTE,
    RESPONDER_COLUMNS,
    DemoData,
    _areas_frame,
    _normalise_assignments,
    _normalise_facilities,
    _normalise_responders,
)
from gridgis.demo.tessellation import seat_adjustments
from gridgis.vocabulary import AREA_LEVELS, FACILITY_TYPES, ROLES


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n", float_format=f"%.{cty.DECIMALS}f")


def write_demo(data: DemoData, out_dir: Path) -> list[Path]:
    """Write the dataset as GeoJSON/CSV plus manifest.json; same data -> same bytes."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    areas_path = out_dir / "areas.geojson"
    cty.dump_feature_collection(
        (
            ({c: _json_value(row[c]) for c in _AREA_COLUMNS}, row["geometry"])
            for row in data.areas.to_dict("records")
        ),
        areas_path,
    )
    fac_path = out_dir / "facilities.geojson"
    cty.dump_feature_collection(
        (
            ({c: _json_value(row[c]) for c in _FACILITY_COLUMNS}, row["geometry"])
            for row in data.facilities.to_dict("records")
        ),
        fac_path,
    )
    resp_path = out_dir / "responders.csv"
    _write_csv(data.responders, resp_path)
    asg_path = out_dir / "assignments.csv"
    _write_csv(data.assignments, asg_path)

    levels = data.areas["level"].value_counts()
    manifest = {
        "modelled": True,
        "note": MODELLED_NOTE,
        "seed": int(data.seed),
        "volunteers": int((data.responders["role"] == "volunteer").sum()),
        "counts": {
            "areas": {lv: int(levels.get(lv, 0)) for lv in AREA_LEVELS},
            "facilities": {t: int((data.facilities["type"] == t).sum()) for t in FACILITY_TYPES},
            "responders": {r: int((data.responders["role"] == r).sum()) for r in ROLES},
            "assignments": len(data.assignments),
        },
        "crs": "EPSG:4326",
        "boundary_source": cty.SOURCE_LABEL,
        "seat_adjustments": seat_adjustments(),
        "files": {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (areas_path, fac_path, resp_path, asg_path)
        },
    }
    man_path = out_dir / "manifest.json"
    with man_path.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
    return [areas_path, fac_path, resp_path, asg_path, man_path]


def _json_value(value: Any) -> Any:
    # numpy scalars and pandas' NaN-for-missing are not JSON; normalise them.
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def read_demo(out_dir: Path) -> DemoData:
    """Read a directory written by :func:`write_demo` back into a DemoData."""
    out_dir = Path(out_dir)
    manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    area_rows = cty.read_feature_collection(out_dir / "areas.geojson")
    areas = _areas_frame([p for p, _ in area_rows], [g for _, g in area_rows])
    fac_rows = cty.read_feature_collection(out_dir / "facilities.geojson")
    facilities = _normalise_facilities(
        gpd.GeoDataFrame(
            pd.DataFrame([p for p, _ in fac_rows], columns=list(_FACILITY_COLUMNS)),
            geometry=[g for _, g in fac_rows],
            crs=crs.WGS84,
        )
    )
    str_cols = {c: str for c in RESPONDER_COLUMNS if c not in ("home_lon", "home_lat")}
    responders = _normalise_responders(
        pd.read_csv(
            out_dir / "responders.csv",
            dtype={**str_cols, "home_lon": np.float64, "home_lat": np.float64},
            keep_default_na=False,
        )
    )
    assignments = _normalise_assignments(
        pd.read_csv(out_dir / "assignments.csv", dtype=str, keep_default_na=False)
    )
    return DemoData(
        seed=int(manifest["seed"]),
        areas=areas,
        facilities=facilities,
        responders=responders,
        assignments=assignments,
    )
