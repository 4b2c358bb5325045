"""Request and response models of the coverage and planning endpoints (documented in OpenAPI)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.params import BigId, BodyCrs, SmallId, Text, TextList
from api.schemas import JsonObject, UtcDatetime
from gridgis.vocabulary import AVAILABLE, AreaLevel, CoverageRunStatus
from gridgis.vocabulary import ResponderStatus as Status

# What the API computes on request, sized to the city (docs/SECURITY.md, "Limits"): H3
# resolution 9 is ~0.1 km² cells (~120,000 over Zhangzhou; resolution 10 was 7x the cells,
# 22 s and 1.5 GB), k up to 5 for backup coverage, candidate sites up to 5,000 (the default is
# one per grid, 2,080) and a solver time limit of a minute. Larger studies run from the CLI.
MAX_RESOLUTION = 9
MAX_K = 5
MAX_CANDIDATES = 5_000
MAX_TIME_LIMIT_S = 60.0


class CoverageRunCreate(BaseModel):
    """What to count and how to measure it."""

    model_config = ConfigDict(extra="forbid")

    roles: TextList | None = Field(
        default=None,
        max_length=32,
        description="Roles counted (e.g. community_police); omitted or null: every role.",
        examples=[["community_police", "police_unit"]],
    )
    statuses: list[Status] = Field(
        default=[AVAILABLE], min_length=1, max_length=3, description="Statuses counted."
    )
    target_s: float | None = Field(
        default=None,
        gt=0,
        le=86_400,
        allow_inf_nan=False,
        description="Response-time target in seconds (default: GRIDGIS_ETA_TARGET_S, 300).",
    )
    eta_model: Literal["straight_line", "road"] | None = Field(
        default=None,
        description="straight_line, or road (road_v1 on the active road network); "
        "default: the model in force (GRIDGIS_ETA_MODEL).",
    )
    k: int = Field(
        default=1,
        ge=1,
        le=MAX_K,
        description="A cell is covered when at least k responders reach it within the target "
        "(2 = backup coverage).",
    )
    resolution: int = Field(
        default=9,
        ge=5,
        le=MAX_RESOLUTION,
        description="H3 resolution: 9 ≈ 0.1 km² cells (the finest the API computes), 8 for "
        "quick looks.",
    )
    client_token: str | None = Field(
        default=None,
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Any id the caller picks: `GET /v1/coverage/progress` returns it with "
        "this run's stage while it computes (only to the same caller).",
    )
    generation: SmallId | None = Field(
        default=None, description="Boundary generation (default: the active one)."
    )


class AreaCoverage(BaseModel):
    """One area's coverage."""

    code: str
    level: AreaLevel
    name: str
    parent_code: str | None
    population: float | None = Field(description="Modelled residents (sum over cells).")
    population_within_target: float | None
    population_share_within_target: float | None = Field(
        description="Share of the population reached by >= k responders within the target."
    )
    area_km2: float | None
    area_share_within_target: float | None
    eta_mean_s: float | None = Field(
        description="Population-weighted mean ETA of the nearest responder (null if some "
        "populated cell has no counted responder at all)."
    )
    eta_p90_s: float | None = Field(description="Population-weighted 90th percentile ETA.")
    eta_k_mean_s: float | None = Field(description="The same for the k-th nearest responder.")
    eta_k_p90_s: float | None
    responders: int = Field(description="Counted responders placed inside the area.")
    responders_per_10k: float | None
    cells: int


class CoverageSummary(AreaCoverage):
    """The city row plus facts about the run."""

    model_config = ConfigDict(extra="allow")

    responders_counted: int
    grids_without_cells: int
    timings_s: dict[str, float]


class CoverageRunPublic(BaseModel):
    """A stored coverage run."""

    id: int
    created_at: UtcDatetime
    status: CoverageRunStatus
    generation: int
    duration_s: float | None
    cell_count: int
    parameters: JsonObject = Field(
        description="Everything the run used, including the ETA model's parameters, the "
        "population model and how ETAs are aggregated."
    )
    summary: JsonObject = Field(description="The city row (see AreaCoverage) and run facts.")


class CoverageRunList(BaseModel):
    runs: list[CoverageRunPublic]
    next: str | None = Field(description="URL of the next (older) page, null at the end.")


class CoverageAreas(BaseModel):
    run: int
    level: AreaLevel
    areas: list[AreaCoverage]


class CellProperties(BaseModel):
    h3: str = Field(description="H3 index (hex)")
    grid_code: str = Field(
        description="The grid holding the cell's centre (per=cell), or the "
        "grid of this piece (per=piece)"
    )
    grid_codes: list[str] = Field(description="Every grid whose people are in this feature")
    eta_s: float | None = Field(description="ETA of the nearest counted responder (s)")
    eta_k_s: float | None = Field(description="ETA of the k-th nearest counted responder (s)")
    responders_within_target: int
    population: float | None


class CellFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any]
    properties: CellProperties


class CellFeatureCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[CellFeature]
    next: str | None = Field(description="URL of the next page, null at the end.")


class PlanCreate(BaseModel):
    """Where to add `add` posts of `role`."""

    model_config = ConfigDict(extra="forbid")

    run_id: BigId | None = Field(
        default=None,
        description="Plan against this stored run; when omitted a new run is computed from "
        "roles/statuses/target_s/k/resolution first.",
    )
    add: int = Field(ge=1, le=200, description="How many new posts to place.")
    role: Text = Field(default="volunteer", min_length=1, max_length=32)
    candidates: list[list[float]] | None = Field(
        default=None,
        max_length=MAX_CANDIDATES,
        description="Candidate sites as [lon, lat] in `crs`; default: every grid's "
        "point-on-surface.",
    )
    crs: BodyCrs = "wgs84"
    time_limit_s: float = Field(default=20.0, gt=0, le=MAX_TIME_LIMIT_S, allow_inf_nan=False)
    roles: TextList | None = Field(default=None, max_length=32)
    statuses: list[Status] = Field(default=[AVAILABLE], min_length=1, max_length=3)
    target_s: float | None = Field(default=None, gt=0, le=86_400, allow_inf_nan=False)
    k: int = Field(default=1, ge=1, le=MAX_K)
    resolution: int = Field(default=9, ge=5, le=MAX_RESOLUTION)
    eta_model: Literal["straight_line", "road"] | None = Field(
        default=None,
        description="For a new run (no run_id): as on POST /v1/coverage/runs. A stored run is "
        "planned by the model it was computed with.",
    )


class PlannedSitePublic(BaseModel):
    rank: int
    lon: float
    lat: float
    label: str
    grid_code: str | None
    population_gained: float


class SharesPublic(BaseModel):
    population: float
    population_within_target: float
    population_share_within_target: float | None
    area_share_within_target: float | None


class AreaChangePublic(BaseModel):
    code: str
    name: str
    level: AreaLevel
    before: SharesPublic
    after: SharesPublic


class PlanPublic(BaseModel):
    """The chosen posts and the proof of how good they are."""

    run_id: int
    add: int
    role: str
    k: int
    target_s: float
    candidates: int
    sites: list[PlannedSitePublic]
    population_gained: float
    upper_bound: float = Field(description="No choice of posts can gain more than this.")
    gap: float = Field(description="(upper_bound - population_gained) / upper_bound; 0 = optimal")
    method: str
    city: AreaChangePublic | None
    counties: list[AreaChangePublic]
    solver: dict[str, Any]
