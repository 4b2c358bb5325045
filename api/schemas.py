"""Request and response models of the HTTP API (documented in OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from api.params import BodyCrs, Text, TextList
from gridgis.times import normalise_times, rfc3339
from gridgis.vocabulary import AVAILABLE, AreaLevel, PositionSource
from gridgis.vocabulary import ResponderStatus as StatusName

# Every time in every answer: RFC 3339 in UTC with `Z` (one serializer for every response model).
UtcDatetime = Annotated[
    datetime,
    PlainSerializer(rfc3339, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
# Free-form JSON that may hold times (stored reports, audit values): the same format inside.
JsonObject = Annotated[dict[str, Any], PlainSerializer(normalise_times)]


class ErrorPublic(BaseModel):
    """Every error response."""

    error: str = Field(description="Machine-readable error code, e.g. invalid_input, not_found.")
    message: str
    field: str | None = Field(default=None, description="The request field at fault, if any.")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a route whose errors are plain ErrorPublic bodies."""
    return {status: {"model": ErrorPublic} for status in statuses}


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

    query: dict[str, Any] = Field(
        description="The point in WGS84 (lon, lat, crs) and the CRS it was sent in (received_crs)"
    )
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
    recorded_at: UtcDatetime | None = Field(description="Time of the live fix; null for home base")
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
    home_grid_code: str | None = Field(description="The responder's home grid")
    grid_code: str | None = Field(
        deprecated=True, description="Deprecated alias of home_grid_code (one more release)"
    )
    team: bool = Field(description="True when the responder belongs to the call grid's team")
    priced_by: str = Field(
        description="The model that priced eta_s: the one in force (query.eta_model.name), or "
        "straight_line_v1 for a position farther than the road model's snapping limit from "
        "every road"
    )


class NearestGrid(BaseModel):
    code: str
    name: str
    kind: str


class NearestPublic(BaseModel):
    """The call's grid and at most `n` responders, sorted by eta_s, distance_m, responder_id.

    With prefer=team the grid's own team comes first (team=true, in that order), then the
    nearest others (in that order); `n` caps the whole answer."""

    query: dict[str, Any]
    grid: NearestGrid | None = Field(description="Null when the call is outside every grid")
    results: list[NearestResult]


class PositionIn(BaseModel):
    """One position fix. Coordinates in `crs` (default WGS84); stored as WGS84."""

    model_config = ConfigDict(extra="forbid")

    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    recorded_at: AwareDatetime
    crs: BodyCrs = "wgs84"


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
    crs: BodyCrs = "wgs84"


class ResponderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=200)
    role: Text = Field(min_length=1, max_length=32, description="A role code, e.g. volunteer")
    home: HomeIn
    skills: TextList = Field(default_factory=list, max_length=32)
    status: StatusName = AVAILABLE
    ref: Text | None = Field(
        default=None, min_length=1, max_length=64, description="Your stable reference"
    )
    station_code: Text | None = Field(default=None, max_length=32)


class ResponderUpdate(BaseModel):
    """Only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    name: Text | None = Field(default=None, min_length=1, max_length=200)
    role: Text | None = Field(default=None, min_length=1, max_length=32)
    status: StatusName | None = None
    skills: TextList | None = Field(default=None, max_length=32)
    home: HomeIn | None = None
    station_code: Text | None = Field(default=None, max_length=32)


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
    recorded_at: UtcDatetime | None
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
