"""Read boundary files (GeoJSON, Shapefile, GeoPackage) into WGS84 features with per-feature QA."""

from __future__ import annotations

import math
import re
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

import numpy as np
import pyproj
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from gridgis import crs
from gridgis.errors import InvalidInput
from gridgis.vocabulary import AREA_KINDS, AREA_LEVELS

__all__ = [
    "DEFAULT_KIND",
    "FIELD_CANDIDATES",
    "Finding",
    "ImportOptions",
    "ImportedFeature",
    "ImportedLayer",
    "geodesic_area_m2",
    "opened_source",
    "read_layer",
]

# When a level's file has no kind column, every feature gets the level's usual kind.
DEFAULT_KIND: Final[dict[str, str]] = {
    "city": "city",
    "county": "county",
    "township": "township",
    "grid": "community",
}
# Column names tried, in order, when the caller names no field (case-insensitive).
FIELD_CANDIDATES: Final[dict[str, tuple[str, ...]]] = {
    "code": ("code", "adcode", "gb", "dm", "xzqdm", "id"),
    "name": ("name", "mc", "xzqmc", "name_zh"),
    "parent": ("parent_code", "parent", "parent_adcode", "pcode"),
    "kind": ("kind", "type"),
    "population": ("population", "pop", "rk"),
}
DATASET_SUFFIXES: Final = (".geojson", ".json", ".gpkg", ".shp")
# A zip upload is unpacked to disk: refuse archives that would expand beyond this.
MAX_UNZIPPED_BYTES: Final = 1_000_000_000
# A zip may expand to at most this many times its own size (shapefiles compress 3-20x; a
# bomb 1,000x), counted on the bytes that actually come out, not on what the zip declares.
MAX_ZIP_RATIO: Final = 100
MAX_ZIP_MEMBERS: Final = 200
_UNZIP_CHUNK: Final = 1 << 20
# The members a dataset can consist of; anything else in a zip is not unpacked at all.
ZIP_MEMBER_SUFFIXES: Final = (*DATASET_SUFFIXES, ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn")
_POINT_IN_REASON = re.compile(r"\[\s*(-?[0-9.eE+-]+)\s+(-?[0-9.eE+-]+)\s*\]")


@dataclass(frozen=True)
class Finding:
    """One QA finding, located: codes involved, area, a point and the geometry at fault."""

    check: str
    codes: list[str]
    message: str
    area_m2: float | None = None
    point: list[float] | None = None
    geometry: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The report's JSON shape."""
        return {
            "check": self.check,
            "codes": self.codes,
            "area_m2": None if self.area_m2 is None else round(self.area_m2, 3),
            "point": self.point,
            "geometry": self.geometry,
            "message": self.message,
        }


@dataclass(frozen=True)
class ImportOptions:
    """How to read one boundary file."""

    level: str
    layer: str | None = None
    code_field: str | None = None
    name_field: str | None = None
    parent_field: str | None = None
    kind_field: str | None = None
    population_field: str | None = None
    # "EPSG:nnnn", "wgs84", "gcj02" or "bd09"; None: the file's declared CRS (WGS84 if none).
    crs: str | None = None
    encoding: str | None = None

    def __post_init__(self) -> None:
        if self.level not in AREA_LEVELS:
            raise InvalidInput(f"level must be one of {', '.join(AREA_LEVELS)}.", field="level")


@dataclass(frozen=True)
class ImportedFeature:
    """One area read from the file, in WGS84, valid and multipolygonal."""

    code: str
    name: str
    parent_code: str | None
    kind: str
    population: int
    geom: MultiPolygon


@dataclass
class ImportedLayer:
    """What a file holds after reading, with the per-feature findings."""

    source: str
    features: list[ImportedFeature]
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    parent_from_file: bool = True
    # A CRS error means every coordinate may be misplaced: nothing is staged at all.
    fatal: bool = False
    feature_count: int = 0


def geodesic_area_m2(geom: BaseGeometry) -> float:
    """Area of a WGS84 geometry on the WGS84 ellipsoid, in m²."""
    area, _ = _GEOD.geometry_area_perimeter(geom)
    return abs(float(area))


_GEOD: Final = pyproj.Geod(ellps="WGS84")


def _as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and not p.is_empty]
    nested: list[Polygon] = []
    for part in parts:
        nested.extend(shapely.get_parts(part) if isinstance(part, MultiPolygon) else [part])
    return MultiPolygon(nested)


