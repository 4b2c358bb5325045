"""The incident state machine and the events that drive it, with responder claims."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gridgis import audit
from gridgis.db import Executor
from gridgis.dispatch.incidents.checks import check_text, check_time
from gridgis.dispatch.incidents.shaping import get_incident
from gridgis.dispatch.sql import incidents as incidents_sql
from gridgis.dispatch.sql import responders as responders_sql
from gridgis.errors import Conflict, InvalidInput, NotFound
from gridgis.vocabulary import AVAILABLE, BUSY, INCIDENT_EVENT_TYPES, EventType


@dataclass(frozen=True)
class EventReport:
    """One step of an incident's handling, as a dispatch system reports it."""

    type: EventType
    at: datetime
    responder_id: int | None = None
    note: str = ""


_NEEDS_RESPONDER = ("dispatched", "arrived")


def next_status(
    status: str,
    reported_at: datetime,
    events: Sequence[Mapping[str, Any]],
    type_: str,
    responder_id: int | None,
    at: datetime,
) -> str:
    """The incident status after appending an event, or Conflict when the event is out of order.

    open -> dispatched -> on_scene -> resolved | referred -> closed. A responder arrives only
    after being dispatched; "resolved" means resolved on site, so it needs an arrival; a
    referral (to mediation or another agency) may come at any time before closing; closing
    needs a resolution or a referral; nothing follows "closed". Time never runs backwards.
    """
    if status == "closed":
        raise Conflict("The incident is closed: no event can follow 'closed'.", field="type")
    if at < reported_at:
        raise Conflict(
            f"at ({at.isoformat()}) is before the incident was reported "
            f"({reported_at.isoformat()}).",
            field="at",
        )
    if events and at < events[-1]["at"]:
        last = events[-1]
        raise Conflict(
            f"at ({at.isoformat()}) is before the previous event ({last['type']} at "
            f"{last['at'].isoformat()}); events are appended in time order.",
            field="at",
        )
    dispatched = {e["responder_id"]: e["at"] for e in events if e["type"] == "dispatched"}
    arrived = {e["responder_id"] for e in events if e["type"] == "arrived"}
    seen = {e["type"] for e in events}
    if type_ in _NEEDS_RESPONDER and responder_id is None:
        raise InvalidInput(f"A '{type_}' event needs responder_id.", field="responder_id")
    if type_ == "dispatched":
        if responder_id in dispatched:
            raise Conflict(
                f"Responder {responder_id} is already dispatched to this incident.",
                field="responder_id",
            )
        return "dispatched" if status == "open" else status
    if type_ == "arrived":
        if responder_id not in dispatched:
            raise Conflict(
                f"Responder {responder_id} was never dispatched to this incident; "
                "an arrival needs a dispatch first.",
                field="responder_id",
            )
        if responder_id in arrived:
            raise Conflict(f"Responder {responder_id} has already arrived.", field="responder_id")
        if at < dispatched[responder_id]:
            raise Conflict("An arrival cannot come before its dispatch.", field="at")
        return "on_scene" if status in ("open", "dispatched") else status
    if type_ == "resolved":
        if not arrived:
            raise Conflict(
                "'resolved' means resolved on site and needs an arrival first; "
                "use 'referred' to pass the matter on.",
                field="type",
            )
        if "resolved" in seen:
            raise Conflict("The incident is already resolved.", field="type")
        return "resolved"
    if type_ == "referred":
        if "referred" in seen:
            raise Conflict("The incident is already referred.", field="type")
        return "referred"
    if type_ == "closed":
        if not seen & {"resolved", "referred"}:
            raise Conflict("Closing needs a 'resolved' or 'referred' event first.", field="type")
        return "closed"
    raise InvalidInput(f"type must be one of {', '.join(INCIDENT_EVENT_TYPES)}.", field="type")


def add_event(
    db: Executor,
    incident_id: int,
    event: EventReport,
    *,
    now: datetime | None = None,
    actor: str = audit.LIBRARY_ACTOR,
) -> dict[str, Any]:
    """Append an event under the incident's row lock; returns the incident with its timeline.

    A dispatch claims the responder: under the responder's row lock they must be `available`
    (else Conflict naming responder_id) and become `busy`. Closing the incident sets the
    responders it still holds (busy, last dispatched to it) back to `available`. The event,
    the status changes and their audit entries are written in the caller's transaction.
    """
    now = now or datetime.now(UTC)
    at = check_time(event.at, "at", now)
    responder_id = event.responder_id
    if event.type in _NEEDS_RESPONDER and responder_id is None:
        raise InvalidInput(f"A '{event.type}' event needs responder_id.", field="responder_id")
    note = check_text(event.note, "note")

    locked = incidents_sql.lock_incident(db, incident_id)
    if locked is None:
        raise NotFound(f"No incident with id {incident_id}.", field="id")
    role = None
    if responder_id is not None:
        role = incidents_sql.responder_role(db, responder_id)
        if role is None:
            raise NotFound(f"No responder with id {responder_id}.", field="responder_id")
    events = incidents_sql.timeline(db, incident_id)
    status = next_status(
        locked["status"], locked["reported_at"], events, event.type, responder_id, at
    )
    if event.type == "dispatched" and responder_id is not None:
        role = _claim_responder(db, responder_id, incident_id, actor)
    incidents_sql.append_event(
        db,
        incident_id,
        seq=len(events) + 1,
        type_=event.type,
        responder_id=responder_id,
        responder_role=role,
        at=at,
        note=note,
        status=status,
    )
    audit.record(
        db,
        actor=actor,
        action="incident.event",
        entity="incident",
        entity_id=str(incident_id),
        before={"status": locked["status"]},
        after={
            "status": status,
            "event": {
                "seq": len(events) + 1,
                "type": event.type,
                "responder_id": responder_id,
                "responder_role": role,
                "at": at,
                "note": note,
            },
        },
    )
    if event.type == "closed":
        _release_responders(db, incident_id, actor)
    return get_incident(db, incident_id)


def _claim_responder(db: Executor, responder_id: int, incident_id: int, actor: str) -> str:
    """Lock the responder, check they are available and mark them busy; returns their role."""
    row = responders_sql.lock_responder(db, responder_id)
    if row is None:  # pragma: no cover - checked under the incident lock just before
        raise NotFound(f"No responder with id {responder_id}.", field="responder_id")
    if row["status"] != AVAILABLE:
        raise Conflict(
            f"Responder {responder_id} is {row['status']}, not available: another dispatch "
            "may have claimed them first.",
            field="responder_id",
        )
    responders_sql.set_status(db, responder_id, BUSY)
    audit.record(
        db,
        actor=actor,
        action="responder.status",
        entity="responder",
        entity_id=str(responder_id),
        before={"status": AVAILABLE},
        after={"status": BUSY, "incident_id": incident_id},
    )
    return str(row["role"])


def _release_responders(db: Executor, incident_id: int, actor: str) -> None:
    """Set the responders this incident still holds back to available (it is closed)."""
    for responder_id in responders_sql.lock_busy_for_incident(db, incident_id):
        responders_sql.set_status(db, responder_id, AVAILABLE)
        audit.record(
            db,
            actor=actor,
            action="responder.status",
            entity="responder",
            entity_id=str(responder_id),
            before={"status": BUSY, "incident_id": incident_id},
            after={"status": AVAILABLE},
        )
