"""Request and response models of the incidents and KPI endpoints (documented in OpenAPI)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.params import BigId, BodyCrs, Text
from api.schemas import UtcDatetime
from gridgis.vocabulary import AreaLevel, CrsName, EventType, IncidentStatus


class IncidentCreate(BaseModel):
    """An incident as a dispatch system reports it."""

    model_config = ConfigDict(extra="forbid")

    external_id: Text = Field(
        min_length=1,
        max_length=100,
        pattern=r"^\S(.*\S)?$",
        description="The sender's id for the incident. Posting the same id again returns the "
        "stored incident (200) instead of creating a duplicate; the same id with different "
        "content is a 409.",
        examples=["110-20261126-000123"],
    )
    category: Text = Field(
        min_length=1,
        max_length=32,
        description="A code from GET /v1/incident-categories, e.g. neighbour_dispute.",
    )
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False, description="Longitude in `crs`")
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, description="Latitude in `crs`")
    crs: BodyCrs = "wgs84"
    reported_at: AwareDatetime = Field(
        description="When the incident was reported, with a time zone; at most 5 minutes ahead "
        "of the server clock."
    )
    description: Text = Field(default="", max_length=4000)


class EventCreate(BaseModel):
    """One step of handling an incident."""

    model_config = ConfigDict(extra="forbid")

    type: EventType = Field(
        description="dispatched and arrived need responder_id; resolved (on site) needs an "
        "arrival; closed needs resolved or referred; nothing follows closed."
    )
    at: AwareDatetime = Field(
        description="When it happened, with a time zone: not before the incident was reported "
        "nor before the previous event."
    )
    responder_id: BigId | None = None
    note: Text = Field(default="", max_length=2000)


class CategoryPublic(BaseModel):
    code: str
    name_zh: str
    name_en: str
    police_matter: bool
    primary_roles: list[str]
    fallback_roles: list[str]
    prefer_team: bool
    divert_to_mediation: bool


class CategoryListPublic(BaseModel):
    categories: list[CategoryPublic]


class IncidentCategoryRef(BaseModel):
    code: str
    name_zh: str
    name_en: str
    police_matter: bool


class IncidentGrid(BaseModel):
    code: str
    name: str | None
    kind: str | None = Field(description="community (社区, urban) or village (村, rural)")


class InputPoint(BaseModel):
    crs: CrsName
    lon: float
    lat: float


class RecommendedResponder(BaseModel):
    rank: int
    responder_id: int
    name: str
    role: str
    tier: Literal["primary", "fallback"] = Field(
        description="primary: the category's primary roles; fallback: its fallback roles, "
        "offered when the primary ones are fewer than asked or none meets the ETA target"
    )
    team: bool = Field(description="Member of the incident grid's 2+N team")
    distance_m: float
    eta_s: float
    within_target: bool
    position_source: str = Field(description="live (a fresh fix) or home")
    priced_by: str | None = Field(
        default=None, description="The ETA model that priced this responder (road_v1 falls back)"
    )


class RecommendationPublic(BaseModel):
    """What was recommended at intake (a snapshot, never recomputed)."""

    at: UtcDatetime | None = None
    eta_model: str | None = None
    target_s: float | None = None
    setting: str | None = None
    responders: list[RecommendedResponder] = Field(default_factory=list)


class EventPublic(BaseModel):
    seq: int
    type: EventType
    responder_id: int | None
    responder_role: str | None
    at: UtcDatetime
    note: str
    recorded_at: UtcDatetime


class IncidentSummary(BaseModel):
    id: int
    external_id: str
    category: IncidentCategoryRef
    description: str
    reported_at: UtcDatetime
    received_at: UtcDatetime
    lon: float = Field(description="WGS84 longitude (converted from `input` at intake)")
    lat: float = Field(description="WGS84 latitude (converted from `input` at intake)")
    input: InputPoint = Field(description="The coordinates exactly as sent")
    grid: IncidentGrid | None = Field(description="The grid at intake; null outside every grid")
    generation: int | None
    status: IncidentStatus
    source: str
    updated_at: UtcDatetime


class IncidentPublic(IncidentSummary):
    """An incident with what was recommended at intake and its full timeline, in order."""

    recommendation: RecommendationPublic
    timeline: list[EventPublic]


class IncidentListPublic(BaseModel):
    incidents: list[IncidentSummary]
    next: str | None = Field(description="URL of the next page; null on the last page")


class KpiRowPublic(BaseModel):
    level: AreaLevel | Literal["outside"]
    code: str | None
    name: str | None
    parent_code: str | None
    incidents: int
    attended: int = Field(description="Incidents with at least one arrival")
    within_target: int = Field(description="Attended with first arrival - reported_at <= target")
    within_target_rate: float | None = Field(description="within_target / attended")
    urban_attended: int = Field(description="Attended incidents in community (urban) grids")
    urban_within_target: int
    urban_within_target_rate: float | None
    median_response_s: float | None
    p90_response_s: float | None
    non_police: int = Field(description="Incidents of non-police categories")
    diverted: int = Field(
        description="Non-police incidents of a diverting category with a mediator dispatched "
        "or a referral"
    )
    diverted_share: float | None = Field(description="diverted / non_police")
    resolved_on_site: int = Field(description="Attended incidents resolved on site")
    resolved_on_site_share: float | None = Field(description="resolved_on_site / attended")
    mediation_outcomes: int = Field(
        description="Diverted non-police matters with a mediation outcome: mediated_success, "
        "mediated_failed, or referred after a mediator was dispatched"
    )
    mediated_success: int = Field(description="Diverted matters settled by mediation")
    mediation_success_rate: float | None = Field(
        description="mediated_success / mediation_outcomes (published: 80 %)"
    )
    non_police_attended: int = Field(description="Non-police incidents with an arrival")
    settled_on_spot: int = Field(
        description="Attended non-police matters resolved on site or settled by mediation "
        "after an arrival"
    )
    settled_on_spot_rate: float | None = Field(
        description="settled_on_spot / non_police_attended (published: 93.2 %)"
    )
    closed: int = Field(description="Closed incidents")
    followed_up: int = Field(description="Closed incidents with a follow-up call recorded")
    follow_up_reached: int = Field(description="Closed incidents whose reporter was reached")
    follow_up_reach_rate: float | None = Field(
        description="follow_up_reached / closed (published: every case followed up, 100 %)"
    )
    follow_up_answered: int = Field(description="Reached reporters who said if satisfied")
    follow_up_satisfied: int = Field(description="Reached reporters who were satisfied")
    follow_up_satisfaction_rate: float | None = Field(
        description="follow_up_satisfied / follow_up_answered (published: 100 %)"
    )


class PublishedFigurePublic(BaseModel):
    rate: float = Field(description="The city's published rate (0-1)")
    source: str = Field(description="Where the figure comes from")


class KpiReportPublic(BaseModel):
    start: UtcDatetime = Field(serialization_alias="from")
    end: UtcDatetime = Field(serialization_alias="to")
    target_s: float
    area: str | None
    generation: int
    areas: list[KpiRowPublic]
    outside_grids: KpiRowPublic | None = Field(
        description="Incidents outside every grid (only when no area is asked for)"
    )
    published: dict[str, PublishedFigurePublic] = Field(
        description="The city's published figures, keyed by the rate they stand beside"
    )
