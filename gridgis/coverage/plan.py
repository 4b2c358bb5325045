"""Where to add responders: a maximal covering location problem over a stored coverage run.

With the run's responders fixed, choose `add` new posts among candidate sites so that the
population reached by at least `k` responders within the target is as large as possible.
A cell needs `k - responders_within_target` more responders in reach; a post reaches a cell
by the rule the run used to count responders: its straight-line distance within
`max_distance_m(target, setting of the cell)`, or on a run by road, `road_v1`'s price of the
way from the post to the cell within the target (`gridgis.roads.plan.road_reach`).

Solving: cells with the same need and the same set of reaching candidates are merged (their
population summed), which shrinks the problem by an order of magnitude. Then
1. greedy: repeatedly add the post that completes the most population (ties broken by
   partial progress towards cells needing more than one post). For k = 1 the objective is
   submodular and greedy is within (1 - 1/e) of the optimum; every gain is recomputed with
   one sparse product per step, so lazy evaluation would save nothing measurable here;
2. an upper bound from the linear relaxation (scipy.optimize.linprog, HiGHS);
3. the exact integer programme (scipy.optimize.milp, HiGHS) under a time limit. Its answer
   is used when it beats greedy; its dual bound tightens the upper bound.
The reported gap is (upper bound - population gained) / upper bound: 0 means proven optimal.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.spatial import cKDTree

from gridgis.coverage import sql as coverage_sql
from gridgis.coverage.cells import metric_scale
from gridgis.crs import to_metric
from gridgis.db import Executor
from gridgis.dispatch.eta import URBAN_KINDS, DistanceEtaModel, Setting
from gridgis.dispatch.sql import responders as responders_sql
from gridgis.errors import Conflict, InvalidInput
from gridgis.roads.model import RoadEta
from gridgis.roads.plan import road_reach
from gridgis.validation import check_lon_lat

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MAX_ADD = 200
MAX_CANDIDATES = 10_000
DEFAULT_TIME_LIMIT_S = 20.0


@dataclass(frozen=True)
class PlannedSite:
    """One chosen post, in the order greedy would add them, with what it adds."""

    rank: int
    lon: float
    lat: float
    label: str
    grid_code: str | None
    population_gained: float


@dataclass(frozen=True)
class Shares:
    """Covered population and area of one area, before or after the new posts."""

    population: float
    population_within_target: float
    population_share_within_target: float | None
    area_share_within_target: float | None


@dataclass(frozen=True)
class AreaChange:
    """An area's coverage before and after the plan."""

    code: str
    name: str
    level: str
    before: Shares
    after: Shares


@dataclass(frozen=True)
class PlanResult:
    """The chosen posts, what they add, and how close to optimal the choice is proven."""

    run_id: int
    add: int
    role: str
    k: int
    target_s: float
    candidates: int
    sites: list[PlannedSite]
    population_gained: float
    upper_bound: float
    gap: float
    method: str
    city: AreaChange | None
    counties: list[AreaChange]
    solver: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidates:
    """Candidate sites (WGS84) with labels."""

    lon: FloatArray
    lat: FloatArray
    labels: list[str]


def default_candidates(area_rows: Sequence[dict[str, Any]]) -> Candidates:
    """One candidate per grid: its point-on-surface (always inside the grid)."""
    grids = [r for r in area_rows if r["level"] == "grid"]
    return Candidates(
        lon=np.array([float(r["inner_lon"]) for r in grids]),
        lat=np.array([float(r["inner_lat"]) for r in grids]),
        labels=[f"{r['name']} ({r['code']})" for r in grids],
    )


def supplied_candidates(points: Sequence[Sequence[float]]) -> Candidates:
    """Candidates given as [lon, lat] pairs; InvalidInput naming the bad item."""
    if not 1 <= len(points) <= MAX_CANDIDATES:
        raise InvalidInput(
            f"candidates must list between 1 and {MAX_CANDIDATES} [lon, lat] points.",
            field="candidates",
        )
    lons, lats = [], []
    for i, point in enumerate(points):
        if not isinstance(point, Sequence) or isinstance(point, str) or len(point) != 2:
            raise InvalidInput(f"candidates[{i}] must be [lon, lat].", field=f"candidates[{i}]")
        try:
            lon, lat = check_lon_lat(point[0], point[1])
        except InvalidInput as exc:
            raise InvalidInput(f"candidates[{i}]: {exc.message}", field=f"candidates[{i}]") from exc
        lons.append(lon)
        lats.append(lat)
    return Candidates(
        lon=np.array(lons), lat=np.array(lats), labels=[f"candidate {i}" for i in range(len(lons))]
    )


