"""Request and response models of boundary imports and generations."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from api.schemas import AreaLevel, JsonObject, UtcDatetime

Check = Literal[
    "invalid",
    "empty",
    "missing_code",
    "duplicate_code",
    "missing_parent",
    "overlap",
    "sliver",
    "gap",
    "outside_parent",
    "crs",
]


class FindingPublic(BaseModel):
    """One QA finding, located."""

    check: Check
    codes: list[str] = Field(description="Areas involved (for gaps: the parent)")
    area_m2: float | None = Field(description="Geodesic area of the defect (WGS84 ellipsoid)")
    point: list[float] | None = Field(description="[lon, lat] inside the defect (WGS84)")
    geometry: dict[str, Any] | None = Field(description="The defect as GeoJSON (WGS84)")
    message: str


class StaffPublic(BaseModel):
    responder_id: int
    name: str
    duty: str


class RemovedGridPublic(BaseModel):
    """A grid of the base generation missing from the new one, with its team."""

    code: str
    name: str
    staff: list[StaffPublic]


class ImportReportPublic(BaseModel):
    """The QA report of an import: errors block activation (unless forced), warnings never."""

    generation: int | None = Field(description="The staged generation (null: nothing staged)")
    base_generation: int | None = Field(description="Where the other levels were copied from")
    level: AreaLevel
    source: str
    features_read: int
    features_staged: int
    activated: bool
    areas: dict[str, int] = Field(default_factory=dict, description="Areas per level staged")
    errors: list[FindingPublic]
    warnings: list[FindingPublic]
    removed_grids: list[RemovedGridPublic]
    road_pricing: str | None = Field(
        default=None,
        description="Set when the import activated the generation and the active road "
        "network's speeds were set by another generation's grids.",
    )


class GenerationPublic(BaseModel):
    """A boundary generation: staged (never active), active, or retired."""

    id: int
    label: str
    source: str
    status: Literal["staged", "active", "retired"]
    created_at: UtcDatetime
    activated_at: UtcDatetime | None
    imported_level: str | None
    errors: int
    warnings: int
    areas: dict[str, int]


class GenerationListPublic(BaseModel):
    generations: list[GenerationPublic]


class GenerationDetailPublic(GenerationPublic):
    report: JsonObject | None = Field(description="The stored QA report (null for the demo)")


class ActivationPublic(BaseModel):
    active: int
    previous: int | None
    changed: bool
    road_pricing: str | None = Field(
        default=None,
        description="Set when the activation changed the generation and the active road "
        "network's speeds were set by another generation's urban and rural grids: reprice it "
        "(POST /v1/road-networks/{id}/reprice).",
    )
