"""POST /v1/positions/batch: many live fixes in one set-wise write."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import SessionDep, SettingsDep
from api.schemas import ErrorPublic, IngestPublic, PositionBatchIn
from gridgis.dispatch import positions

router = APIRouter(tags=["positions"])


@router.post(
    "/positions/batch",
    response_model=IngestPublic,
    responses={422: {"model": ErrorPublic, "description": "Not a batch (or over 10,000 items)"}},
)
def ingest_batch(db: SessionDep, settings: SettingsDep, body: PositionBatchIn) -> dict[str, Any]:
    """Write up to 10,000 fixes in one statement. Stale fixes never overwrite newer ones;
    duplicates are harmless; bad items are rejected one by one and the rest are written.
    `ignored_stale` counts fixes older than the stored one or already older than the
    service's stale-after time (GRIDGIS_STALE_AFTER_S, default 900 s): dispatch would never
    use them."""
    fixes = []
    for item in body.positions:
        fixes.append(
            positions.PositionFix(
                responder_id=item.get("responder_id"),
                lon=item.get("lon"),
                lat=item.get("lat"),
                recorded_at=item.get("recorded_at"),
                crs=item.get("crs", "wgs84"),
            )
        )
    report = positions.ingest(db, fixes, stale_after_s=settings.stale_after_s)
    return {
        "accepted": report.accepted,
        "ignored_stale": report.ignored_stale,
        "rejected": report.rejected,
    }