def _polygonal(geom: BaseGeometry) -> MultiPolygon:
    """The polygonal parts of any geometry (collections included)."""
    polys: list[Polygon] = []
    for part in shapely.get_parts(geom):
        if isinstance(part, Polygon) and not part.is_empty:
            polys.append(part)
        elif isinstance(part, MultiPolygon):
            polys.extend(p for p in part.geoms if not p.is_empty)
        elif part.geom_type == "GeometryCollection":
            polys.extend(_polygonal(part).geoms)
    return MultiPolygon(polys)


def _located(geom: BaseGeometry) -> tuple[list[float] | None, dict[str, Any] | None]:
    if geom is None or geom.is_empty:
        return None, None
    point = shapely.point_on_surface(geom) if geom.is_valid else shapely.centroid(geom)
    return [round(point.x, 7), round(point.y, 7)], mapping(geom)


# -- opening -------------------------------------------------------------------------------------
def _unzip(path: Path, target: Path) -> None:
    """Unpack the dataset members of a zip into `target`, a chunk at a time, stopping as
    soon as the bytes written pass MAX_UNZIPPED_BYTES or MAX_ZIP_RATIO x the zip's size."""
    budget = min(MAX_UNZIPPED_BYTES, MAX_ZIP_RATIO * max(path.stat().st_size, 1))
    written = 0
    with zipfile.ZipFile(path) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_ZIP_MEMBERS:
            raise InvalidInput(f"The zip holds more than {MAX_ZIP_MEMBERS} files.", field="file")
        for member in members:
            # Only base names: a hostile "../x" member cannot escape the folder.
            name = Path(member.filename).name
            if not name or name.startswith(".") or not name.lower().endswith(ZIP_MEMBER_SUFFIXES):
                continue
            with archive.open(member) as source, (target / name).open("wb") as out:
                while chunk := source.read(_UNZIP_CHUNK):
                    written += len(chunk)
                    if written > budget:
                        raise InvalidInput(
                            f"The zip expands beyond {budget:,} bytes (at most "
                            f"{MAX_ZIP_RATIO}x its size and {MAX_UNZIPPED_BYTES:,} bytes).",
                            field="file",
                        )
                    out.write(chunk)


# A reader's message names the file it opened: a server path (an upload's temporary folder).
_DIRECTORIES = re.compile(r"(?:[A-Za-z]:)?(?:[/\\][^/\\\s'\"]+)+[/\\]")


def _reader_error(path: Path, exc: Exception) -> InvalidInput:
    """InvalidInput for a file the readers could not read, without server paths."""
    return InvalidInput(f"Cannot read {path.name}: {_DIRECTORIES.sub('', str(exc))}", field="file")


@contextmanager
def opened_source(path: Path) -> Iterator[Path]:
    """The dataset to read: the file itself, or the one dataset inside a .zip (unpacked)."""
    if not path.exists():
        raise InvalidInput(f"{path.name} does not exist.", field="file")
    if path.suffix.lower() != ".zip":
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="gridgis-import-") as tmp:
        target = Path(tmp)
        try:
            _unzip(path, target)
        except zipfile.BadZipFile as exc:
            raise InvalidInput(f"Not a readable zip file: {exc}", field="file") from exc
        datasets = sorted(p for p in target.iterdir() if p.suffix.lower() in DATASET_SUFFIXES)
        if len(datasets) != 1:
            raise InvalidInput(
                "A zip must hold exactly one dataset (.shp with its .dbf/.shx/.prj, .gpkg or "
                f".geojson); found {[p.name for p in datasets] or 'none'}.",
                field="file",
            )
        yield datasets[0]


def _sniff_dbf_encoding(shp: Path) -> str | None:
    """GBK or UTF-8 for a shapefile that says nothing (.cpg absent, no DBF language id)."""
    if any(shp.with_suffix(s).exists() for s in (".cpg", ".CPG")):
        return None  # GDAL reads the .cpg itself
    dbf = next((shp.with_suffix(s) for s in (".dbf", ".DBF") if shp.with_suffix(s).exists()), None)
    if dbf is None:
        return None
    raw = dbf.read_bytes()
    if len(raw) < 32 or raw[29] != 0:
        return None  # a language driver id: GDAL maps it (0x4D is GBK)
    header_length = int.from_bytes(raw[8:10], "little")
    records = raw[header_length:]
    try:
        records.decode("utf-8")
        return "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        records.decode("gb18030")
        return "GB18030"
    except UnicodeDecodeError:
        return None