def _reach(
    cell_xy: FloatArray,
    cell_scale: FloatArray,
    cell_urban: npt.NDArray[np.bool_],
    site_xy: FloatArray,
    model: DistanceEtaModel,
    target_s: float,
) -> sparse.csr_matrix:
    """Cells x sites, 1 where the site reaches the cell within the target (the run's rule:
    projected distance <= reach x the projection's scale factor at the cell)."""
    rows: list[IntArray] = []
    cols: list[IntArray] = []
    for setting, mask in (("urban", cell_urban), ("rural", ~cell_urban)):
        index = np.flatnonzero(mask)
        if len(index) == 0 or len(site_xy) == 0:
            continue
        s: Setting = "urban" if setting == "urban" else "rural"
        reach_m = model.max_distance_m(target_s, s)
        tree = cKDTree(cell_xy[index])
        # Shortlist with the largest scale factor, then apply each cell's own.
        hits = tree.query_ball_point(site_xy, r=reach_m * float(cell_scale[index].max()))
        for j, found in enumerate(hits):
            if not found:
                continue
            members = index[np.asarray(found, dtype=np.int64)]
            gap = np.hypot(*(cell_xy[members] - site_xy[j]).T)
            members = members[gap <= reach_m * cell_scale[members]]
            rows.append(members)
            cols.append(np.full(len(members), j, dtype=np.int64))
    if not rows:
        return sparse.csr_matrix((len(cell_xy), len(site_xy)), dtype=np.float64)
    r, c = np.concatenate(rows), np.concatenate(cols)
    return sparse.csr_matrix(
        (np.ones(len(r)), (r, c)), shape=(len(cell_xy), len(site_xy)), dtype=np.float64
    )


@dataclass(frozen=True)
class _Problem:
    """Merged rows: need, weight and the reaching candidates of each distinct cell class."""

    need: FloatArray
    weight: FloatArray
    reach: sparse.csr_matrix  # rows x candidates


def _merge_rows(reach: sparse.csr_matrix, need: IntArray, weight: FloatArray, add: int) -> _Problem:
    reach = reach.tocsr()
    reach.sort_indices()
    reachable = np.diff(reach.indptr)
    useful = (need > 0) & (weight > 0) & (need <= np.minimum(reachable, add))
    groups: dict[bytes, int] = {}
    keys: list[int] = []
    for i in np.flatnonzero(useful).tolist():
        key = (
            int(need[i]).to_bytes(2, "little")
            + reach.indices[reach.indptr[i] : reach.indptr[i + 1]].tobytes()
        )
        keys.append(groups.setdefault(key, len(groups)))
    rows = np.flatnonzero(useful)
    merged_of = np.asarray(keys, dtype=np.int64)
    count = len(groups)
    merged_weight = np.asarray(
        np.bincount(merged_of, weights=weight[rows], minlength=count), dtype=np.float64
    )
    first = np.full(count, -1, dtype=np.int64)
    first[merged_of[::-1]] = rows[::-1]
    return _Problem(
        need=need[first].astype(np.float64) if count else np.zeros(0),
        weight=merged_weight,
        reach=reach[first] if count else sparse.csr_matrix((0, reach.shape[1])),
    )


def _covered_weight(problem: _Problem, chosen: Sequence[int]) -> float:
    if not chosen or problem.reach.shape[0] == 0:
        return 0.0
    picked = np.zeros(problem.reach.shape[1])
    picked[list(chosen)] = 1.0
    got = problem.reach @ picked
    return float(problem.weight[got >= problem.need].sum())


