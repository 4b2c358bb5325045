"""Request and response models of the HTTP API (documented in OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gridgis.vocabulary import AVAILABLE, AreaLevel, PositionSource
from gridgis.vocabulary import CrsName as CrsParam
from gridgis.vocabulary import ResponderStatus as StatusName


class ErrorPublic(BaseModel):
    """Every error response."""

    error: str = Field(description="Machine-readable error code, e.g. invalid_input, not_found.")
    message: str
    field: str | None = Field(default=None, description="The request field at fault, if any.")


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]
    version: str


class GridRef(BaseModel):
    code: str
    name: str
    level: AreaLevel
    kind: str = Field(description="community (社区, urban) or village (村, rural)")


class AlsoGrid(BaseModel):
    code: str
    name: str
    kind: str


class HierarchyItem(BaseModel):
    code: str
    name: str
    level: AreaLevel


class TeamMember(BaseModel):
    responder_id: int
    name: str
    role: str
    duty: str
    status: str


class LocatePublic(BaseModel):
    """The grid containing a point, its ancestors (city first) and its "2+N" team."""

    query: dict[str, float]
    generation: int
    grid: GridRef
    hierarchy: list[HierarchyItem]
    team: list[TeamMember]
    also: list[AlsoGrid] = Field(
        default_factory=list,
        description="Other grids sharing the edge or vertex the point lies on. The point is "
        "given to the grid with the lowest code.",
    )


class AreaProperties(BaseModel):
    code: str
    name: str
    level: AreaLevel
    parent_code: str | None
    kind: str
    population: int
    generation: int


class AreaFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any]
    properties: AreaProperties


class AreaFeatureCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[AreaFeature]


class AreaListPublic(BaseModel):
    areas: list[AreaProperties]


class AreaDetailPublic(AreaFeature):
    children: list[str]


# -- dispatch ------------------------------------------------------------------------------------


class PositionPublic(BaseModel):
    """Where dispatch places a responder now (WGS84)."""

    lon: float
    lat: float
    recorded_at: datetime | None = Field(description="Time of the live fix; null for home base")
    source: PositionSource


class NearestResult(BaseModel):
    responder_id: int
    name: str
    role: str
    status: StatusName
    distance_m: float = Field(description="Geodesic distance on the WGS84 ellipsoid, metres")
    eta_s: float = Field(description="Estimated time of arrival, seconds (the project ETA model)")
    within_target: bool = Field(description="eta_s <= the target (default 300 s)")
    position: PositionPublic
    grid_code: str | None = Field(description="The responder's home grid")
    team: bool = Field(description="True when the responder belongs to the call grid's team")


class NearestGrid(BaseModel):
    code: str
    name: str
    kind: str


class NearestPublic(BaseModel):
    """The call's grid and the nearest responders, sorted by eta_s, distance_m, responder_id.

    With prefer=team the grid's own team comes first (team=true), then the nearest others."""

    query: dict[str, Any]
    grid: NearestGrid | None = Field(description="Null when the call is outside every grid")
    results: list[NearestResult]


class PositionIn(BaseModel):
    """One position fix. Coordinates in `crs` (default WGS84); stored as WGS84."""

    model_config = ConfigDict(extra="forbid")

    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    recorded_at: AwareDatetime
    crs: CrsParam = "wgs84"


class PositionBatchIn(BaseModel):
    """Up to 10,000 fixes. Items are checked one by one: a bad item is reported in `rejected`
    with its index and the others are still written. Item shape:
    `{"responder_id": int, "lon": number, "lat": number, "recorded_at": ISO 8601 with zone,
    "crs": "wgs84"|"gcj02"|"bd09"}`."""

    model_config = ConfigDict(extra="forbid")

    positions: list[dict[str, Any]] = Field(max_length=10_000)


class RejectedItem(BaseModel):
    index: int
    field: str | None = None
    error: str


class IngestPublic(BaseModel):
    accepted: int = Field(description="Fixes written")
    ignored_stale: int = Field(
        description="Fixes not newer than the stored one (or a newer one in the same batch)"
    )
    rejected: list[RejectedItem]


class HomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    crs: CrsParam = "wgs84"


class ResponderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=32, description="A role code, e.g. volunteer")
    home: HomeIn
    skills: list[str] = Field(default_factory=list, max_length=32)
    status: StatusName = AVAILABLE
    ref: str | None = Field(
        default=None, min_length=1, max_length=64, description="Your stable reference"
    )
    station_code: str | None = Field(default=None, max_length=32)


class ResponderUpdate(BaseModel):
    """Only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: str | None = Field(default=None, min_length=1, max_length=32)
    status: StatusName | None = None
    skills: list[str] | None = Field(default=None, max_length=32)
    home: HomeIn | None = None
    station_code: str | None = Field(default=None, max_length=32)


class AssignmentPublic(BaseModel):
    grid_code: str
    duty: str


class ResponderPublic(BaseModel):
    responder_id: int
    ref: str
    name: str
    role: str
    status: StatusName
    skills: list[str]
    home_grid_code: str | None
    station_code: str | None
    home: dict[str, float]
    position: PositionPublic
    assignments: list[AssignmentPublic]


class ResponderListPublic(BaseModel):
    responders: list[ResponderPublic]
    next: str | None = Field(description="URL of the next page, null on the last page")


class ResponderFeatureProperties(BaseModel):
    responder_id: int
    name: str
    role: str
    status: StatusName
    position_source: PositionSource
    recorded_at: datetime | None
    home_grid_code: str | None


class ResponderFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: int
    geometry: dict[str, Any]
    properties: ResponderFeatureProperties


class ResponderFeatureCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[ResponderFeature]
    next: str | None = Field(description="URL of the next page, null on the last page")
