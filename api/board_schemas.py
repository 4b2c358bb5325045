"""Response models of the dispatch-board endpoints: area search, outlines, summary, queue,
responders in view (documented in OpenAPI)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from api.incident_schemas import IncidentCategoryRef, IncidentGrid
from api.schemas import UtcDatetime
from gridgis.vocabulary import AreaLevel, IncidentStatus, PositionSource, ResponderStatus


class LonLat(BaseModel):
    lon: float
    lat: float


class AreaMatch(BaseModel):
    code: str
    name: str
    level: AreaLevel
    kind: str
    parent_code: str | None
    parent_name: str | None
    population: int
    generation: int
    point: LonLat = Field(description="A point inside the area (WGS84), e.g. to centre a map")
    bbox: list[float] = Field(description="west, south, east, north (WGS84)")
    match: Literal["exact", "prefix", "substring"]


class AreaSearchPublic(BaseModel):
    query: str
    areas: list[AreaMatch]


class OutlineFeature(BaseModel):
    type: Literal["Feature"]
    geometry: dict[str, Any]
    properties: dict[str, Any]


class OutlineCollection(BaseModel):
    """A level's areas simplified to about one map pixel at `zoom` (WGS84)."""

    type: Literal["FeatureCollection"]
    generation: int
    level: AreaLevel
    zoom: int
    tolerance_deg: float = Field(description="The simplification tolerance used, in degrees")
    features: list[OutlineFeature]


class RoleCount(BaseModel):
    role: str
    name_zh: str
    name_en: str
    available: int
    busy: int
    off_duty: int


class SummaryPublic(BaseModel):
    open_incidents: int = Field(description="Incidents not yet closed")
    open_by_status: dict[str, int]
    responders: list[RoleCount] = Field(description="Every role, with counts by status")


class QueueItem(BaseModel):
    id: int
    external_id: str
    category: IncidentCategoryRef
    description: str
    reported_at: UtcDatetime
    received_at: UtcDatetime
    lon: float
    lat: float
    grid: IncidentGrid | None
    status: IncidentStatus
    source: str
    updated_at: UtcDatetime
    top: dict[str, Any] | None = Field(
        description="The first recommended responder of the intake snapshot (null if none)"
    )
    dispatched: list[int] = Field(description="Responders dispatched to it so far")


class QueuePublic(BaseModel):
    incidents: list[QueueItem]
    total: int = Field(description="Incidents not yet closed (the list may be cut at `limit`)")


class PlacedPosition(BaseModel):
    lon: float
    lat: float
    source: PositionSource
    recorded_at: UtcDatetime | None


class ResponderInView(BaseModel):
    id: int
    name: str
    role: str
    status: ResponderStatus
    home_grid_code: str | None
    position: PlacedPosition


class ResponderViewPublic(BaseModel):
    responders: list[ResponderInView]
    truncated: bool = Field(description="More responders are in view than `limit`")