# -- reading -------------------------------------------------------------------------------------
def _column(columns: list[str], wanted: str | None, role: str, option: str) -> str | None:
    lower = {c.lower(): c for c in columns}
    if wanted is not None:
        if wanted in columns:
            return wanted
        if wanted.lower() in lower:
            return lower[wanted.lower()]
        raise InvalidInput(
            f"The file has no field {wanted!r}; its fields are {', '.join(columns) or 'none'}.",
            field=option,
        )
    for candidate in FIELD_CANDIDATES[role]:
        if candidate in lower:
            return lower[candidate]
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    text = str(value).strip()
    return text or None


def _declared_crs(frame_crs: Any, option: str | None) -> tuple[str, pyproj.CRS | None]:
    """(kind, pyproj CRS): kind is 'wgs84', 'gcj02', 'bd09' or 'projected'/'geographic'."""
    if option is not None:
        name = option.strip().lower()
        if name in crs.CRS_NAMES:
            return name, None
        try:
            parsed = pyproj.CRS.from_user_input(option)
        except pyproj.exceptions.CRSError as exc:
            raise InvalidInput(
                f"Unknown CRS {option!r}: use EPSG:nnnn, wgs84, gcj02 or bd09.", field="crs"
            ) from exc
        return ("geographic" if parsed.is_geographic else "projected"), parsed
    if frame_crs is None:
        return "undeclared", None
    parsed = pyproj.CRS.from_user_input(frame_crs)
    return ("geographic" if parsed.is_geographic else "projected"), parsed


def _crs_error(message: str, geoms: np.ndarray[Any, Any]) -> Finding:
    bounds = shapely.total_bounds(geoms)
    centre = [float((bounds[0] + bounds[2]) / 2), float((bounds[1] + bounds[3]) / 2)]
    return Finding(
        check="crs",
        codes=[],
        message=message + f" The file's extent is x {bounds[0]:.3f}..{bounds[2]:.3f}, "
        f"y {bounds[1]:.3f}..{bounds[3]:.3f} (its own coordinates; 'point' is its centre).",
        point=centre,
    )


def _to_wgs84(
    geoms: np.ndarray[Any, Any], kind: str, source: pyproj.CRS | None
) -> np.ndarray[Any, Any]:
    if kind in ("gcj02", "bd09"):
        name = kind

        def convert(x: Any, y: Any) -> tuple[Any, Any]:
            return crs.to_wgs84(x, y, name)  # type: ignore[arg-type]

        return np.asarray(shapely.transform(geoms, cast(Any, convert), interleaved=False))
    if source is None or source.equals(pyproj.CRS.from_epsg(crs.WGS84), ignore_axis_order=True):
        return geoms
    transformer = pyproj.Transformer.from_crs(source, crs.WGS84, always_xy=True)
    return np.asarray(shapely.transform(geoms, cast(Any, transformer.transform), interleaved=False))


