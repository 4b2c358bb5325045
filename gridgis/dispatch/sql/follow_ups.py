"""SQL of follow-up calls (the callback to the reporter after an incident is closed)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from gridgis.db import Executor

# DO NOTHING: of two recorders racing, the second learns the call is already recorded.
_INSERT = text(
    """
    INSERT INTO incident_follow_ups (incident_id, reached, satisfied, note, recorded_by)
    VALUES (:incident_id, :reached, :satisfied, :note, :recorded_by)
    ON CONFLICT (incident_id) DO NOTHING
    RETURNING incident_id, reached, satisfied, note, recorded_by, recorded_at
    """
)

_SELECT = text(
    """
    SELECT incident_id, reached, satisfied, note, recorded_by, recorded_at
    FROM incident_follow_ups WHERE incident_id = :incident_id
    """
)


def insert_follow_up(
    db: Executor,
    *,
    incident_id: int,
    reached: bool,
    satisfied: bool | None,
    note: str,
    recorded_by: str,
) -> dict[str, Any] | None:
    """Insert the follow-up; None when the incident already has one."""
    row = db.execute(
        _INSERT,
        {
            "incident_id": incident_id,
            "reached": reached,
            "satisfied": satisfied,
            "note": note,
            "recorded_by": recorded_by,
        },
    ).first()
    return None if row is None else dict(row._mapping)


def follow_up(db: Executor, incident_id: int) -> dict[str, Any] | None:
    """The incident's follow-up, or None."""
    row = db.execute(_SELECT, {"incident_id": incident_id}).first()
    return None if row is None else dict(row._mapping)
