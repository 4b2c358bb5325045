"""Modelled populations: grids per county, township and grid populations (largest remainder)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from shapely.geometry import Point

from gridgis import crs
from gridgis.demo import counties as cty
from gridgis.demo.model import (
    _CLASS,
    COMMUNITY_RADIUS_M,
    TOTAL_GRIDS,
    IntArray,
    _Grid,
    _rng,
    _Township,
)


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