def read_layer(path: Path, options: ImportOptions) -> ImportedLayer:
    """Read one boundary layer, convert it to WGS84 and run the per-feature checks."""
    import pandas as pd
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError, FieldError
    from pyogrio.raw import read as read_raw

    with opened_source(path) as dataset:
        layer = options.layer
        try:
            layers = [str(row[0]) for row in pyogrio.list_layers(dataset)]
        except DataSourceError as exc:
            raise _reader_error(path, exc) from exc
        if layer is None and len(layers) > 1:
            raise InvalidInput(
                f"{path.name} has several layers ({', '.join(layers)}): name one.", field="layer"
            )
        if layer is not None and layer not in layers:
            raise InvalidInput(
                f"{path.name} has no layer {layer!r}; it has {', '.join(layers)}.", field="layer"
            )
        encoding = options.encoding
        warnings: list[Finding] = []
        if encoding is None and dataset.suffix.lower() == ".shp":
            encoding = _sniff_dbf_encoding(dataset)
        try:
            meta, _, wkb, values = read_raw(dataset, layer=layer, encoding=encoding)
        except (DataSourceError, DataLayerError, FieldError, UnicodeDecodeError) as exc:
            raise _reader_error(path, exc) from exc
        except LookupError as exc:
            raise InvalidInput(f"Unknown encoding {encoding!r}.", field="encoding") from exc
        has_prj = dataset.suffix.lower() != ".shp" or dataset.with_suffix(".prj").exists()
    frame = pd.DataFrame({str(n): v for n, v in zip(meta["fields"], values, strict=True)})
    columns = [str(c) for c in frame.columns]
    code_col = _column(columns, options.code_field, "code", "code_field")
    if code_col is None:
        raise InvalidInput(
            f"No code field found among {', '.join(columns) or 'no fields'}: pass code_field.",
            field="code_field",
        )
    name_col = _column(columns, options.name_field, "name", "name_field")
    parent_col = _column(columns, options.parent_field, "parent", "parent_field")
    kind_col = _column(columns, options.kind_field, "kind", "kind_field")
    pop_col = _column(columns, options.population_field, "population", "population_field")

    raw = np.asarray(shapely.from_wkb(wkb, on_invalid="ignore"), dtype=object)
    # WKB shapely cannot build (a ring not closed, too few points): close it, say so.
    unclosed: set[int] = set()
    for index in np.flatnonzero(
        [w is not None and g is None for w, g in zip(wkb, raw, strict=True)]
    ):
        raw[index] = shapely.from_wkb(wkb[index], on_invalid="fix")
        unclosed.add(int(index))
    result = ImportedLayer(
        source=path.name,
        features=[],
        warnings=warnings,
        parent_from_file=parent_col is not None,
        feature_count=len(raw),
    )
    present = np.asarray([g is not None and not g.is_empty for g in raw], dtype=bool)
    # NaN or infinite coordinates cannot be placed anywhere: report them and leave them out
    # before they spoil the CRS checks below.
    finite = np.ones(len(raw), dtype=bool)
    if present.any():
        # Per vertex: GEOS bounds skip NaN, so they cannot tell.
        coords, owner = shapely.get_coordinates(raw[present], return_index=True)
        broken = np.zeros(int(present.sum()), dtype=bool)
        np.logical_or.at(broken, owner, ~np.isfinite(coords).all(axis=1))
        finite[present] = ~broken
    codes = np.asarray(frame[code_col].values, dtype=object)
    for index in np.flatnonzero(~finite):
        code = _text(codes[index]) or f"feature #{index + 1}"
        result.errors.append(
            Finding(
                "invalid",
                [code],
                f"{code} has NaN or infinite coordinates; it is left out.",
            )
        )
        raw[index] = None
        unclosed.discard(int(index))
    present &= finite
    kind, source_crs = _declared_crs(meta["crs"], options.crs)
    if not present.any():
        result.errors.append(
            Finding("empty", [], f"{path.name} holds no usable geometry ({len(raw)} features).")
        )
        result.fatal = True
        return result
    present_geoms = raw[present]
    bounds = shapely.total_bounds(present_geoms)
    looks_geographic = bool(
        -180 <= bounds[0] <= 180 and -180 <= bounds[2] <= 180 and -90 <= bounds[1] <= 90
    ) and bool(-90 <= bounds[3] <= 90)
    if kind == "undeclared":
        if not looks_geographic:
            result.errors.append(
                _crs_error(
                    f"{path.name} declares no CRS (no .prj?) and its coordinates are not "
                    "longitude/latitude degrees (a projected CRS in metres, e.g. Gauss-Kruger "
                    "EPSG:4548): pass crs=EPSG:nnnn.",
                    present_geoms,
                )
            )
            result.fatal = True
            return result
        warnings.append(
            _crs_error(
                f"{path.name} declares no CRS{'' if has_prj else ' (no .prj)'}: read as WGS84 "
                "degrees. Pass crs=gcj02/bd09 if it comes from Amap/Tencent/Baidu.",
                present_geoms,
            )
        )
        kind = "wgs84"
    elif kind in ("geographic", "wgs84", "gcj02", "bd09") and not looks_geographic:
        declared = "declared" if options.crs is None else "given"
        result.errors.append(
            _crs_error(
                f"The {declared} CRS is geographic (degrees) but the coordinates are not: "
                "the file is projected (metres?) — pass its real CRS, e.g. crs=EPSG:4548.",
                present_geoms,
            )
        )
        result.fatal = True
        return result
    wgs = raw.copy()
    wgs[present] = _to_wgs84(present_geoms, kind, source_crs)
    # Every vertex must land where Chinese boundaries can be: anything else is a wrong CRS,
    # never something to store and misplace silently.
    box = shapely.bounds(wgs[present])
    inside = crs.in_china_bbox(box[:, 0], box[:, 1]) & crs.in_china_bbox(box[:, 2], box[:, 3])
    if not bool(np.all(inside)):
        outside_codes = [
            _text(v) or "?" for v in np.asarray(frame[code_col].values)[present][~inside][:20]
        ]
        result.errors.append(
            _crs_error(
                f"{int((~inside).sum())} feature(s) fall outside China once read as "
                f"{'EPSG:' + str(source_crs.to_epsg()) if source_crs is not None else kind} "
                f"(codes {', '.join(outside_codes)}): the CRS is wrong or missing.",
                present_geoms,
            )
        )
        result.fatal = True
        return result
    _collect_features(
        result,
        frame,
        wgs,
        present,
        unclosed,
        finite,
        (code_col, name_col, parent_col, kind_col, pop_col),
        options,
    )
    return result


