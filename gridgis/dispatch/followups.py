"""Follow-up calls: after an incident is closed, the reporter is called back (回访), once."""

from __future__ import annotations

from typing import Any

from gridgis import audit
from gridgis.db import Executor
from gridgis.dispatch.sql import follow_ups as followup_sql
from gridgis.dispatch.sql import incidents as incidents_sql
from gridgis.errors import Conflict, InvalidInput, NotFound

MAX_NOTE = 2000


def _check(reached: Any, satisfied: Any, note: Any) -> tuple[bool, bool | None, str]:
    if not isinstance(reached, bool):
        raise InvalidInput("reached must be true or false.", field="reached")
    if satisfied is not None and not isinstance(satisfied, bool):
        raise InvalidInput("satisfied must be true, false or null.", field="satisfied")
    if not reached and satisfied is not None:
        raise InvalidInput(
            "satisfied must be null when the reporter was not reached.", field="satisfied"
        )
    if note is None:
        note = ""
    if not isinstance(note, str):
        raise InvalidInput("note must be text.", field="note")
    if "\x00" in note:
        raise InvalidInput("note must not contain NUL characters.", field="note")
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"note is longer than {MAX_NOTE} characters.", field="note")
    return reached, satisfied, note


def record_follow_up(
    db: Executor,
    incident_id: int,
    *,
    reached: Any,
    satisfied: Any = None,
    note: Any = "",
    actor: str = audit.LIBRARY_ACTOR,
) -> dict[str, Any]:
    """Record the follow-up call of a closed incident, audited in the caller's transaction.

    NotFound for an unknown incident; Conflict (naming `id`) when it is not closed yet or
    already has its follow-up; InvalidInput naming the field for bad values.
    """
    reached, satisfied, note = _check(reached, satisfied, note)
    locked = incidents_sql.lock_incident(db, incident_id)
    if locked is None:
        raise NotFound(f"No incident with id {incident_id}.", field="id")
    if locked["status"] != "closed":
        raise Conflict(
            f"Incident {incident_id} is {locked['status']}; the follow-up call comes after "
            "it is closed.",
            field="id",
        )
    row = followup_sql.insert_follow_up(
        db,
        incident_id=incident_id,
        reached=reached,
        satisfied=satisfied,
        note=note,
        recorded_by=actor,
    )
    if row is None:
        raise Conflict(f"Incident {incident_id} already has its follow-up.", field="id")
    audit.record(
        db,
        actor=actor,
        action="incident.follow_up",
        entity="incident",
        entity_id=str(incident_id),
        after={"reached": reached, "satisfied": satisfied, "note": note},
    )
    return row


def get_follow_up(db: Executor, incident_id: int) -> dict[str, Any]:
    """The incident's follow-up; NotFound when there is none (or no such incident)."""
    row = followup_sql.follow_up(db, incident_id)
    if row is None:
        if incidents_sql.incident_by_id(db, incident_id) is None:
            raise NotFound(f"No incident with id {incident_id}.", field="id")
        raise NotFound(f"Incident {incident_id} has no follow-up yet.", field="id")
    return row
