"""Which cells a candidate post reaches by road: the reach matrix of a plan on a road run.

A post at a site reaches a cell when `road_v1` prices the site's way to the cell (the cell as
the call) within the target, as a coverage run by road counts its responders: turnout, the
legs between the road and the site and the cell (priced by the straight-line model in the
cell's setting) and the travel time on the network; a site or a cell that does not join the
network is priced by the straight-line model. One forward search from each site, cut at the
largest budget any cell could leave it, prices every cell near enough to be reached.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from pyproj import Geod
from scipy import sparse
from scipy.spatial import cKDTree

from gridgis.dispatch.eta import FloatArray
from gridgis.roads.model import RoadEta

IntArray = npt.NDArray[np.int64]

_GEOD = Geod(ellps="WGS84")
# The engine's projection errs far below this across a province.
_MARGIN = 1.01


def road_reach(
    model: RoadEta,
    cell_lon: FloatArray,
    cell_lat: FloatArray,
    cell_urban: npt.NDArray[np.bool_],
    site_lon: FloatArray,
    site_lat: FloatArray,
    target_s: float,
) -> sparse.csr_matrix:
    """Cells x sites, 1 where a responder at the site reaches the cell within `target_s`."""
    engine, fallback = model.engine, model.fallback
    n_cells, n_sites = len(cell_lon), len(site_lon)
    if n_cells == 0 or n_sites == 0:
        return sparse.csr_matrix((n_cells, n_sites), dtype=np.float64)
    cells = engine.snap(cell_lon, cell_lat, model.max_snap_m)
    sites = engine.snap(site_lon, site_lat, model.max_snap_m)
    cx, cy = engine.to_metric(cell_lon, cell_lat)
    sx, sy = engine.to_metric(site_lon, site_lat)
    cell_xy = np.column_stack([cx, cy])
    site_xy = np.column_stack([sx, sy])
    leg_urban = fallback.leg_s(np.where(cells.joined, cells.distance_m, 0.0), "urban")
    leg_rural = fallback.leg_s(np.where(cells.joined, cells.distance_m, 0.0), "rural")
    cell_leg = np.where(cell_urban, leg_urban, leg_rural)
    rows: list[IntArray] = []
    cols: list[IntArray] = []

    # Straight-line pairs: a site or a cell off the network.
    tree = cKDTree(cell_xy)
    reach_m = _MARGIN * max(
        fallback.max_distance_m(target_s, "urban"), fallback.max_distance_m(target_s, "rural")
    )
    for j, near in enumerate(tree.query_ball_point(site_xy, r=reach_m)):
        if not near:
            continue
        found = np.asarray(near, dtype=np.int64)
        if sites.joined[j]:
            found = found[~cells.joined[found]]
        if len(found) == 0:
            continue
        _, _, metres = _GEOD.inv(
            np.full(len(found), site_lon[j]), np.full(len(found), site_lat[j]),
            cell_lon[found], cell_lat[found],
        )  # fmt: skip
        eta = np.where(
            cell_urban[found],
            fallback.eta_s(np.asarray(metres), "urban"),
            fallback.eta_s(np.asarray(metres), "rural"),
        )
        hit = found[eta <= target_s]
        rows.append(hit)
        cols.append(np.full(len(hit), j, dtype=np.int64))

    # Road pairs: one search from each joined site over the network.
    joined_cells = np.flatnonzero(cells.joined)
    road_tree = cKDTree(cell_xy[joined_cells]) if len(joined_cells) else None
    speed = _MARGIN * max(engine.top_speed_ms, fallback.fastest_m_per_s)
    edge, t = cells.edge, cells.fraction
    for j in np.flatnonzero(sites.joined).tolist():
        if road_tree is None:
            break
        site_leg = float(
            min(
                fallback.leg_s(sites.distance_m[j : j + 1], "urban")[0],
                fallback.leg_s(sites.distance_m[j : j + 1], "rural")[0],
            )
        )
        budget = target_s - fallback.turnout_s - site_leg
        if budget < 0:
            continue
        # Nobody covers more straight-line ground per second than `speed` (road or leg).
        near = road_tree.query_ball_point(site_xy[j], r=budget * speed + model.max_snap_m * _MARGIN)
        if not near:
            continue
        found = joined_cells[np.asarray(near, dtype=np.int64)]
        times = engine.times_from_nodes(engine.exits(sites, j), limit=budget)
        e = edge[found]
        into_from_source = times[engine.edge_source[e]] + t[found] * engine.edge_cost[e]
        with np.errstate(invalid="ignore"):
            into_from_target = (
                times[engine.edge_target[e]] + (1.0 - t[found]) * (engine.edge_reverse_cost[e])
            )
        network = np.fmin(into_from_source, into_from_target)
        for k in np.flatnonzero(e == sites.edge[j]).tolist():
            network[k] = min(network[k], engine.along_edge_s(sites, j, cells, int(found[k])))
        site_legs = np.where(
            cell_urban[found],
            fallback.leg_s(sites.distance_m[j : j + 1], "urban")[0],
            fallback.leg_s(sites.distance_m[j : j + 1], "rural")[0],
        )
        eta = fallback.turnout_s + site_legs + network + cell_leg[found]
        hit = found[eta <= target_s]
        rows.append(hit)
        cols.append(np.full(len(hit), j, dtype=np.int64))

    if not rows:
        return sparse.csr_matrix((n_cells, n_sites), dtype=np.float64)
    r, c = np.concatenate(rows), np.concatenate(cols)
    return sparse.csr_matrix((np.ones(len(r)), (r, c)), shape=(n_cells, n_sites), dtype=np.float64)
