"""Routes from responders to a call under the ETA model in force: the road path on the active
network for a responder the road model prices, a straight line otherwise, each with its ETA
priced as dispatch prices it (same positions, same setting, same model)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
from pyproj import Geod
from sqlalchemy.orm import Session

from gridgis.boundaries import sql as boundaries_sql
from gridgis.dispatch.eta import EtaModel, FloatArray, Setting, geodesic_m, setting_of_kind
from gridgis.dispatch.responders import list_responders
from gridgis.errors import InvalidInput, NotFound
from gridgis.roads.model import RoadEta
from gridgis.validation import check_lon_lat

MAX_ROUTES = 20
_GEOD = Geod(ellps="WGS84")

PathKind = Literal["road", "straight_line"]


@dataclass(frozen=True)
class ResponderRoute:
    """The way one responder would go to the call, from where dispatch places them now."""

    responder_id: int
    name: str
    role: str
    status: str
    lon: float
    lat: float
    recorded_at: datetime | None
    source: str
    eta_s: float
    within_target: bool
    priced_by: str
    path: PathKind
    network_id: int | None
    coordinates: FloatArray  # (lon, lat) rows, from the responder's position to the call
    length_m: float  # along the coordinates, on the ellipsoid
    distance_m: float  # straight line, responder to call


@dataclass(frozen=True)
class RoutesAnswer:
    lon: float
    lat: float
    setting: Setting
    routes: list[ResponderRoute]


def path_length_m(coordinates: FloatArray) -> float:
    """Geodesic length of a (lon, lat) polyline."""
    if len(coordinates) < 2:
        return 0.0
    return float(_GEOD.line_length(coordinates[:, 0], coordinates[:, 1]))


def check_responder_ids(ids: Sequence[int]) -> list[int]:
    """The ids without repeats, in the order given (1 to MAX_ROUTES of them)."""
    unique = list(dict.fromkeys(ids))
    if not 1 <= len(unique) <= MAX_ROUTES:
        raise InvalidInput(
            f"Name between 1 and {MAX_ROUTES} responders, got {len(unique)}.",
            field="responder_ids",
        )
    return unique


def responder_routes(
    db: Session,
    lon: float,
    lat: float,
    responder_ids: Sequence[int],
    model: EtaModel,
    *,
    stale_after_s: float = 900.0,
    now: datetime | None = None,
) -> RoutesAnswer:
    """Each named responder's route to (lon, lat), in the order named.

    A responder the road model prices gets the road path (joining legs included); one priced
    by the straight-line model (that model in force, or a position too far from any road)
    gets the straight line its ETA assumes."""
    lon, lat = check_lon_lat(lon, lat)
    ids = check_responder_ids(responder_ids)
    page = list_responders(db, ids=ids, limit=len(ids), stale_after_s=stale_after_s, now=now)
    found = {int(row["id"]): row for row in page.items}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(
            f"No responder with id {', '.join(map(str, missing))}.", field="responder_ids"
        )
    rows = [found[i] for i in ids]
    grids = boundaries_sql.grids_at_point(db, None, lon, lat)
    setting = setting_of_kind(grids[0].kind if grids else None)
    lons = np.asarray([float(r["lon"]) for r in rows])
    lats = np.asarray([float(r["lat"]) for r in rows])
    distance = geodesic_m(lon, lat, lons, lats)
    priced = model.etas_to(lon, lat, lons, lats, setting, distance_m=distance)
    by_road = np.asarray(priced.priced_by) == model.name
    road_paths: list[FloatArray | None] = [None] * len(rows)
    if isinstance(model, RoadEta) and by_road.any():
        found_paths = model.routes(lon, lat, lons[by_road], lats[by_road])
        for k, found_path in zip(np.flatnonzero(by_road).tolist(), found_paths, strict=True):
            road_paths[k] = found_path
    routes = []
    for k, row in enumerate(rows):
        by = str(priced.priced_by[k])
        coordinates = road_paths[k]
        network_id = model.engine.network_id if isinstance(model, RoadEta) and by_road[k] else None
        path: PathKind = "road" if coordinates is not None else "straight_line"
        if coordinates is None:
            coordinates = np.array([[lons[k], lats[k]], [lon, lat]])
        eta = round(float(priced.eta_s[k]), 1)
        routes.append(
            ResponderRoute(
                responder_id=int(row["id"]),
                name=row["name"],
                role=row["role"],
                status=row["status"],
                lon=float(lons[k]),
                lat=float(lats[k]),
                recorded_at=row["recorded_at"],
                source=row["position_source"],
                eta_s=eta,
                within_target=bool(priced.eta_s[k] <= model.target_s),
                priced_by=by,
                path=path,
                network_id=network_id,
                coordinates=coordinates,
                length_m=round(path_length_m(coordinates), 1),
                distance_m=round(float(distance[k]), 1),
            )
        )
    return RoutesAnswer(lon, lat, setting, routes)
