"""Request and response models of the HTTP API (documented in OpenAPI)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

AreaLevel = Literal["city", "county", "township", "grid"]


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
