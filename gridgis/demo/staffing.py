"""Modelled staff and facilities: stations, the 2+N teams, volunteers, with homes and skills."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from gridgis import crs
from gridgis.demo import counties as cty
from gridgis.demo.model import (
    _FACILITY_COLUMNS,
    _KX,
    _M_PER_UNIT,
    _SKILLS,
    _STATUS_P,
    COMMUNITY_POLICE,
    PARTY_CADRES,
    PEOPLE_PER_GRID_WORKER,
    POLICE_STATIONS,
    RESPONDER_COLUMNS,
    FloatArray,
    ProgressFn,
    _contains_xy,
    _Grid,
    _normalise_assignments,
    _normalise_facilities,
    _normalise_responders,
    _rng,
    _round7,
    _scaled,
    _short_name,
    _Township,
)
from gridgis.demo.names import modelled_names
from gridgis.demo.populations import largest_remainder
from gridgis.vocabulary import RESPONDER_STATUSES


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
    cols: dict[str, list[Any]] = {c: [] for c in RESPONDER_COLUMNS}
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
