"""The domain's words, spelled once: models, schemas, queries and the demo derive from here."""

from __future__ import annotations

from typing import Literal, get_args

# The area hierarchy, top down: each level's parent is the one before it.
AreaLevel = Literal["city", "county", "township", "grid"]
AREA_LEVELS: tuple[AreaLevel, ...] = get_args(AreaLevel)
PARENT_LEVEL: dict[str, AreaLevel] = dict(zip(AREA_LEVELS[1:], AREA_LEVELS, strict=False))
AREA_KINDS = ("city", "district", "county", "street", "town", "township", "community", "village")
# The kind of an urban grid (a residents' community, not a village), as the KPIs count them.
URBAN_GRID_KIND = "community"

ResponderStatus = Literal["available", "busy", "off_duty"]
RESPONDER_STATUSES: tuple[ResponderStatus, ...] = get_args(ResponderStatus)
# A dispatch claims only an available responder (-> busy); a closed incident releases them.
AVAILABLE: ResponderStatus = "available"
BUSY: ResponderStatus = "busy"

# Where dispatch places a responder: their fresh live fix, else their home base.
PositionSource = Literal["live", "home"]
LIVE: PositionSource = "live"
HOME: PositionSource = "home"

FacilityType = Literal["police_station", "mediation_centre", "service_station"]
FACILITY_TYPES: tuple[FacilityType, ...] = get_args(FacilityType)

# mediated / mediation_failed: a matter diverted to people's mediation, after its outcome.
IncidentStatus = Literal[
    "open",
    "dispatched",
    "on_scene",
    "resolved",
    "referred",
    "mediated",
    "mediation_failed",
    "closed",
]
INCIDENT_STATUSES: tuple[IncidentStatus, ...] = get_args(IncidentStatus)
OPEN: IncidentStatus = "open"
CLOSED: IncidentStatus = "closed"
# mediated_success / mediated_failed: the outcome of a matter diverted to people's mediation
# (its third outcome, passing the matter on, is `referred` after a mediator was sent).
EventType = Literal[
    "dispatched", "arrived", "resolved", "referred", "mediated_success", "mediated_failed", "closed"
]
INCIDENT_EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)
MEDIATION_OUTCOMES: tuple[EventType, ...] = ("mediated_success", "mediated_failed")
DISPATCHED: EventType = "dispatched"
ARRIVED: EventType = "arrived"
RESOLVED: EventType = "resolved"
REFERRED: EventType = "referred"
MEDIATED_SUCCESS: EventType = "mediated_success"
MEDIATED_FAILED: EventType = "mediated_failed"

CoverageRunStatus = Literal["running", "done", "failed"]
COVERAGE_RUN_STATUSES: tuple[CoverageRunStatus, ...] = get_args(CoverageRunStatus)

# The coordinate systems a caller may give points in (gridgis.crs converts them).
CrsName = Literal["wgs84", "gcj02", "bd09"]
INPUT_CRS: tuple[CrsName, ...] = get_args(CrsName)

KeyRole = Literal["dispatcher", "system", "planner", "admin"]
KEY_ROLES: tuple[KeyRole, ...] = get_args(KeyRole)
# People sign in to the console with one of these; "system" is for machines (API keys only).
UserRole = Literal["dispatcher", "planner", "admin"]
USER_ROLES: tuple[UserRole, ...] = get_args(UserRole)

# Seeded into the `roles` table by the first migration; new roles are rows, not code (a grid's
# team is listed in roles.team_order).
ROLES: dict[str, tuple[str, str]] = {
    "grid_worker": ("网格员", "Grid worker"),
    "community_police": ("社区民警", "Community police officer"),
    "party_cadre": ("党员干部", "Party cadre"),
    "mediator": ("人民调解员", "People's mediator"),
    "volunteer": ("志愿者", "Volunteer"),
    "police_unit": ("巡逻警力", "Police patrol unit"),
}
# The role whose dispatch counts an incident as diverted to mediation (KPIs).
MEDIATOR = "mediator"

# Volunteer patrols and cadres' service posts (gridgis/workflows).
PatrolTaskStatus = Literal["open", "cancelled"]  # as stored
PATROL_TASK_STATUSES: tuple[PatrolTaskStatus, ...] = get_args(PatrolTaskStatus)
# As answered: a stored open task is full, underway or ended by its claims and the clock.
PatrolTaskState = Literal["open", "full", "underway", "ended", "cancelled"]
PATROL_TASK_STATES: tuple[PatrolTaskState, ...] = get_args(PatrolTaskState)
PatrolAreaKind = Literal["grids", "polygon", "route"]
PATROL_AREA_KINDS: tuple[PatrolAreaKind, ...] = get_args(PatrolAreaKind)
# A claim cancelled after the deadline is a no-show; so is one never checked in.
PatrolClaimStatus = Literal["active", "cancelled", "no_show"]
PATROL_CLAIM_STATUSES: tuple[PatrolClaimStatus, ...] = get_args(PatrolClaimStatus)
ServicePostClaimStatus = Literal["active", "released"]
SERVICE_POST_CLAIM_STATUSES: tuple[ServicePostClaimStatus, ...] = get_args(ServicePostClaimStatus)
ACTIVE_CLAIM = "active"
# Why a claim or check-in was refused (the `error` of a 409).
ClaimRefusal = Literal[
    "full",
    "overlap",
    "closed",
    "role",
    "limit",
    "checked_in",
    "not_checked_in",
    "outside_area",
    "outside_window",
]
PatrolLevel = Literal["grid", "township", "county"]
PostCoverageLevel = Literal["township", "county"]
# Who may hold a service post, and who a patrol's role requirement usually names.
CADRE_ROLE = "party_cadre"

# Road networks (gridgis/roads): the travel profiles a network is built for, and what set an
# edge's speed (its maxspeed tag, the speed table, or the table's fallback for an unknown class).
RoadProfile = Literal["car", "motorcycle", "foot"]
ROAD_PROFILES: tuple[RoadProfile, ...] = get_args(RoadProfile)
SpeedSource = Literal["maxspeed", "table", "fallback"]
SPEED_SOURCES: tuple[SpeedSource, ...] = get_args(SpeedSource)
