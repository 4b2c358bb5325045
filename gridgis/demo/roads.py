"""A MODELLED road network over the demo city, written as an OSM PBF file (not OpenStreetMap data).

No real Zhangzhou extract is reachable here, so the demo's road network is generated from the
demo's own (modelled) grids and the real township seats, reproducibly from a seed:
- a jittered street lattice (`spacing_m`, 150 m) over the urban (community) grids, with
  tertiary roads every 4th line, some one-way streets and some missing links;
- a coarser lattice of unclassified roads (every `rural_every`-th lattice point, 600 m) over
  the rest of the city, with tertiary roads every 4th of its lines and more missing links;
- primary roads between neighbouring township seats (a Delaunay triangulation of the seats,
  each link routed over the lattice), trunk roads between the county seats, both tagged
  with `maxspeed`;
- a modelled river (after the Jiulong) crossing the city: lattice links across it are kept
  only at a few bridges.
Every way carries `gridgis:modelled=yes` and the file header names the generator, so the
network is never taken for surveyed data. The file is read by the regular import path
(`gridgis import roads`), like any OSM extract.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import Delaunay, cKDTree

from gridgis import crs

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Progress = Callable[[str, int, int], None]

GENERATOR = "gridgis demo roads (MODELLED network, not OpenStreetMap data)"
# The modelled river's course (WGS84): from the north-west of the city through the centre
# to the estuary in the east, roughly where the Jiulong's north branch runs.
RIVER = ((117.28, 25.05), (117.45, 24.80), (117.58, 24.60), (117.66, 24.50), (117.95, 24.43))
_MAX_SEAT_LINK_M = 40_000.0


@dataclass(frozen=True)
class ModelledRoads:
    """Nodes (lattice ids, metric and WGS84 positions) and ways (two nodes each) to write."""

    node_id: IntArray
    lon: FloatArray
    lat: FloatArray
    way_from: IntArray  # indexes into the node arrays, in the way's drawn direction
    way_to: IntArray
    highway: list[str]
    oneway: npt.NDArray[np.bool_]
    maxspeed: IntArray  # 0: untagged

    @property
    def node_count(self) -> int:
        return len(self.node_id)

    @property
    def way_count(self) -> int:
        return len(self.way_from)


def _rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(stream.encode("utf-8"))])


def _noop(stage: str, done: int, total: int) -> None:
    del stage, done, total


def generate_roads(
    seed: int = 2080,
    *,
    spacing_m: float = 150.0,
    rural_every: int = 4,
    progress: Progress | None = None,
) -> ModelledRoads:
    """The modelled network over the demo city of `seed` (same arguments, same network)."""
    from gridgis.demo import counties as cty
    from gridgis.demo.generate import generate_demo
    from gridgis.dispatch.eta import setting_of_kind

    if spacing_m <= 0 or rural_every < 1:
        raise ValueError("spacing_m must be positive and rural_every at least 1")
    report = progress or _noop
    report("boundaries", 0, 1)
    areas = generate_demo(seed=seed, volunteers=0).areas
    grids = areas[areas["level"] == "grid"]
    urban_mask = np.asarray([setting_of_kind(k) == "urban" for k in grids["kind"]])
    city = crs.geometry_to_metric(shapely.union_all(areas[areas["level"] == "county"].geometry))
    urban = crs.geometry_to_metric(shapely.union_all(grids.geometry[urban_mask]))
    shapely.prepare(city)
    shapely.prepare(urban)
    report("boundaries", 1, 1)

    # The lattice: (i, j) -> x0 + i * spacing, y0 + j * spacing, jittered per node.
    x0, y0, x1, y1 = city.bounds
    ni = int((x1 - x0) // spacing_m) + 2
    nj = int((y1 - y0) // spacing_m) + 2
    ii = np.repeat(np.arange(ni, dtype=np.int64), nj)
    jj = np.tile(np.arange(nj, dtype=np.int64), ni)
    bx, by = x0 + ii * spacing_m, y0 + jj * spacing_m
    report("lattice", 0, 2)
    is_urban = shapely.contains_xy(urban, bx, by)
    aligned = (ii % rural_every == 0) & (jj % rural_every == 0)
    is_rural = aligned & ~is_urban
    is_rural[is_rural] = shapely.contains_xy(city, bx[is_rural], by[is_rural])
    report("lattice", 1, 2)
    keep = is_urban | is_rural
    index = np.full(ni * nj, -1, dtype=np.int64)
    index[np.flatnonzero(keep)] = np.arange(int(keep.sum()))
    ii, jj, bx, by, node_urban = ii[keep], jj[keep], bx[keep], by[keep], is_urban[keep]
    jitter = _rng(seed, "roads/jitter").normal(0.0, 0.12 * spacing_m, (len(ii), 2))
    x, y = bx + jitter[:, 0], by + jitter[:, 1]

    def node_at(i: IntArray, j: IntArray) -> IntArray:
        inside = (i >= 0) & (i < ni) & (j >= 0) & (j < nj)
        found = np.full(len(i), -1, dtype=np.int64)
        found[inside] = index[i[inside] * nj + j[inside]]
        return found

    # Links: urban ones between lattice neighbours, rural ones `rural_every` apart (from an
    # aligned node, where at least one end lies outside the urban grids).
    aligned_node = (ii % rural_every == 0) & (jj % rural_every == 0)
    froms, tos, kinds, lines = [], [], [], []
    for step, urban_link in ((1, True), (rural_every, False)):
        start = np.flatnonzero(node_urban if urban_link else aligned_node)
        for di, dj in ((step, 0), (0, step)):
            target = node_at(ii[start] + di, jj[start] + dj)
            source = start[target >= 0]
            target = target[target >= 0]
            both_urban = node_urban[source] & node_urban[target]
            ok = both_urban if urban_link else ~both_urban
            froms.append(source[ok])
            tos.append(target[ok])
            kinds.append(np.full(int(ok.sum()), urban_link))
            # The line the link lies on: row j for an east-west link, column i for north-south.
            lines.append(jj[source[ok]] if dj == 0 else ii[source[ok]])
    way_from = np.concatenate(froms)
    way_to = np.concatenate(tos)
    link_urban = np.concatenate(kinds)
    line = np.concatenate(lines)
    report("lattice", 2, 2)

    # The river: links across it survive only at bridges.
    river = crs.geometry_to_metric(shapely.LineString(RIVER))
    segments = shapely.linestrings(
        np.stack(
            [np.column_stack([x[way_from], y[way_from]]), np.column_stack([x[way_to], y[way_to]])],
            axis=1,
        )
    )
    crossing = shapely.intersects(segments, river)
    bridge_every = np.where(link_urban, 10, 4)
    crossing_rank = np.cumsum(crossing) - 1
    bridge = crossing & (crossing_rank % bridge_every == 0)

    # Classes: tertiary every 4th line, unclassified/residential between.
    tertiary = line % (4 * np.where(link_urban, 1, rural_every)) == 0
    highway = np.where(tertiary, "tertiary", np.where(link_urban, "residential", "unclassified"))
    highway = highway.astype(object)

    # Primary roads between neighbouring township seats, trunk roads between county seats,
    # routed over the lattice (before links go missing, so they always survive).
    report("arterials", 0, 1)
    seats = cty.load_seats()
    sx, sy = crs.to_metric(seats["lon"].to_numpy(), seats["lat"].to_numpy())
    _, seat_node = cKDTree(np.column_stack([x, y])).query(np.column_stack([sx, sy]))
    length = np.hypot(x[way_to] - x[way_from], y[way_to] - y[way_from])
    usable = ~crossing | bridge
    factor = np.where(tertiary, 0.7, 1.0)
    graph = csr_matrix(
        (
            np.concatenate([length * factor, length * factor])[np.concatenate([usable, usable])],
            (
                np.concatenate([way_from, way_to])[np.concatenate([usable, usable])],
                np.concatenate([way_to, way_from])[np.concatenate([usable, usable])],
            ),
        ),
        shape=(len(x), len(x)),
    )
    link_of = {}
    for w, (a, b) in enumerate(zip(way_from.tolist(), way_to.tolist(), strict=True)):
        link_of[(a, b)] = w
        link_of[(b, a)] = w
    pairs = _seat_pairs(np.column_stack([sx, sy]))
    county_seats = _county_seats(seats["code"].astype(str).tolist())
    trunk_pairs = _seat_pairs(np.column_stack([sx, sy])[county_seats], limit_m=80_000.0)
    arterial = np.zeros(len(way_from), dtype=np.int64)  # 0 none, 1 primary, 2 trunk
    for level, chosen in (
        (1, pairs),
        (2, [(county_seats[a], county_seats[b]) for a, b in trunk_pairs]),
    ):
        by_source: dict[int, list[int]] = {}
        for a, b in chosen:
            by_source.setdefault(int(seat_node[a]), []).append(int(seat_node[b]))
        for source_node, targets in sorted(by_source.items()):
            _, previous = dijkstra(graph, indices=source_node, return_predecessors=True)
            for target_node in targets:
                v = target_node
                while v != source_node and previous[v] >= 0:
                    u = int(previous[v])
                    w = link_of[(u, v)]
                    arterial[w] = max(arterial[w], level)
                    v = u
    highway[arterial == 1] = "primary"
    highway[arterial == 2] = "trunk"
    report("arterials", 1, 1)

    # Missing links, one-way streets and speed limits.
    rng = _rng(seed, "roads/links")
    missing = rng.random(len(way_from)) < np.where(link_urban, 0.06, 0.18)
    kept = usable & ((arterial > 0) | bridge | ~missing)
    oneway = link_urban & (arterial == 0) & (rng.random(len(way_from)) < 0.08)
    flip = rng.random(len(way_from)) < 0.5
    way_from, way_to = np.where(flip, way_to, way_from), np.where(flip, way_from, way_to)
    maxspeed = np.zeros(len(way_from), dtype=np.int64)
    maxspeed[arterial == 2] = 80
    maxspeed[(arterial == 1) & ~link_urban] = 60
    maxspeed[(arterial == 0) & link_urban & (rng.random(len(way_from)) < 0.03)] = 30

    # Nodes no kept way uses are dropped.
    way_from, way_to = way_from[kept], way_to[kept]
    used = np.zeros(len(x), dtype=np.bool_)
    used[way_from] = used[way_to] = True
    renumber = np.cumsum(used) - 1
    lon, lat = crs.from_metric(x[used], y[used])
    return ModelledRoads(
        node_id=(ii[used] * nj + jj[used] + 1).astype(np.int64),
        lon=np.asarray(np.round(np.asarray(lon, dtype=np.float64), 7), dtype=np.float64),
        lat=np.asarray(np.round(np.asarray(lat, dtype=np.float64), 7), dtype=np.float64),
        way_from=renumber[way_from],
        way_to=renumber[way_to],
        highway=[str(h) for h in highway[kept]],
        oneway=oneway[kept],
        maxspeed=maxspeed[kept],
    )


def _seat_pairs(points: FloatArray, limit_m: float = _MAX_SEAT_LINK_M) -> list[tuple[int, int]]:
    """Neighbouring seats: the edges of their Delaunay triangulation shorter than the limit."""
    if len(points) < 3:
        return [(0, 1)] if len(points) == 2 else []
    pairs: set[tuple[int, int]] = set()
    for simplex in Delaunay(points).simplices.tolist():
        for a, b in ((0, 1), (1, 2), (0, 2)):
            u, v = sorted((simplex[a], simplex[b]))
            if float(np.hypot(*(points[u] - points[v]))) <= limit_m:
                pairs.add((u, v))
    return sorted(pairs)


def _county_seats(codes: list[str]) -> list[int]:
    """Per county, the township with the lowest division code (its seat in this model)."""
    first: dict[str, int] = {}
    for i, code in sorted(enumerate(codes), key=lambda item: item[1]):
        first.setdefault(code[:6], i)
    return sorted(first.values())


def write_pbf(roads: ModelledRoads, path: Path) -> Path:
    """Write the network as an OSM PBF file (nodes, then ways, each in id order)."""
    import osmium

    path = Path(path)
    if path.exists():
        path.unlink()
    header = osmium.io.Header()
    header.set("generator", GENERATOR)
    writer = osmium.SimpleWriter(str(path), header=header)
    try:
        for node_id, lon, lat in zip(
            roads.node_id.tolist(), roads.lon.tolist(), roads.lat.tolist(), strict=True
        ):
            writer.add_node(osmium.osm.mutable.Node(id=node_id, location=(lon, lat), version=1))
        node_ids = roads.node_id
        for w in range(roads.way_count):
            tags = {"highway": roads.highway[w], "gridgis:modelled": "yes"}
            if roads.oneway[w]:
                tags["oneway"] = "yes"
            if roads.maxspeed[w]:
                tags["maxspeed"] = str(int(roads.maxspeed[w]))
            refs = [int(node_ids[roads.way_from[w]]), int(node_ids[roads.way_to[w]])]
            writer.add_way(osmium.osm.mutable.Way(id=w + 1, nodes=refs, tags=tags, version=1))
    finally:
        writer.close()
    return path
