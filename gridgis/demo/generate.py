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

from collections import defaultdict
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from gridgis.demo import counties as cty
from gridgis.demo.files import read_demo, write_demo
from gridgis.demo.model import (
    COMMUNITY_POLICE,
    COUNTY_SEAT_TOWNS,
    PARTY_CADRES,
    POLICE_STATIONS,
    TOTAL_GRIDS,
    DemoData,
    ProgressFn,
    _areas_frame,
    _Township,
    _township_class,
    _township_kind,
)
from gridgis.demo.populations import (
    _allocate_townships,
    _finish_grids,
    county_grid_allocation,
    largest_remainder,
)
from gridgis.demo.staffing import _facilities, _responders
from gridgis.demo.tessellation import (
    _sample_generators,
    _seat_rows,
    _split_grids,
    _split_townships,
    seat_adjustments,
)

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
