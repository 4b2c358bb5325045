"""Response models of the road routes (`GET /v1/routes`), for the OpenAPI document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from api.schemas import UtcDatetime
from gridgis.vocabulary import PositionSource
from gridgis.vocabulary import ResponderStatus as StatusName


class RouteGeometry(BaseModel):
    type: Literal["LineString"] = "LineString"
    coordinates: list[list[float]] = Field(
        description="[lon, lat] in WGS84, from the responder's position to the call"
    )


class RouteProperties(BaseModel):
    responder_id: int
    name: str
    role: str
    status: StatusName
    position_source: PositionSource = Field(description="live (a fresh fix) or home")
    recorded_at: UtcDatetime | None = Field(description="Time of the live fix; null for home")
    eta_s: float = Field(description="The ETA the model in force gives (as nearest does)")
    within_target: bool
    priced_by: str = Field(description="The model that priced eta_s (road_v1, straight_line_v1)")
    path: Literal["road", "straight_line"] = Field(
        description="road: the fastest path on the network, with the legs to and from the "
        "road; straight_line: the line the straight-line model prices"
    )
    network_id: int | None = Field(description="The road network of a road path, else null")
    length_m: float = Field(description="Length of the geometry on the WGS84 ellipsoid, metres")
    distance_m: float = Field(description="Geodesic distance responder -> call, metres")


class RouteFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: int = Field(description="The responder's id")
    geometry: RouteGeometry
    properties: RouteProperties


class RoutesPublic(BaseModel):
    """One feature per responder named, in the order named."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    query: dict[str, Any] = Field(
        description="The call point (WGS84, received_crs), responder_ids, setting and the "
        "ETA model's parameters (eta_model; network_id for the road model)"
    )
    features: list[RouteFeature]
