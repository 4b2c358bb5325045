"""Road-network generations: stage an OSM extract as a network, check it, activate, roll back.

Like boundary generations: an import stages a new network (never active) with its QA report;
activation flips the one `active` flag in one transaction (audited), refusing a network with
QA errors unless forced; activating an older network is the rollback. The checks: the share
of nodes in the largest strongly connected component (a route exists between any two of
them), the share of dead ends, edges priced by the fallback speed, and how many of the active
generation's grids lie near a road at all (a network of another city reaches none).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from gridgis import audit
from gridgis.boundaries.sql import find_active_generation_id
from gridgis.db import Executor
from gridgis.dispatch.eta import setting_of_kind
from gridgis.errors import Conflict, InvalidInput, NotFound
from gridgis.roads import sql as roads_sql
from gridgis.roads.graph import EdgeSpeeds, RoadGraph, edge_midpoints, edge_speeds, file_sha256
from gridgis.roads.graph import read_graph as read_graph_file
from gridgis.roads.profiles import PROFILES, ProfileName
from gridgis.roads.speeds import SpeedTable, load_speed_table, table_from_rows, table_rows

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Thresholds:
    """Where a check turns into an error (refused for activation) or a warning."""

    min_grid_share: float = 0.8  # error below: the network does not serve the city
    reach_m: float = 500.0  # a grid is served when its inner point is this near a road
    min_largest_component: float = 0.8  # warning below
    max_dead_end_share: float = 0.35  # warning above


@dataclass(frozen=True)
class RoadImport:
    """What to do with an extract."""

    profile: ProfileName = "car"
    speeds_file: Path | None = None
    label: str | None = None
    activate: bool = False
    force: bool = False
    actor: str = "cli"
    thresholds: Thresholds = field(default_factory=Thresholds)
    # A provincial extract's COPY and grid-reach statements outlast the interactive statement
    # timeout; the import's transaction gets this one (GRIDGIS_BULK_STATEMENT_TIMEOUT_MS).
    statement_timeout_ms: int = 3_600_000


def graph_checks(graph: RoadGraph, speeds: EdgeSpeeds) -> dict[str, Any]:
    """Connectivity, dead ends and unpriced edges of a graph (no database needed)."""
    n = graph.node_count
    forward = coo_matrix(
        (np.ones(graph.edge_count), (graph.edge_source, graph.edge_target)), shape=(n, n)
    )
    two_way = ~graph.edge_oneway
    backward = coo_matrix(
        (np.ones(int(two_way.sum())), (graph.edge_target[two_way], graph.edge_source[two_way])),
        shape=(n, n),
    )
    directed = (forward + backward).tocsr()
    _, strong = connected_components(directed, directed=True, connection="strong")
    _, weak = connected_components(directed, directed=True, connection="weak")
    neighbours = (directed + directed.T).tocsr()
    neighbours.data[:] = 1
    degree = np.asarray((neighbours > 0).sum(axis=1)).ravel()
    return {
        "nodes": n,
        "edges": graph.edge_count,
        "length_km": round(float(graph.edge_length_m.sum()) / 1000, 3),
        "largest_component_share": round(_largest_share(strong, n), 4),
        "largest_weak_component_share": round(_largest_share(weak, n), 4),
        "dead_end_share": round(float((degree == 1).sum()) / max(n, 1), 4),
        "edges_without_speed": int(sum(1 for s in speeds.source if s == "fallback")),
        "edges_with_maxspeed": int(sum(1 for s in speeds.source if s == "maxspeed")),
        "one_way_edges": int(graph.edge_oneway.sum()),
        "ways_read": graph.ways_read,
        "ways_used": graph.ways_used,
    }


def _largest_share(labels: np.ndarray, n: int) -> float:
    if n == 0:
        return 0.0
    return float(np.bincount(labels).max()) / n


def import_network(
    db: Executor, path: Path, request: RoadImport, progress: Progress | None = None
) -> dict[str, Any]:
    """Read an extract, stage it as a new network with its QA report; activate when asked."""
    if request.profile not in PROFILES:
        raise InvalidInput(f"profile must be one of {', '.join(PROFILES)}", field="profile")
    table = load_speed_table(request.speeds_file)
    step = _stepper(progress)
    graph = read_graph_file(path, request.profile, lambda _, n: step("read ways", n, 0))
    if graph.edge_count == 0:
        raise InvalidInput(
            f"{path.name} has no way the {request.profile} profile can use.", field="file"
        )
    step("read ways", graph.ways_read, graph.ways_read)
    sha = file_sha256(path)
    return _build(
        db,
        graph,
        table,
        request,
        source=path.name,
        sha=sha,
        label=request.label or f"{path.name} {request.profile} {sha[:12]}",
        step=step,
    )


def reprice_network(
    db: Executor,
    network_id: int | None,
    request: RoadImport,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Stage a copy of a stored network (the active one when `network_id` is None) priced
    with the active boundary generation's settings, with its QA report; activate when asked.

    An edge's table speed depends on the setting of the grid it lies in, so a network priced
    before the boundaries changed keeps the old settings until it is repriced. The speed table
    is the one the network was priced with (the defaults when its report does not keep it),
    with `request.speeds_file`'s rows over it."""
    if network_id is None:
        network_id = roads_sql.active_network_id(db)
        if network_id is None:
            raise NotFound("No road network is active: import one first.", field="network")
    row = roads_sql.network_row(db, network_id)
    if row is None:
        raise NotFound(f"Road network {network_id} does not exist.", field="network")
    kept = (row.report or {}).get("speed_table")
    table = table_from_rows(kept) if kept else load_speed_table()
    if request.speeds_file is not None:
        table.update(load_speed_table(request.speeds_file))
    step = _stepper(progress)
    graph, _ = stored_graph(db, row)
    step("read network", graph.edge_count, graph.edge_count)
    generation = find_active_generation_id(db)
    label = request.label or f"{row.label[:150]} repriced on generation {generation}"
    notes: dict[str, Any] = {"repriced_from": network_id}
    if not kept:
        notes["speed_table_note"] = (
            f"Network {network_id} does not keep the speed table it was priced with; "
            "repriced with the defaults" + (" and the speeds file." if request.speeds_file else ".")
        )
    return _build(
        db,
        graph,
        table,
        replace(request, profile=row.profile),
        source=row.source,
        sha=row.source_sha256,
        label=label,
        step=step,
        notes=notes,
    )


