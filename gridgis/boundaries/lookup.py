"""Point -> grid lookup with the grid's hierarchy and its "2+N" team."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gridgis.boundaries import sql as boundaries_sql
from gridgis.db import Executor
from gridgis.errors import OutsideCoverage
from gridgis.validation import check_lon_lat


@dataclass(frozen=True)
class LocateResult:
    """The grid responsible for a point."""

    generation: int
    grid: dict[str, Any]
    hierarchy: list[dict[str, str]]
    team: list[dict[str, Any]]
    also: list[dict[str, Any]] = field(default_factory=list)


def locate(
    db: Executor, lon: float, lat: float, *, generation: int | None = None, with_team: bool = True
) -> LocateResult:
    """Find the grid containing (lon, lat) (WGS84).

    A point on an edge or vertex shared by several grids belongs to the grid with the lowest
    code (codes are stable statistical codes, so the rule is deterministic and reproducible);
    the other grids are listed in `also`.
    """
    lon, lat = check_lon_lat(lon, lat)
    grids = boundaries_sql.grids_at_point(db, generation, lon, lat)
    if not grids:
        # Only a miss pays for telling "no such generation" from "outside every grid".
        generation_id = boundaries_sql.resolve_generation_id(db, generation)
        raise OutsideCoverage(
            f"The point ({lon:.6f}, {lat:.6f}) lies outside every grid of generation "
            f"{generation_id}."
        )
    chosen, others = grids[0], grids[1:]
    generation_id = chosen.generation_id
    grid = {"code": chosen.code, "name": chosen.name, "level": chosen.level, "kind": chosen.kind}
    return LocateResult(
        generation=generation_id,
        grid=grid,
        hierarchy=boundaries_sql.ancestors(db, generation_id, chosen.code),
        team=boundaries_sql.grid_team(db, chosen.code) if with_team else [],
        also=[{"code": g.code, "name": g.name, "kind": g.kind} for g in others],
    )
