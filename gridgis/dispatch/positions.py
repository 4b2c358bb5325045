"""Live positions: validate, convert to WGS84 and apply fixes set-wise, never letting old win."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from gridgis import crs as crs_mod
from gridgis.db import Executor
from gridgis.dispatch.sql import positions as positions_sql
from gridgis.errors import InvalidInput, NotFound
from gridgis.validation import check_lon_lat

MAX_BATCH = 10_000
# Expired fixes are deleted at most this often per process (positions_sql.expire_positions).
EXPIRE_EVERY_S = 60.0
_next_expiry = 0.0
# A device clock a little ahead is normal; a fix from further in the future is a bad clock.
FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class PositionFix:
    """One fix as a caller sends it (coordinates in `crs`)."""

    responder_id: Any
    lon: Any
    lat: Any
    recorded_at: Any
    crs: str = "wgs84"


@dataclass
class IngestReport:
    """What happened to each fix of a batch."""

    accepted: int = 0
    ignored_stale: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)


def _check_fix(fix: PositionFix, now: datetime) -> tuple[int, float, float, datetime]:
    if isinstance(fix.responder_id, bool) or not isinstance(fix.responder_id, int):
        raise InvalidInput("responder_id must be an integer.", field="responder_id")
    if not 1 <= fix.responder_id < 2**63:
        raise InvalidInput("responder_id is out of range.", field="responder_id")
    lon, lat = check_lon_lat(fix.lon, fix.lat)
    if fix.crs not in ("wgs84", "gcj02", "bd09"):
        raise InvalidInput("crs must be wgs84, gcj02 or bd09.", field="crs")
    if fix.crs != "wgs84":  # WGS84 needs no conversion (a hot path: 10,000 fixes a batch)
        lon, lat = crs_mod.to_wgs84(lon, lat, fix.crs)  # type: ignore[arg-type]
        lon, lat = float(lon), float(lat)
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise InvalidInput("coordinates could not be converted.", field="lon")
    recorded = fix.recorded_at
    if isinstance(recorded, str):
        try:
            recorded = datetime.fromisoformat(recorded)
        except ValueError:
            raise InvalidInput(
                f"recorded_at is not an ISO 8601 timestamp: {recorded[:40]!r}.", field="recorded_at"
            ) from None
    if not isinstance(recorded, datetime):
        raise InvalidInput("recorded_at must be an ISO 8601 timestamp.", field="recorded_at")
    if recorded.tzinfo is None:
        raise InvalidInput(
            "recorded_at needs a time zone (e.g. 2026-11-26T08:00:00+08:00).", field="recorded_at"
        )
    if recorded > now + FUTURE_TOLERANCE:
        raise InvalidInput("recorded_at is in the future.", field="recorded_at")
    # In UTC: PostgreSQL's timestamptz array input refuses offsets of 16 h or more.
    return fix.responder_id, lon, lat, recorded.astimezone(UTC)


def ingest(
    db: Executor,
    fixes: Sequence[PositionFix],
    now: datetime | None = None,
    *,
    stale_after_s: float = 900.0,
) -> IngestReport:
    """Apply a batch: bad items are reported by index, the rest written in one statement.

    A fix older than the stored one is ignored (`ignored_stale`), and so is one that is
    already older than `stale_after_s`: dispatch would never use it. Stored fixes that have
    expired are deleted about once a minute (see expire_due)."""
    if len(fixes) > MAX_BATCH:
        raise InvalidInput(
            f"A batch holds at most {MAX_BATCH:,} positions, got {len(fixes):,}.",
            field="positions",
        )
    now = now or datetime.now(UTC)
    report = IngestReport()
    idx: list[int] = []
    ids: list[int] = []
    lons: list[float] = []
    lats: list[float] = []
    times: list[datetime] = []
    for index, fix in enumerate(fixes):
        try:
            responder_id, lon, lat, recorded = _check_fix(fix, now)
        except InvalidInput as exc:
            report.rejected.append({"index": index, "field": exc.field, "error": exc.message})
            continue
        idx.append(index)
        ids.append(responder_id)
        lons.append(lon)
        lats.append(lat)
        times.append(recorded)
    if idx:
        expire_before = now - timedelta(seconds=stale_after_s)
        expire_due(db, now, stale_after_s=stale_after_s)
        accepted, unknown = positions_sql.ingest_positions(
            db, idx, ids, lons, lats, times, expire_before
        )
        for index in unknown:
            report.rejected.append(
                {
                    "index": index,
                    "field": "responder_id",
                    "error": f"No responder with id {fixes[index].responder_id}.",
                }
            )
        report.accepted = accepted
        report.ignored_stale = len(idx) - len(unknown) - accepted
    report.rejected.sort(key=lambda item: item["index"])
    return report


def expire_due(
    db: Executor, now: datetime | None = None, *, stale_after_s: float = 900.0, force: bool = False
) -> int | None:
    """Delete expired live fixes when this process has not done so for EXPIRE_EVERY_S (or
    `force`); returns how many, None when it was not due. Ingest calls it, and the API also
    calls it on a timer so that a feed that stops does not leave dead fixes in the KNN index."""
    global _next_expiry
    if not force and time.monotonic() < _next_expiry:
        return None
    _next_expiry = time.monotonic() + EXPIRE_EVERY_S
    now = now or datetime.now(UTC)
    return positions_sql.expire_positions(db, now - timedelta(seconds=stale_after_s))


def update_position(
    db: Executor,
    fix: PositionFix,
    now: datetime | None = None,
    *,
    stale_after_s: float = 900.0,
) -> IngestReport:
    """One responder's fix; NotFound for an unknown responder, InvalidInput for a bad fix."""
    now = now or datetime.now(UTC)
    _check_fix(fix, now)
    report = ingest(db, [fix], now, stale_after_s=stale_after_s)
    if report.rejected:
        raise NotFound(report.rejected[0]["error"], field="responder_id")
    return report
