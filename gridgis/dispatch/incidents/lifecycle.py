"""The incident state machine as one state table (LIFECYCLE, printed in docs/API.md) and the
events that drive it, with responder claims."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from gridgis import audit
from gridgis.db import Executor
from gridgis.dispatch.incidents.checks import check_text, check_time
from gridgis.dispatch.incidents.shaping import get_incident
from gridgis.dispatch.sql import incidents as incidents_sql
from gridgis.dispatch.sql import responders as responders_sql
from gridgis.errors import Conflict, InvalidInput, NotFound
from gridgis.times import rfc3339
from gridgis.vocabulary import (
    AVAILABLE,
    BUSY,
    INCIDENT_EVENT_TYPES,
    INCIDENT_STATUSES,
    EventType,
)

# status -> event type -> the status after the event. An event missing from a status's row is
# refused (409). `resolved` (on site) and `referred` (passed on) are alternatives: an incident
# gets one of them, then `closed`. Per-responder rules come on top: `arrived` needs that
# responder's dispatch, and nobody is dispatched or arrives twice.
LIFECYCLE: Final[dict[str, dict[str, str]]] = {
    "open": {"dispatched": "dispatched", "referred": "referred"},
    "dispatched": {"dispatched": "dispatched", "arrived": "on_scene", "referred": "referred"},
    "on_scene": {
        "dispatched": "on_scene",
        "arrived": "on_scene",
        "resolved": "resolved",
        "referred": "referred",
    },
    "resolved": {"dispatched": "resolved", "arrived": "resolved", "closed": "closed"},
    "referred": {"dispatched": "referred", "arrived": "referred", "closed": "closed"},
    "closed": {},
}
STATUSES: Final = INCIDENT_STATUSES
EVENT_TYPES: Final = INCIDENT_EVENT_TYPES


def status_after(status: str, event_type: str) -> str | None:
    """The status after `event_type` in `status`, or None when the table refuses it."""
    return LIFECYCLE[status].get(event_type)


def refusal(status: str, event_type: str) -> tuple[str, str]:
    """Why the table refuses `event_type` in `status`: (message, field at fault)."""
    allowed = ", ".join(LIFECYCLE[status]) or "none"
    if status == "closed":
        return "The incident is closed: no event can follow 'closed'.", "type"
    if event_type == "arrived":
        return "An arrival needs a dispatch first.", "responder_id"
    if event_type == "resolved" and status in ("open", "dispatched"):
        return (
            "'resolved' means resolved on site and needs an arrival first; "
            "use 'referred' to pass the matter on.",
            "type",
        )
    if event_type in ("resolved", "referred") and status in ("resolved", "referred"):
        return (
            f"The incident is already {status}; 'resolved' and 'referred' are alternatives "
            f"(allowed now: {allowed}).",
            "type",
        )
    if event_type == "closed":
        return "Closing needs a 'resolved' or 'referred' event first.", "type"
    return f"'{event_type}' cannot follow status '{status}' (allowed now: {allowed}).", "type"


def lifecycle_markdown() -> str:
    """The state table as Markdown: one row per status, one column per event type."""
    lines = [
        "| status \\ event | " + " | ".join(f"`{e}`" for e in EVENT_TYPES) + " |",
        "|---|" + "---|" * len(EVENT_TYPES),
    ]
    for status, row in LIFECYCLE.items():
        cells = [f"`{row[e]}`" if e in row else "409" for e in EVENT_TYPES]
        lines.append(f"| `{status}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


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

    The order is the state table `LIFECYCLE` (printed in docs/API.md); on top of it a responder
    arrives only after being dispatched, nobody is dispatched or arrives twice, and time never
    runs backwards.
    """
    if not LIFECYCLE[status]:  # a final status: nothing may follow
        message, field_name = refusal(status, type_)
        raise Conflict(message, field=field_name)
    if at < reported_at:
        raise Conflict(
            f"at ({rfc3339(at)}) is before the incident was reported ({rfc3339(reported_at)}).",
            field="at",
        )
    if events and at < events[-1]["at"]:
        last = events[-1]
        raise Conflict(
            f"at ({rfc3339(at)}) is before the previous event ({last['type']} at "
            f"{rfc3339(last['at'])}); events are appended in time order.",
            field="at",
        )
    if type_ in _NEEDS_RESPONDER and responder_id is None:
        raise InvalidInput(f"A '{type_}' event needs responder_id.", field="responder_id")
    dispatched = {e["responder_id"]: e["at"] for e in events if e["type"] == "dispatched"}
    arrived = {e["responder_id"] for e in events if e["type"] == "arrived"}
    if type_ == "dispatched" and responder_id in dispatched:
        raise Conflict(
            f"Responder {responder_id} is already dispatched to this incident.",
            field="responder_id",
        )
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
    if type_ not in INCIDENT_EVENT_TYPES:
        raise InvalidInput(f"type must be one of {', '.join(INCIDENT_EVENT_TYPES)}.", field="type")
    after = status_after(status, type_)
    if after is None:
        message, field_name = refusal(status, type_)
        raise Conflict(message, field=field_name)
    return after


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
