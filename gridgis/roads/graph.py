"""Read the routable ways of an OSM PBF extract and split them into a graph of edges with geometry.

The reader is pyosmium (libosmium's Python binding): it streams the file in C++ with a node
location index, so a provincial extract is read in one pass without loading every OSM object
into Python, and its wheels carry no other native dependency. Ways are split at every node
two routable ways share (and at their ends), so each edge joins two graph nodes; a way drawn
against its one-way direction is reversed, so `oneway` edges always run source -> target.
Lengths are measured on the WGS84 ellipsoid (pyproj.Geod).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pyproj import Geod

from gridgis.errors import InvalidInput
from gridgis.roads.profiles import PROFILES, ProfileName, way_access
from gridgis.roads.speeds import SpeedTable, parse_maxspeed, table_speed

Progress = Callable[[str, int], None]
_GEOD = Geod(ellps="WGS84")


@dataclass
class RoadGraph:
    """Nodes and edges of one profile's network (edges indexed 0..E-1, nodes 0..N-1)."""

    profile: ProfileName
    node_osm_id: npt.NDArray[np.int64]
    node_lon: npt.NDArray[np.float64]
    node_lat: npt.NDArray[np.float64]
    edge_source: npt.NDArray[np.int64]
    edge_target: npt.NDArray[np.int64]
    edge_way_id: npt.NDArray[np.int64]
    edge_highway: list[str]
    edge_oneway: npt.NDArray[np.bool_]
    edge_maxspeed_kmh: npt.NDArray[np.float64]  # NaN where the way has no usable maxspeed
    edge_length_m: npt.NDArray[np.float64]
    # Vertices of every edge: edge i is coords[offsets[i]:offsets[i + 1]] as (lon, lat).
    coords: npt.NDArray[np.float64]
    offsets: npt.NDArray[np.int64]
    ways_read: int = 0
    ways_used: int = 0

    @property
    def node_count(self) -> int:
        return len(self.node_osm_id)

    @property
    def edge_count(self) -> int:
        return len(self.edge_source)

    def edge_coords(self, edge: int) -> npt.NDArray[np.float64]:
        return self.coords[self.offsets[edge] : self.offsets[edge + 1]]


@dataclass(frozen=True)
class EdgeSpeeds:
    """Speed of every edge (km/h) and what set it: 'maxspeed', 'table' or 'fallback'."""

    speed_kmh: npt.NDArray[np.float64]
    source: list[str]

    def travel_time_s(self, length_m: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(length_m / (self.speed_kmh / 3.6))


FALLBACK_SPEED_KMH = 10.0  # a class with no row: slow enough never to shorten a real route


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_graph(path: Path, profile: ProfileName, progress: Progress | None = None) -> RoadGraph:
    """The routable network of `profile` in the PBF (or .osm) extract at `path`."""
    if profile not in PROFILES:
        raise InvalidInput(f"profile must be one of {', '.join(PROFILES)}", field="profile")
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}", field="file")
    try:
        import osmium
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise InvalidInput("reading OSM extracts needs pyosmium (pip install osmium)") from exc

    ways: list[tuple[int, str, int, float, list[tuple[int, float, float] | None]]] = []
    ways_read = 0
    try:
        processor = osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
        processor = processor.with_locations().with_filter(osmium.filter.KeyFilter("highway"))
        for obj in processor:
            if not isinstance(obj, osmium.osm.Way):
                continue
            ways_read += 1
            if progress is not None and ways_read % 10_000 == 0:
                progress("ways", ways_read)
            tags = {t.k: t.v for t in obj.tags}
            access = way_access(profile, tags)
            if access is None:
                continue
            maxspeed = parse_maxspeed(tags.get("maxspeed")) if profile != "foot" else None
            nodes: list[tuple[int, float, float] | None] = []
            for ref in obj.nodes:
                location = ref.location
                nodes.append((ref.ref, location.lon, location.lat) if location.valid() else None)
            ways.append(
                (
                    obj.id,
                    access.highway,
                    access.direction,
                    np.nan if maxspeed is None else maxspeed,
                    nodes,
                )
            )
    except RuntimeError as exc:
        raise InvalidInput(f"{path.name} is not a readable OSM file: {exc}", field="file") from exc
    if progress is not None:
        progress("ways", ways_read)
    return _split_ways(profile, ways, ways_read)