def _greedy(
    problem: _Problem, add: int, allowed: Sequence[int] | None = None
) -> list[tuple[int, float]]:
    """Greedy picks with the population each completes (only among `allowed` if given)."""
    remaining = problem.need.copy()
    reach_t = problem.reach.T.tocsr()
    n_sites = problem.reach.shape[1]
    available = np.zeros(n_sites, dtype=bool)
    if allowed is None:
        available[:] = True
    else:
        available[list(allowed)] = True
    picks: list[tuple[int, float]] = []
    for _ in range(min(add, int(available.sum()))):
        completes = problem.weight * (remaining == 1)
        progress = np.where(remaining > 0, problem.weight / np.maximum(remaining, 1), 0.0)
        gain = np.where(available, reach_t @ completes, -1.0)
        partial = np.where(available, reach_t @ progress, -1.0)
        best_gain = float(gain.max())
        if best_gain <= 0 and partial.max() <= 0:
            break
        # Among the best completions, prefer the one that also advances the most.
        ties = np.flatnonzero(gain >= best_gain * (1 - 1e-12) if best_gain > 0 else gain >= 0)
        pick = int(ties[np.argmax(partial[ties])])
        available[pick] = False
        touched = reach_t.indices[reach_t.indptr[pick] : reach_t.indptr[pick + 1]]
        completed = touched[remaining[touched] == 1]
        picks.append((pick, float(problem.weight[completed].sum())))
        remaining[touched] = np.maximum(remaining[touched] - 1, 0)
    return picks


def _constraints(problem: _Problem, add: int) -> tuple[FloatArray, list[LinearConstraint]]:
    n_sites = problem.reach.shape[1]
    n_rows = problem.reach.shape[0]
    # Variables: x (sites) then y (rows). Maximise covered weight = minimise -weight . y
    cost = np.concatenate([np.zeros(n_sites), -problem.weight])
    # need_r * y_r - sum_j reach_rj x_j <= 0: a row counts only once its need is met.
    coupling = sparse.hstack(
        [-problem.reach, sparse.diags(problem.need, format="csr")], format="csr"
    )
    budget = sparse.hstack(
        [sparse.csr_matrix(np.ones((1, n_sites))), sparse.csr_matrix((1, n_rows))], format="csr"
    )
    return cost, [
        LinearConstraint(coupling, -np.inf, 0.0),
        LinearConstraint(budget, 0.0, float(add)),
    ]


def _lp_bound(problem: _Problem, add: int) -> float:
    cost, constraints = _constraints(problem, add)
    a_ub = sparse.vstack([c.A for c in constraints], format="csr")
    b_ub = np.concatenate([np.atleast_1d(c.ub) for c in constraints])
    result = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=(0, 1), method="highs")
    if result.status != 0:
        return float(problem.weight.sum())
    return float(-result.fun)


def _exact(problem: _Problem, add: int, time_limit_s: float) -> tuple[list[int] | None, Any]:
    cost, constraints = _constraints(problem, add)
    n_sites = problem.reach.shape[1]
    result = milp(
        cost,
        constraints=constraints,
        integrality=np.ones(len(cost)),
        bounds=Bounds(0, 1),
        options={"time_limit": time_limit_s, "disp": False},
    )
    if result.x is None:
        return None, result
    chosen = [int(j) for j in np.flatnonzero(result.x[:n_sites] > 0.5)]
    return chosen, result


def _order_by_gain(problem: _Problem, chosen: Sequence[int]) -> list[tuple[int, float]]:
    """The chosen sites in greedy order among themselves, each with its marginal gain."""
    ordered = _greedy(problem, len(chosen), allowed=chosen)
    seen = {j for j, _ in ordered}
    return ordered + [(j, 0.0) for j in chosen if j not in seen]


def _shares(population: FloatArray, area: FloatArray, covered: npt.NDArray[np.bool_]) -> Shares:
    total = float(population.sum())
    within = float(population[covered].sum())
    area_total = float(area.sum())
    return Shares(
        population=round(total, 1),
        population_within_target=round(within, 1),
        population_share_within_target=round(within / total, 6) if total > 0 else None,
        area_share_within_target=(
            round(float(area[covered].sum()) / area_total, 6) if area_total > 0 else None
        ),
    )


def _grids_at(
    area_rows: Sequence[dict[str, Any]], lon: FloatArray, lat: FloatArray
) -> list[str | None]:
    """The grid holding each point (the lowest code on a shared edge, None outside)."""
    grids = sorted((r for r in area_rows if r["level"] == "grid"), key=lambda r: r["code"])
    if not grids or len(lon) == 0:
        return [None] * len(lon)
    tree = shapely.STRtree(shapely.from_wkb([bytes(r["wkb"]) for r in grids]))
    point_index, grid_index = tree.query(shapely.points(lon, lat), predicate="intersects")
    found: list[str | None] = [None] * len(lon)
    for p, g in sorted(zip(point_index.tolist(), grid_index.tolist(), strict=True)):
        if found[p] is None:
            found[p] = grids[g]["code"]
    return found