def _collect_features(
    result: ImportedLayer,
    frame: Any,
    wgs: np.ndarray[Any, Any],
    present: np.ndarray[Any, Any],
    unclosed: set[int],
    finite: np.ndarray[Any, Any],
    fields: tuple[str, str | None, str | None, str | None, str | None],
    options: ImportOptions,
) -> None:
    code_col, name_col, parent_col, kind_col, pop_col = fields
    valid = np.zeros(len(wgs), dtype=bool)
    valid[present] = shapely.is_valid(wgs[present])
    seen: dict[str, int] = {}
    for index, geom in enumerate(wgs):
        if not finite[index]:
            continue  # reported above
        record = frame.iloc[index]
        code = _text(record[code_col])
        label = code or f"feature #{index + 1}"
        if geom is None or geom.is_empty:
            result.errors.append(
                Finding("empty", [label], f"{label} has no geometry; it is left out.")
            )
            continue
        if code is None:
            point, geometry = _located(geom)
            result.errors.append(
                Finding(
                    "missing_code",
                    [],
                    f"Feature #{index + 1} has no {code_col}; it is left out.",
                    None,
                    point,
                    geometry,
                )
            )
            continue
        if len(code) > 20:
            raise InvalidInput(f"Code {code[:30]!r} is longer than 20 characters.", field=code_col)
        if index in unclosed:
            first = shapely.get_coordinates(geom)[0]
            result.errors.append(
                Finding(
                    "invalid",
                    [code],
                    f"{code}: a ring is not closed (or has too few points); it was closed by "
                    "repeating its first point.",
                    geodesic_area_m2(geom) if not geom.is_empty else None,
                    [float(first[0]), float(first[1])],
                    mapping(geom),
                )
            )
        if not valid[index]:
            reason = shapely.is_valid_reason(geom)
            repaired = _as_multipolygon(shapely.make_valid(geom))
            located = _POINT_IN_REASON.search(reason)
            point = (
                [float(located.group(1)), float(located.group(2))] if located else _located(geom)[0]
            )
            drawn = geodesic_area_m2(geom)
            fixed = geodesic_area_m2(repaired)
            result.errors.append(
                Finding(
                    "invalid",
                    [code],
                    f"{code}: {reason}. make_valid turns it into {len(repaired.geoms)} "
                    f"polygon(s) of {fixed:,.1f} m² (the ring as drawn measures {drawn:,.1f} m²);"
                    " the repaired shape is what gets staged.",
                    fixed,
                    point,
                    mapping(geom),
                )
            )
            geom = repaired
        polygons = _polygonal(geom)
        if polygons.is_empty:
            point, geometry = _located(geom)
            result.errors.append(
                Finding(
                    "empty",
                    [code],
                    f"{code} is a {geom.geom_type}, not a polygon; it is left out.",
                    None,
                    point,
                    geometry,
                )
            )
            continue
        if code in seen:
            point, geometry = _located(polygons)
            result.errors.append(
                Finding(
                    "duplicate_code",
                    [code],
                    f"Code {code} appears again (feature #{index + 1}, first at "
                    f"#{seen[code] + 1}); this copy is left out.",
                    geodesic_area_m2(polygons),
                    point,
                    geometry,
                )
            )
            continue
        seen[code] = index
        kind = _text(record[kind_col]) if kind_col else None
        kind = kind or DEFAULT_KIND[options.level]
        if kind not in AREA_KINDS:
            raise InvalidInput(
                f"{code}: kind {kind!r} is not one of {', '.join(AREA_KINDS)}.",
                field="kind_field",
            )
        population = 0
        if pop_col is not None:
            value = record[pop_col]
            try:
                population = 0 if _text(value) is None else int(float(value))
            except (TypeError, ValueError) as exc:
                raise InvalidInput(
                    f"{code}: population {value!r} is not a number.", field="population_field"
                ) from exc
            if population < 0:
                raise InvalidInput(
                    f"{code}: population {population} is negative.", field="population_field"
                )
        result.features.append(
            ImportedFeature(
                code=code,
                name=(_text(record[name_col]) if name_col else None) or code,
                parent_code=_text(record[parent_col]) if parent_col else None,
                kind=kind,
                population=population,
                geom=polygons,
            )
        )