def _split_ways(
    profile: ProfileName,
    ways: list[tuple[int, str, int, float, list[tuple[int, float, float] | None]]],
    ways_read: int,
) -> RoadGraph:
    # A node is a graph node where two routable ways meet, or where a way ends (or is cut
    # by the extract's edge, leaving a node without a location).
    uses: dict[int, int] = {}
    for _, _, _, _, nodes in ways:
        for node in nodes:
            if node is not None:
                uses[node[0]] = uses.get(node[0], 0) + 1
    node_index: dict[int, int] = {}
    node_lon: list[float] = []
    node_lat: list[float] = []

    def index_of(node: tuple[int, float, float]) -> int:
        found = node_index.get(node[0])
        if found is None:
            found = node_index[node[0]] = len(node_lon)
            node_lon.append(node[1])
            node_lat.append(node[2])
        return found

    sources: list[int] = []
    targets: list[int] = []
    way_ids: list[int] = []
    highways: list[str] = []
    oneways: list[bool] = []
    maxspeeds: list[float] = []
    lons: list[float] = []
    lats: list[float] = []
    offsets: list[int] = [0]
    ways_used = 0
    for way_id, highway, direction, maxspeed, drawn in ways:
        nodes = drawn[::-1] if direction == -1 else drawn
        used = False
        piece: list[tuple[int, float, float]] = []
        for position, node in enumerate(nodes):
            if node is None:
                piece = []
                continue
            if piece and piece[-1][0] == node[0]:
                continue  # a repeated node adds nothing
            piece.append(node)
            is_end = position == len(nodes) - 1 or nodes[position + 1] is None
            if len(piece) > 1 and (is_end or uses[node[0]] > 1):
                source, target = index_of(piece[0]), index_of(piece[-1])
                if source != target:  # a loop back to its start never shortens a route
                    sources.append(source)
                    targets.append(target)
                    way_ids.append(way_id)
                    highways.append(highway)
                    oneways.append(direction != 0)
                    maxspeeds.append(maxspeed)
                    lons.extend(p[1] for p in piece)
                    lats.extend(p[2] for p in piece)
                    offsets.append(len(lons))
                    used = True
                piece = [node]
        ways_used += used
    coords = np.column_stack(
        [np.asarray(lons, dtype=np.float64), np.asarray(lats, dtype=np.float64)]
    )
    offsets_array = np.asarray(offsets, dtype=np.int64)
    return RoadGraph(
        profile=profile,
        node_osm_id=np.fromiter(node_index.keys(), dtype=np.int64, count=len(node_index)),
        node_lon=np.asarray(node_lon, dtype=np.float64),
        node_lat=np.asarray(node_lat, dtype=np.float64),
        edge_source=np.asarray(sources, dtype=np.int64),
        edge_target=np.asarray(targets, dtype=np.int64),
        edge_way_id=np.asarray(way_ids, dtype=np.int64),
        edge_highway=highways,
        edge_oneway=np.asarray(oneways, dtype=np.bool_),
        edge_maxspeed_kmh=np.asarray(maxspeeds, dtype=np.float64),
        edge_length_m=_edge_lengths(coords, offsets_array),
        coords=coords.reshape(-1, 2),
        offsets=offsets_array,
        ways_read=ways_read,
        ways_used=ways_used,
    )


def _edge_lengths(
    coords: npt.NDArray[np.float64], offsets: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Ellipsoidal length of each edge: the sum of its segments' geodesic lengths."""
    if len(offsets) < 2:
        return np.zeros(0, dtype=np.float64)
    _, _, segment = _GEOD.inv(coords[:-1, 0], coords[:-1, 1], coords[1:, 0], coords[1:, 1])
    segment = np.asarray(segment, dtype=np.float64)
    # Segment j joins vertex j and j + 1; those that cross from one edge to the next are not
    # counted (each edge's segments are offsets[i] .. offsets[i + 1] - 2).
    cumulative = np.concatenate([[0.0], np.cumsum(segment)])
    return np.asarray(cumulative[offsets[1:] - 1] - cumulative[offsets[:-1]])


def edge_speeds(graph: RoadGraph, table: SpeedTable, urban: npt.NDArray[np.bool_]) -> EdgeSpeeds:
    """Each edge's speed: its `maxspeed` when tagged, else the table's for its class and setting."""
    speeds = np.empty(graph.edge_count, dtype=np.float64)
    sources: list[str] = []
    for i in range(graph.edge_count):
        maxspeed = graph.edge_maxspeed_kmh[i]
        if not np.isnan(maxspeed):
            speeds[i] = maxspeed
            sources.append("maxspeed")
            continue
        speed = table_speed(table, graph.profile, graph.edge_highway[i], bool(urban[i]))
        if speed is None:
            speeds[i] = FALLBACK_SPEED_KMH
            sources.append("fallback")
        else:
            speeds[i] = speed
            sources.append("table")
    return EdgeSpeeds(speeds, sources)


def edge_midpoints(graph: RoadGraph) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """A vertex near the middle of each edge (where its setting is decided)."""
    middle = (graph.offsets[:-1] + graph.offsets[1:] - 1) // 2
    return graph.coords[middle, 0].copy(), graph.coords[middle, 1].copy()
