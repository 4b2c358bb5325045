"""Idempotent intake: record an incident, locate its grid, snapshot the recommendation."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gridgis import audit
from gridgis import crs as crs_mod
from gridgis.boundaries.lookup import locate
from gridgis.db import Executor
from gridgis.dispatch.eta import EtaModel
from gridgis.dispatch.incidents.checks import (
    check_external_id,
    check_text,
    check_time,
)
from gridgis.dispatch.incidents.recommendation import recommend
from gridgis.dispatch.incidents.routing import category_route
from gridgis.dispatch.incidents.shaping import get_incident
from gridgis.dispatch.sql import incidents as incidents_sql
from gridgis.errors import Conflict, InvalidInput, OutsideCoverage
from gridgis.validation import check_lon_lat
from gridgis.vocabulary import CrsName


@dataclass(frozen=True)
class IncidentReport:
    """An incident as a dispatch system sends it (coordinates in `crs`)."""

    external_id: str
    category: str
    lon: float
    lat: float
    reported_at: datetime
    crs: CrsName = "wgs84"
    description: str = ""


@dataclass(frozen=True)
class IntakeResult:
    """The stored incident and whether this call created it (False: an identical retry)."""

    incident: dict[str, Any]
    created: bool


def _differences(stored: Mapping[str, Any], sent: Mapping[str, Any]) -> list[str]:
    return [name for name, value in sent.items() if stored[name] != value]


def _same_or_conflict(stored: Mapping[str, Any], sent: Mapping[str, Any]) -> None:
    differs = _differences(stored, sent)
    if differs:
        raise Conflict(
            f"external_id {stored['external_id']!r} is already incident {stored['id']} with "
            f"different {', '.join(differs)}; a retry must repeat the original report exactly.",
            field="external_id",
        )


def report_incident(
    db: Executor,
    report: IncidentReport,
    model: EtaModel,
    *,
    now: datetime | None = None,
    stale_after_s: float = 900.0,
    source: str = "api",
    actor: str = audit.LIBRARY_ACTOR,
) -> IntakeResult:
    """Record an incident, locate its grid, recommend responders; idempotent on external_id.

    A repeat of an earlier report returns the stored incident (created False); a report that
    reuses an external_id with different content raises Conflict. A point outside every grid is
    recorded with no grid. Coordinates are converted to WGS84 here, the only place they enter.
    A new incident is written to the audit trail (`incident.create`) in the same transaction.
    """
    now = now or datetime.now(UTC)
    external_id = check_external_id(report.external_id)
    route = category_route(db, report.category)
    input_lon, input_lat = check_lon_lat(report.lon, report.lat)
    lon, lat = crs_mod.to_wgs84(input_lon, input_lat, report.crs)
    try:
        lon, lat = check_lon_lat(float(lon), float(lat))
    except InvalidInput as exc:
        raise InvalidInput(
            f"({input_lon}, {input_lat}) in {report.crs} falls outside WGS84 bounds when "
            "converted.",
            field=exc.field,
        ) from None
    sent = {
        "category": route.code,
        "input_crs": report.crs,
        "input_lon": input_lon,
        "input_lat": input_lat,
        "reported_at": check_time(report.reported_at, "reported_at", now),
        "description": check_text(report.description, "description"),
    }

    stored = incidents_sql.incident_by_external_id(db, external_id)
    if stored is not None:
        _same_or_conflict(stored, sent)
        return IntakeResult(get_incident(db, int(stored["id"])), created=False)

    generation_id: int | None = None
    grid: dict[str, Any] | None = None
    try:
        located = locate(db, lon, lat, with_team=False)
        generation_id, grid = located.generation, located.grid
    except OutsideCoverage:
        pass  # still recorded: an incident is never lost for lying outside the grids
    recommendation = recommend(
        db, lon, lat, route, model, stale_after_s=stale_after_s, now=now
    ).snapshot(now)
    new_id = incidents_sql.insert_incident(
        db,
        {
            **sent,
            "external_id": external_id,
            "lon": lon,
            "lat": lat,
            "generation_id": generation_id,
            "grid_code": grid["code"] if grid else None,
            "grid_kind": grid["kind"] if grid else None,
            "recommendation": json.dumps(recommendation, ensure_ascii=False),
            "source": source,
        },
    )
    if new_id is None:
        # A concurrent request with the same external_id committed first: same rules as a retry.
        stored = incidents_sql.incident_by_external_id(db, external_id)
        if stored is None:  # pragma: no cover - the conflicting row cannot vanish in between
            raise Conflict("external_id is being registered concurrently.", field="external_id")
        _same_or_conflict(stored, sent)
        return IntakeResult(get_incident(db, int(stored["id"])), created=False)
    incident = get_incident(db, new_id)
    audit.record(
        db,
        actor=actor,
        action="incident.create",
        entity="incident",
        entity_id=str(new_id),
        after={
            key: incident[key]
            for key in ("external_id", "reported_at", "lon", "lat", "input", "grid", "status")
        }
        | {"category": incident["category"]["code"], "source": source},
    )
    return IntakeResult(incident, created=True)
