"""Request and response models of units, patrol tasks and cadres' service posts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from api.params import BigId, BodyCrs, Text
from api.schemas import UtcDatetime
from gridgis.vocabulary import (
    PatrolAreaKind,
    PatrolClaimStatus,
    PatrolLevel,
    PatrolTaskState,
    PostCoverageLevel,
    ServicePostClaimStatus,
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UnitCreate(Strict):
    name: Text = Field(min_length=1, max_length=200, examples=["漳州市第一中学"])
    contact: Text = Field(min_length=1, max_length=200, examples=["林老师 0596-1234567"])
    grid_code: str = Field(pattern=r"^[0-9]{12}$", description="The unit's home grid")


class UnitPublic(BaseModel):
    id: int
    name: str
    contact: str
    grid_code: str
    created_at: UtcDatetime


class UnitListPublic(BaseModel):
    units: list[UnitPublic]
    next: str | None = Field(description="The next page's URL, null on the last page")


class PatrolCreate(Strict):
    """A patrol task: the area is grid codes or a drawn GeoJSON polygon or route (WGS84)."""

    unit_id: BigId
    grid_codes: list[Annotated[str, Field(pattern=r"^[0-9]{12}$")]] | None = Field(
        default=None, min_length=1, max_length=50
    )
    area: dict[str, Any] | None = Field(
        default=None,
        description="GeoJSON Polygon, MultiPolygon, LineString or MultiLineString in WGS84; "
        "it must lie within the city",
    )
    start: AwareDatetime = Field(description="RFC 3339 with an offset; in the future")
    end: AwareDatetime = Field(
        description="After start; a patrol lasts at most GRIDGIS_PATROL_MAX_DURATION_H hours"
    )
    slots: Annotated[StrictInt, Field(ge=1, le=100)] = Field(description="How many volunteers")
    title: Text = Field(default="", max_length=200)
    required_role: Text | None = Field(
        default=None, max_length=32, description="Only responders of this role may grab it"
    )


class Point(BaseModel):
    lon: float
    lat: float
    crs: Literal["wgs84"] = "wgs84"


class ClaimPublic(BaseModel):
    id: int
    task_id: int
    responder_id: int
    responder_name: str | None = None
    slot_no: int
    status: PatrolClaimStatus = Field(
        description="no_show: cancelled after the deadline (GRIDGIS_PATROL_CANCEL_DEADLINE_H)"
    )
    claimed_at: UtcDatetime
    ended_at: UtcDatetime | None
    checked_in_at: UtcDatetime | None
    check_in: Point | None
    checked_out_at: UtcDatetime | None
    check_out: Point | None


class UnitRef(BaseModel):
    id: int
    name: str


class PatrolPublic(BaseModel):
    id: int
    unit: UnitRef
    title: str
    area_kind: PatrolAreaKind
    area: dict[str, Any] = Field(description="GeoJSON geometry, WGS84")
    grid_code: str = Field(description="The grid the task's figures count in")
    grid_codes: list[str] = Field(description="Every grid the area touches")
    start: UtcDatetime
    end: UtcDatetime
    slots: int
    claimed: int
    free: int
    status: PatrolTaskState
    required_role: str | None
    created_by: str
    created_at: UtcDatetime
    cancelled_at: UtcDatetime | None
    distance_m: float | None = Field(
        default=None, description="Geodesic distance from `near` to the area (list only)"
    )
    claims: list[ClaimPublic] | None = Field(
        default=None, description="Every claim, active first (single task only)"
    )


class PatrolListPublic(BaseModel):
    patrols: list[PatrolPublic]


class ClaimCreate(Strict):
    responder_id: BigId = Field(description="The volunteer (or cadre)")


class PresenceIn(Strict):
    """A check-in or check-out position (the time is the server's)."""

    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    crs: BodyCrs = "wgs84"


class PatrolStatPublic(BaseModel):
    area_code: str
    area_name: str | None
    week: str = Field(description="ISO week in Asia/Shanghai, e.g. 2026-W48")
    tasks: int
    slots_offered: int
    slots_filled: int
    fill_rate: float | None
    patrol_hours: float
    volunteers: int = Field(description="Distinct volunteers who patrolled")
    no_shows: int


class PatrolStatsPublic(BaseModel):
    level: PatrolLevel
    start: UtcDatetime = Field(alias="from")
    end: UtcDatetime = Field(alias="to")
    rows: list[PatrolStatPublic]

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class LeaderPublic(BaseModel):
    rank: int
    id: int
    name: str
    patrol_hours: float
    tasks: int
    volunteers: int | None = None
    no_shows: int


class LeaderboardPublic(BaseModel):
    by: Literal["unit", "volunteer"]
    leaders: list[LeaderPublic]


class ServicePostCreate(Strict):
    grid_code: str = Field(pattern=r"^[0-9]{12}$")
    name: Text = Field(min_length=1, max_length=200, examples=["elderly visits"])
    description: Text = Field(default="", max_length=2000)


class CadreRef(BaseModel):
    responder_id: int
    name: str
    claimed_at: UtcDatetime


class ServicePostPublic(BaseModel):
    id: int
    grid_code: str
    name: str
    description: str
    source: str
    created_at: UtcDatetime
    cadre: CadreRef | None


class ServicePostListPublic(BaseModel):
    posts: list[ServicePostPublic]
    next: str | None


class ServicePostClaimPublic(BaseModel):
    id: int
    post_id: int
    responder_id: int
    status: ServicePostClaimStatus
    claimed_at: UtcDatetime
    ended_at: UtcDatetime | None


class PostCoverageRow(BaseModel):
    area_code: str
    area_name: str | None
    grids: int
    grids_with_posts: int
    grids_all_claimed: int
    share_all_claimed: float = Field(description="Grids whose posts are all claimed / grids")
    posts: int
    posts_claimed: int


class PostCoveragePublic(BaseModel):
    level: PostCoverageLevel
    areas: list[PostCoverageRow]