def stored_graph(db: Executor, row: Any) -> tuple[RoadGraph, npt.NDArray[np.float64]]:
    """The graph a stored network was built from (its nodes, edges, classes and maxspeeds)
    and its edges' stored travel times (seconds, source to target)."""
    nodes = roads_sql.network_nodes(db, row.id)
    edges = roads_sql.network_edges(db, row.id)
    node_ids = np.asarray([r.id for r in nodes], dtype=np.int64)
    lines = shapely.from_wkb([bytes(r.wkb) for r in edges])
    coords, vertex_edge = shapely.get_coordinates(lines, return_index=True)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(vertex_edge, minlength=len(edges)))])
    checks = (row.report or {}).get("checks", {})
    graph = RoadGraph(
        profile=row.profile,
        node_osm_id=np.asarray([r.osm_id for r in nodes], dtype=np.int64),
        node_lon=np.asarray([r.lon for r in nodes], dtype=np.float64),
        node_lat=np.asarray([r.lat for r in nodes], dtype=np.float64),
        # Both node lists are ordered by id, so an id's index is its rank.
        edge_source=np.searchsorted(node_ids, [r.source for r in edges]).astype(np.int64),
        edge_target=np.searchsorted(node_ids, [r.target for r in edges]).astype(np.int64),
        edge_way_id=np.asarray([r.osm_way_id for r in edges], dtype=np.int64),
        edge_highway=[r.highway for r in edges],
        edge_oneway=np.asarray([r.oneway for r in edges], dtype=np.bool_),
        edge_maxspeed_kmh=np.asarray(
            [r.speed_kmh if r.speed_source == "maxspeed" else np.nan for r in edges],
            dtype=np.float64,
        ),
        edge_length_m=np.asarray([r.length_m for r in edges], dtype=np.float64),
        coords=coords,
        offsets=offsets.astype(np.int64),
        ways_read=int(checks.get("ways_read", 0)),
        ways_used=int(checks.get("ways_used", 0)),
    )
    return graph, np.asarray([r.cost for r in edges], dtype=np.float64)


def _stepper(progress: Progress | None) -> Progress:
    def step(name: str, done: int, total: int) -> None:
        if progress is not None:
            progress(name, done, total)

    return step


