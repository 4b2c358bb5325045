"""Request/response models of the planners' pieces: hexagons by zoom, area tables, run
comparison, runs in progress and KPI series."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from api.coverage_schemas import AreaCoverage
from api.schemas import UtcDatetime
from gridgis.vocabulary import AreaLevel


class HexagonProperties(BaseModel):
    h3: str = Field(description="H3 index (hex) of the drawn hexagon")
    resolution: int = Field(
        description="Its H3 resolution (coarser than the run's when zoomed out)"
    )
    cells: int = Field(description="How many of the run's cells it gathers")
    grid_code: str | None = Field(
        description="At the run's own resolution: a grid with people in the cell; else null"
    )
    population: float
    population_within_target: float = Field(
        description="People in cells reached by >= k responders within the target"
    )
    eta_s: float | None = Field(
        description="Population-weighted mean ETA of the nearest responder (plain mean where "
        "nobody lives; null when no cell has a counted responder)"
    )
    eta_min_s: float | None
    eta_max_s: float | None


class HexagonFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any]
    properties: HexagonProperties


class HexagonCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    run: int
    zoom: int
    resolution: int = Field(description="H3 resolution drawn at this zoom")
    run_resolution: int
    target_s: float
    features: list[HexagonFeature]


class RunAreas(BaseModel):
    run: int
    level: AreaLevel
    parent: str | None
    areas: list[AreaCoverage]


class AreaFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any] | None = Field(description="The outline, simplified to about 10 m")
    properties: dict[str, Any]


class AreaFeatureCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[AreaFeature]


class AreaDifference(BaseModel):
    """One area in both runs: each figure as `_a`, `_b` and `_diff` (b - a; null when the area
    is missing from one run or a value is null)."""

    model_config = {"extra": "allow"}

    code: str
    level: AreaLevel
    name: str
    parent_code: str | None
    population: float | None


class RunComparison(BaseModel):
    a: int
    b: int
    level: AreaLevel
    parent: str | None
    areas: list[AreaDifference]


class RunInProgress(BaseModel):
    token: int = Field(description="This computation's id (not the run's: it has none yet)")
    started_by: str = Field(description='Who started it: "user:NAME" or "key:NAME"')
    mine: bool = Field(description="Started by the caller (the same user or API key)")
    client_token: str | None = Field(
        description="The `client_token` the caller sent with its POST (only on its own runs)"
    )
    started_at: UtcDatetime
    updated_at: UtcDatetime = Field(description="Its last progress write")
    elapsed_s: float
    stage: str = Field(
        description="boundaries, responders, cells, distances, aggregating, storing or done"
    )
    step: int
    steps: int
    fraction: float = Field(ge=0, le=1)
    parameters: dict[str, Any]


class RunsInProgress(BaseModel):
    runs: list[RunInProgress]


class KpiPoint(BaseModel):
    start: UtcDatetime
    end: UtcDatetime
    incidents: int
    attended: int
    within_target_rate: float | None
    urban_within_target_rate: float | None
    median_response_s: float | None
    p90_response_s: float | None
    diverted_share: float | None
    resolved_on_site_share: float | None


class KpiLine(BaseModel):
    code: str | None
    name: str | None
    level: AreaLevel
    points: list[KpiPoint]


class KpiSeriesPublic(BaseModel):
    level: AreaLevel
    bucket: Literal["week", "day"]
    start: UtcDatetime = Field(serialization_alias="from")
    end: UtcDatetime = Field(serialization_alias="to")
    target_s: float
    city_promise_share: float = Field(
        description="The city's own promise: share on scene within the target (0.9348)"
    )
    buckets: list[UtcDatetime]
    series: list[KpiLine] = Field(description="The city first, then each area of `level`")
