"""The posts planner: never lowers coverage, matches an exhaustive search on small instances,
and names bad input."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from pyproj import Geod
from sqlalchemy import Connection, text

from gridgis.coverage import sql as coverage_sql
from gridgis.coverage.plan import plan_posts
from gridgis.coverage.runs import CoverageRequest, run_coverage
from gridgis.dispatch.eta import StraightLineEta, setting_of_kind
from gridgis.errors import Conflict, InvalidInput

MODEL = StraightLineEta()
GEOD = Geod(ellps="WGS84")


def _candidates(conn: Connection, county: str, count: int) -> list[list[float]]:
    """Inner points of the most populous grids of one county."""
    rows = conn.execute(
        text(
            """
            SELECT ST_X(ST_PointOnSurface(g.geom)) AS lon, ST_Y(ST_PointOnSurface(g.geom)) AS lat
            FROM areas g
            JOIN areas t ON t.code = g.parent_code AND t.generation_id = g.generation_id
            WHERE g.generation_id = (SELECT id FROM generations WHERE active)
              AND g.level = 'grid' AND t.parent_code = :county
            ORDER BY g.population DESC, g.code LIMIT :n
            """
        ),
        {"county": county, "n": count},
    ).all()
    return [[float(r.lon), float(r.lat)] for r in rows]


def _exhaustive(
    cells: dict[str, Any], k: int, target_s: float, sites: list[list[float]], add: int
) -> float:
    """The best population gain over every choice of `add` sites (direct enumeration, geodesic
    distances)."""
    distance = np.column_stack(
        [
            GEOD.inv(
                cells["lon"],
                cells["lat"],
                np.full(len(cells["lon"]), s[0]),
                np.full(len(cells["lon"]), s[1]),
            )[2]
            for s in sites
        ]
    )
    radius = np.array(
        [MODEL.max_distance_m(target_s, setting_of_kind(kind)) for kind in cells["kind"]]
    )
    reach = distance <= radius[:, None]
    within = cells["responders_within_target"]
    population = cells["population"]
    before = population[within >= k].sum()
    best = 0.0
    for combo in itertools.combinations(range(len(sites)), add):
        after = within + reach[:, list(combo)].sum(axis=1)
        best = max(best, float(population[after >= k].sum() - before))
    return best


@pytest.mark.parametrize(("k", "add"), [(1, 3), (2, 2)])
def test_plan_matches_exhaustive_search(conn: Connection, k: int, add: int) -> None:
    run = run_coverage(conn, MODEL, CoverageRequest(roles=("community_police",), k=k, resolution=8))
    sites = _candidates(conn, "350627", 9) + _candidates(conn, "350629", 3)
    result = plan_posts(
        conn, MODEL, run_id=run.id, add=add, role="community_police", candidates=sites
    )
    cells = coverage_sql.run_cells(conn, run.id)
    best = _exhaustive(cells, k, run.parameters["target_s"], sites, add)
    assert best > 0
    assert result.population_gained == pytest.approx(best, abs=0.2)
    assert result.gap == 0.0 and "optimal" in result.method
    assert len(result.sites) == add
    assert sum(s.population_gained for s in result.sites) == pytest.approx(best, abs=0.5)
    assert result.upper_bound >= result.population_gained - 0.1


def test_plan_never_lowers_coverage(conn: Connection) -> None:
    run = run_coverage(conn, MODEL, CoverageRequest(roles=("police_unit",), resolution=8))
    result = plan_posts(conn, MODEL, run_id=run.id, add=5, role="police_unit", time_limit_s=30)
    assert result.city is not None and len(result.counties) == 11
    for change in [result.city, *result.counties]:
        assert change.after.population_within_target >= change.before.population_within_target
        assert change.after.population == change.before.population
    gained = (
        result.city.after.population_within_target - result.city.before.population_within_target
    )
    assert gained == pytest.approx(result.population_gained, abs=1.0)
    assert result.population_gained > 0
    # Default candidates are the grids' inner points: every chosen site lies in a grid.
    assert all(site.label.endswith(f"({site.grid_code})") for site in result.sites)
    ranks = [site.rank for site in result.sites]
    assert ranks == list(range(1, len(ranks) + 1))
    assert 0.0 <= result.gap <= 1.0
    assert result.upper_bound >= result.population_gained


def test_plan_rejects_bad_input(conn: Connection) -> None:
    run = run_coverage(conn, MODEL, CoverageRequest(roles=("community_police",), resolution=8))
    cases: list[tuple[dict[str, Any], str]] = [
        ({"add": 0}, "add"),
        ({"add": 2, "role": "volunteer"}, "role"),
        ({"add": 2, "role": "astronaut"}, "role"),
        ({"add": 2, "candidates": []}, "candidates"),
        ({"add": 2, "candidates": [[117.6, 24.5], [117.6]]}, "candidates[1]"),
        ({"add": 2, "candidates": [[117.6, 24.5], [500.0, 24.5]]}, "candidates[1]"),
    ]
    for kwargs, field in cases:
        kwargs.setdefault("role", "community_police")
        with pytest.raises(InvalidInput) as caught:
            plan_posts(conn, MODEL, run_id=run.id, **kwargs)
        assert caught.value.field == field, kwargs
    other_model = StraightLineEta(urban_speed_kmh=30.0)
    with pytest.raises(Conflict):
        plan_posts(conn, other_model, run_id=run.id, add=1, role="community_police")
