"""The incident lifecycle as one state table: the code enforces it and docs/API.md prints it."""

from __future__ import annotations

from typing import Final

from gridgis.db.models import INCIDENT_EVENT_TYPES, INCIDENT_STATUSES

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


def next_status(status: str, event_type: str) -> str | None:
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
