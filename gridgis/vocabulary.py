"""The domain's words, spelled once: models, schemas, queries and the demo derive from here."""

from __future__ import annotations

from typing import Literal, get_args

# The area hierarchy, top down: each level's parent is the one before it.
AreaLevel = Literal["city", "county", "township", "grid"]
AREA_LEVELS: tuple[AreaLevel, ...] = get_args(AreaLevel)
PARENT_LEVEL: dict[str, AreaLevel] = dict(zip(AREA_LEVELS[1:], AREA_LEVELS, strict=False))
AREA_KINDS = ("city", "district", "county", "street", "town", "township", "community", "village")

ResponderStatus = Literal["available", "busy", "off_duty"]
RESPONDER_STATUSES: tuple[ResponderStatus, ...] = get_args(ResponderStatus)
# A dispatch claims only an available responder (-> busy); a closed incident releases them.
AVAILABLE: ResponderStatus = "available"
BUSY: ResponderStatus = "busy"

# Where dispatch places a responder: their fresh live fix, else their home base.
PositionSource = Literal["live", "home"]

FacilityType = Literal["police_station", "mediation_centre", "service_station"]
FACILITY_TYPES: tuple[FacilityType, ...] = get_args(FacilityType)

IncidentStatus = Literal["open", "dispatched", "on_scene", "resolved", "referred", "closed"]
INCIDENT_STATUSES: tuple[IncidentStatus, ...] = get_args(IncidentStatus)
EventType = Literal["dispatched", "arrived", "resolved", "referred", "closed"]
INCIDENT_EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)

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

# Road networks (gridgis/roads): the travel profiles a network is built for, and what set an
# edge's speed (its maxspeed tag, the speed table, or the table's fallback for an unknown class).
RoadProfile = Literal["car", "motorcycle", "foot"]
ROAD_PROFILES: tuple[RoadProfile, ...] = get_args(RoadProfile)
SpeedSource = Literal["maxspeed", "table", "fallback"]
SPEED_SOURCES: tuple[SpeedSource, ...] = get_args(SpeedSource)