def check_role(
    db: Executor, role: str, counted: Sequence[str] | None, *, run_id: int | None = None
) -> None:
    """InvalidInput unless `role` exists and a run counting `counted` roles would count it
    (checked before any computation, so a bad request costs nothing)."""
    known = responders_sql.known_roles(db)
    if role not in known:
        raise InvalidInput(f"role must be one of {', '.join(sorted(known))}.", field="role")
    if counted and role not in counted:
        run = f"run {run_id}" if run_id is not None else "the run"
        raise InvalidInput(
            f"{run} counts only {', '.join(counted)}: a new {role} would not count.",
            field="role",
        )


def plan_posts(
    db: Executor,
    model: DistanceEtaModel | RoadEta,
    *,
    run_id: int,
    add: int,
    role: str = "volunteer",
    candidates: Sequence[Sequence[float]] | None = None,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    release_reads: Callable[[], None] | None = None,
) -> PlanResult:
    """Choose `add` new posts for `role` that cover the most population within the run's
    target (with the run's k), keeping every current responder where the run placed them.

    `release_reads` is called once everything is read, before the solver runs (see
    runs.run_coverage): nothing is written, so the caller's transaction can end there."""
    started = time.perf_counter()
    if isinstance(add, bool) or not isinstance(add, int) or not 1 <= add <= MAX_ADD:
        raise InvalidInput(f"add must be an integer between 1 and {MAX_ADD}.", field="add")
    if not (math.isfinite(time_limit_s) and 0 < time_limit_s <= 600):
        raise InvalidInput("time_limit_s must be between 0 and 600 seconds.", field="time_limit_s")
    run = coverage_sql.get_run(db, run_id)
    check_role(db, role, run.parameters.get("roles"), run_id=run_id)
    if run.parameters.get("eta_model") != model.parameters():
        raise Conflict(
            f"The ETA model changed since run {run_id}; start a new coverage run first.",
            field="run_id",
        )
    if run.status != "done":
        raise Conflict(f"Run {run_id} is {run.status}, not done.", field="run_id")
    k = int(run.parameters["k"])
    target_s = float(run.parameters["target_s"])

    cells = coverage_sql.run_cells(db, run_id)
    area_rows = coverage_sql.generation_areas(db, run.generation_id)
    sites = (
        supplied_candidates(candidates) if candidates is not None else default_candidates(area_rows)
    )
    if len(sites.lon) == 0:
        raise InvalidInput("there are no candidate sites.", field="candidates")
    if release_reads is not None:
        release_reads()

    cell_urban = np.isin(cells["kind"], list(URBAN_KINDS))
    cx, cy = to_metric(cells["lon"], cells["lat"])
    cell_xy = np.column_stack([cx, cy])
    cell_scale = metric_scale(cells["lon"], cells["lat"])
    sx, sy = to_metric(sites.lon, sites.lat)
    site_xy = np.column_stack([sx, sy])
    within = cells["responders_within_target"]
    need = np.maximum(k - within, 0)

    def reach(cell_index: Any, site_index: Any) -> sparse.csr_matrix:
        """Cells x sites within the target, by the rule the run used (road or straight)."""
        if isinstance(model, RoadEta):
            return road_reach(
                model,
                cells["lon"][cell_index],
                cells["lat"][cell_index],
                cell_urban[cell_index],
                sites.lon[site_index],
                sites.lat[site_index],
                target_s,
            )
        return _reach(
            cell_xy[cell_index],
            cell_scale[cell_index],
            cell_urban[cell_index],
            site_xy[site_index],
            model,
            target_s,
        )

    relevant = np.flatnonzero((need > 0) & (cells["population"] > 0))
    reach_relevant = reach(relevant, slice(None))
    problem = _merge_rows(reach_relevant, need[relevant], cells["population"][relevant], add)

    greedy = [j for j, _ in _greedy(problem, add)]
    greedy_value = _covered_weight(problem, greedy)
    prepared = time.perf_counter()
    upper = _lp_bound(problem, add) if problem.reach.shape[0] else 0.0
    best, best_value, method = greedy, greedy_value, "greedy"
    solver: dict[str, Any] = {
        "rows": int(problem.reach.shape[0]),
        "cells_needing_cover": len(relevant),
        "greedy_population": round(greedy_value, 1),
        "lp_bound": round(upper, 1),
    }
    if problem.reach.shape[0]:
        exact, result = _exact(problem, add, time_limit_s)
        solver["milp_status"] = int(result.status)
        solver["milp_message"] = str(result.message)
        if exact is not None:
            exact_value = _covered_weight(problem, exact)
            if exact_value > best_value + 1e-9:
                best, best_value, method = exact, exact_value, "milp"
            dual = getattr(result, "mip_dual_bound", None)
            if result.status == 0:
                upper = min(upper, exact_value)
                method = "milp (optimal)" if method == "milp" else "greedy (proven optimal)"
            elif dual is not None and math.isfinite(dual):
                upper = min(upper, -float(dual))
    upper = max(upper, best_value)
    gap = (upper - best_value) / upper if upper > 0 else 0.0
    solver["seconds"] = round(time.perf_counter() - started, 3)
    solver["solve_seconds"] = round(time.perf_counter() - prepared, 3)

    ordered = _order_by_gain(problem, best)
    chosen = [j for j, _ in ordered]
    site_grids = _grids_at(area_rows, sites.lon[chosen], sites.lat[chosen])
    planned = []
    for rank, ((j, gained), grid_code) in enumerate(zip(ordered, site_grids, strict=True), start=1):
        planned.append(
            PlannedSite(
                rank=rank,
                lon=round(float(sites.lon[j]), 7),
                lat=round(float(sites.lat[j]), 7),
                label=sites.labels[j],
                grid_code=grid_code,
                population_gained=round(gained, 1),
            )
        )

    # Before/after on every cell (not only the merged rows) with the same reach rule.
    added = np.asarray(reach(slice(None), np.asarray(chosen, dtype=np.int64)).sum(axis=1))
    after_count = within + added.ravel().astype(np.int64)
    covered_before = within >= k
    covered_after = after_count >= k
    city, counties = _area_changes(area_rows, cells, covered_before, covered_after)
    return PlanResult(
        run_id=run_id,
        add=add,
        role=role,
        k=k,
        target_s=target_s,
        candidates=len(sites.lon),
        sites=planned,
        population_gained=round(best_value, 1),
        upper_bound=round(upper, 1),
        gap=round(gap, 6),
        method=method,
        city=city,
        counties=counties,
        solver=solver,
    )


