"""SQL for claiming responders for incidents: row locks on `responders`, bound parameters."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from gridgis.db.queries import Executor
from gridgis.vocabulary import BUSY


def lock_responder(db: Executor, responder_id: int) -> dict[str, Any] | None:
    """Lock one responder's row until the transaction ends; returns its id, role and status.

    Two dispatchers claiming the same responder queue here: the second one reads the status
    the first one committed."""
    row = db.execute(
        text("SELECT id, role, status FROM responders WHERE id = :id FOR UPDATE"),
        {"id": responder_id},
    ).first()
    return None if row is None else dict(row._mapping)


def set_status(db: Executor, responder_id: int, status: str) -> None:
    """Set a responder's status (the caller holds the row lock)."""
    db.execute(
        text("UPDATE responders SET status = :status WHERE id = :id"),
        {"status": status, "id": responder_id},
    )


def lock_busy_for_incident(db: Executor, incident_id: int) -> list[int]:
    """Lock and return the responders still busy because of this incident, in id order.

    A responder is busy because of the incident when they are `busy` and their most recent
    dispatch is to it: a later dispatch elsewhere (after someone set them available again)
    means that other incident holds them now. Id order keeps concurrent closings deadlock-free.
    """
    rows = db.execute(
        text(
            """
            SELECT r.id FROM responders r
            WHERE r.status = :busy
              AND r.id IN (SELECT responder_id FROM incident_events
                           WHERE incident_id = :incident AND type = :dispatched)
              AND (SELECT e.incident_id FROM incident_events e
                   WHERE e.responder_id = r.id AND e.type = :dispatched
                   ORDER BY e.id DESC LIMIT 1) = :incident
            ORDER BY r.id
            FOR UPDATE OF r
            """
        ),
        {"incident": incident_id, "busy": BUSY, "dispatched": "dispatched"},
    )
    return [int(r[0]) for r in rows]