def _build(
    db: Executor,
    graph: RoadGraph,
    table: SpeedTable,
    request: RoadImport,
    *,
    source: str,
    sha: str,
    label: str,
    step: Progress,
    notes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Price a graph with the active generation's settings, store it as a staged network with
    its QA report, and activate it when asked."""
    generation = find_active_generation_id(db)
    lons, lats = edge_midpoints(graph)
    kinds = roads_sql.grid_kinds_at(db, lons, lats, generation)
    urban = np.asarray([setting_of_kind(k) == "urban" for k in kinds], dtype=np.bool_)
    speeds = edge_speeds(graph, table, urban)
    checks = graph_checks(graph, speeds)
    checks["urban_edges"] = int(urban.sum())

    db.execute(roads_sql.LOCK_IMPORT)
    roads_sql.set_local_statement_timeout(db, request.statement_timeout_ms)
    if roads_sql.label_exists(db, label):
        raise Conflict(f"A road network labelled {label!r} exists already.", field="label")
    network_id = roads_sql.insert_network(
        db,
        label=label,
        profile=graph.profile,
        source=source,
        sha=sha,
        nodes=graph.node_count,
        edges=graph.edge_count,
        top=float(speeds.speed_kmh.max()),
        report="{}",
    )
    _stage(db, network_id, graph, speeds, step)
    grids, reached = roads_sql.grid_reach(db, network_id, request.thresholds.reach_m, generation)
    checks["grids"] = grids
    checks["grids_reached"] = reached
    report = _report(network_id, label, request, checks, sha, table)
    report["priced_with_generation"] = generation
    report.update(notes or {})
    roads_sql.update_report(db, network_id, json.dumps(report))
    # A refused activation keeps the staged network (and its report) for a later decision.
    if request.activate and (request.force or not report["errors"]):
        report["activation"] = activate_network(
            db, network_id, actor=request.actor, force=request.force
        )
    elif request.activate:
        report["activation_refused"] = "QA errors; stage kept, activate it with force."
    return report


def _stage(
    db: Executor,
    network_id: int,
    graph: RoadGraph,
    speeds: EdgeSpeeds,
    step: Callable[[str, int, int], None],
) -> None:
    node_id_list = roads_sql.allocate_ids(db, "road_nodes_id_seq", graph.node_count)
    node_ids = np.asarray(node_id_list, dtype=np.int64)
    osm_ids = graph.node_osm_id.tolist()
    points = shapely.set_srid(shapely.points(graph.node_lon, graph.node_lat), 4326)
    node_wkb = shapely.to_wkb(points, hex=True, include_srid=True)
    roads_sql.copy_rows(
        db,
        "road_nodes",
        roads_sql.NODE_COLUMNS,
        (
            f"{node_id_list[i]}\t{network_id}\t{osm_ids[i]}\t{node_wkb[i]}\n"
            for i in range(graph.node_count)
        ),
    )
    step("store nodes", graph.node_count, graph.node_count)
    edge_ids = roads_sql.allocate_ids(db, "road_edges_id_seq", graph.edge_count)
    vertex_edge = np.repeat(np.arange(graph.edge_count), np.diff(graph.offsets))
    lines = shapely.set_srid(shapely.linestrings(graph.coords, indices=vertex_edge), 4326)
    edge_wkb = shapely.to_wkb(lines, hex=True, include_srid=True)
    # Python floats print repr-exact (numpy scalars would print their type name).
    cost = speeds.travel_time_s(graph.edge_length_m).tolist()
    sources = node_ids[graph.edge_source].tolist()
    targets = node_ids[graph.edge_target].tolist()
    x1, y1 = graph.coords[graph.offsets[:-1]].T.tolist()
    x2, y2 = graph.coords[graph.offsets[1:] - 1].T.tolist()
    way_ids = graph.edge_way_id.tolist()
    lengths = graph.edge_length_m.tolist()
    speed = speeds.speed_kmh.tolist()
    oneway = graph.edge_oneway.tolist()

    def edge_line(i: int) -> str:
        reverse = -1.0 if oneway[i] else cost[i]
        return (
            f"{edge_ids[i]}\t{network_id}\t{sources[i]}\t{targets[i]}\t{cost[i]!r}\t"
            f"{reverse!r}\t{x1[i]!r}\t{y1[i]!r}\t{x2[i]!r}\t{y2[i]!r}\t{way_ids[i]}\t"
            f"{graph.edge_highway[i]}\t{lengths[i]!r}\t{speed[i]!r}\t{speeds.source[i]}\t"
            f"{'t' if oneway[i] else 'f'}\t{edge_wkb[i]}\n"
        )

    roads_sql.copy_rows(
        db, "road_edges", roads_sql.EDGE_COLUMNS, (edge_line(i) for i in range(graph.edge_count))
    )
    step("store edges", graph.edge_count, graph.edge_count)


def _report(
    network_id: int,
    label: str,
    request: RoadImport,
    checks: dict[str, Any],
    sha: str,
    table: SpeedTable,
) -> dict[str, Any]:
    limits = request.thresholds
    errors: list[str] = []
    warnings: list[str] = []
    grids, reached = checks["grids"], checks["grids_reached"]
    share = reached / grids if grids else 0.0
    checks["grid_share"] = round(share, 4)
    if grids == 0:
        errors.append("No active boundary generation with grids to check the network against.")
    elif reached == 0:
        errors.append(
            f"The network does not overlap the city: none of its {grids} grids lies within "
            f"{limits.reach_m:g} m of a road."
        )
    elif share < limits.min_grid_share:
        errors.append(
            f"The network covers too little of the city: {reached} of {grids} grids "
            f"({share:.0%}) lie within {limits.reach_m:g} m of a road "
            f"(at least {limits.min_grid_share:.0%} needed)."
        )
    if checks["largest_component_share"] < limits.min_largest_component:
        warnings.append(
            f"Only {checks['largest_component_share']:.0%} of nodes are in the largest strongly "
            "connected component: routes between the rest may not exist."
        )
    if checks["dead_end_share"] > limits.max_dead_end_share:
        warnings.append(f"{checks['dead_end_share']:.0%} of nodes are dead ends.")
    if checks["edges_without_speed"]:
        warnings.append(
            f"{checks['edges_without_speed']} edge(s) have a class with no speed in the table "
            "and no maxspeed; they are priced at the fallback speed."
        )
    return {
        "network_id": network_id,
        "label": label,
        "profile": request.profile,
        "source_sha256": sha,
        "speeds_file": str(request.speeds_file) if request.speeds_file else None,
        "speed_rows": len(table),
        "speed_table": table_rows(table),
        "thresholds": asdict(limits),
        "checks": checks,
        "errors": errors,
        "warnings": warnings,
    }


def activate_network(
    db: Executor, network_id: int, *, actor: str, force: bool = False
) -> dict[str, Any]:
    """Make a network the one road ETAs use; refuses one with QA errors unless forced."""
    db.execute(roads_sql.LOCK_ACTIVATE)
    row = roads_sql.network_row(db, network_id, lock=True)
    if row is None:
        raise NotFound(f"Road network {network_id} does not exist.", field="network")
    errors = list((row.report or {}).get("errors", []))
    if errors and not force:
        raise Conflict(
            f"Road network {network_id} has {len(errors)} QA error(s) ({errors[0]}); "
            "activate it with force.",
            field="force",
        )
    if row.active:
        return {"active": network_id, "previous": network_id, "changed": False}
    previous = roads_sql.activate(db, network_id)
    audit.record(
        db,
        actor=actor,
        action="road_network.activate",
        entity="road_network",
        entity_id=str(network_id),
        before={"active": previous},
        after={"active": network_id, "forced_over_errors": bool(force and errors)},
    )
    return {"active": network_id, "previous": previous, "changed": True}


def pricing_state(priced_with: int | None, active_generation: int | None) -> str:
    """`current` when a network's speeds were set by the active generation's grids, `stale`
    when by another generation's (reprice it), `unknown` when its report does not say."""
    if priced_with is None:
        return "unknown"
    return "current" if priced_with == active_generation else "stale"


def pricing_notice(db: Executor) -> str | None:
    """A sentence when the active network's speeds were set by another boundary generation's
    grids than the active one's (None when they match, or no network is active)."""
    network_id = roads_sql.active_network_id(db)
    if network_id is None:
        return None
    row = roads_sql.network_row(db, network_id)
    priced_with = (row.report or {}).get("priced_with_generation")
    generation = find_active_generation_id(db)
    if pricing_state(priced_with, generation) == "current":
        return None
    return (
        f"Road network {network_id} was priced with the urban and rural grids of "
        f"{'generation ' + str(priced_with) if priced_with else 'an unrecorded generation'}, "
        f"not of the active generation {generation}: `gridgis roads reprice --activate` "
        f"(POST /v1/road-networks/{network_id}/reprice?activate=true) prices its edges by "
        "the active grids."
    )


def list_networks(db: Executor) -> list[dict[str, Any]]:
    """Every network, newest first, with its status, QA counts and whether its speeds were
    set by the active boundary generation's grids."""
    generation = find_active_generation_id(db)
    return [
        {
            "id": r.id,
            "label": r.label,
            "profile": r.profile,
            "status": "active" if r.active else ("retired" if r.activated_at else "staged"),
            "nodes": r.node_count,
            "edges": r.edge_count,
            "top_speed_kmh": r.top_speed_kmh,
            "errors": len(r.report.get("errors", [])),
            "warnings": len(r.report.get("warnings", [])),
            "priced_with_generation": r.report.get("priced_with_generation"),
            "pricing": pricing_state(r.report.get("priced_with_generation"), generation),
            "repriced_from": r.report.get("repriced_from"),
            "created_at": r.created_at,
            "activated_at": r.activated_at,
        }
        for r in roads_sql.list_networks(db)
    ]