def _area_changes(
    area_rows: Sequence[dict[str, Any]],
    cells: dict[str, npt.NDArray[Any]],
    before: npt.NDArray[np.bool_],
    after: npt.NDArray[np.bool_],
) -> tuple[AreaChange | None, list[AreaChange]]:
    parent = {r["code"]: r["parent_code"] for r in area_rows}
    level = {r["code"]: r["level"] for r in area_rows}
    name = {r["code"]: r["name"] for r in area_rows}

    def ancestor(code: str, wanted: str) -> str | None:
        current: str | None = code
        for _ in range(10):
            if current is None:
                return None
            if level.get(current) == wanted:
                return current
            current = parent.get(current)
        return None

    population, area = cells["population"], cells["area_m2"]
    grid_codes = cells["grid_code"]
    county_of_grid = {g: ancestor(g, "county") for g in set(grid_codes.tolist())}
    county = np.array([county_of_grid[g] or "" for g in grid_codes.tolist()], dtype=object)
    city_code = next((r["code"] for r in area_rows if r["level"] == "city"), None)
    city = None
    if city_code is not None:
        city = AreaChange(
            code=city_code,
            name=name[city_code],
            level="city",
            before=_shares(population, area, before),
            after=_shares(population, area, after),
        )
    counties = []
    for code in sorted(c for c in set(county.tolist()) if c):
        mask = county == code
        counties.append(
            AreaChange(
                code=code,
                name=name[code],
                level="county",
                before=_shares(population[mask], area[mask], before[mask]),
                after=_shares(population[mask], area[mask], after[mask]),
            )
        )
    return city, counties
