"""Listing incidents: area filters by grid-code prefix, newest first, cursor paging."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gridgis.boundaries import sql as boundaries_sql
from gridgis.db import Executor
from gridgis.dispatch.incidents.checks import aware_time
from gridgis.dispatch.incidents.routing import category_route
from gridgis.dispatch.incidents.shaping import incident_dict
from gridgis.dispatch.sql import incidents as incidents_sql
from gridgis.errors import InvalidInput, NotFound
from gridgis.vocabulary import IncidentStatus


def area_grid_prefix(db: Executor, area: str) -> str:
    """The grid-code prefix of an area: codes are hierarchical (GB/T 2260 plus grid digits), so
    a county's grids start with its 6 digits and a township's with its 9; a city's code ends in
    "00" and its grids share the first 4. NotFound naming `area` for an unknown area."""
    if not area.isdigit() or len(area) > 20:
        raise InvalidInput("area must be an area code (digits).", field="area")
    generation_id = boundaries_sql.active_generation_id(db)
    level = incidents_sql.area_level(db, generation_id, area)
    if level is None:
        raise NotFound(f"No area with code {area!r} in the active generation.", field="area")
    return area[:4] if level == "city" else area


@dataclass(frozen=True)
class IncidentPage:
    """One page of incidents, newest first, and the cursor of the next page (None at the end)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


def _encode_cursor(reported_at: datetime, incident_id: int) -> str:
    raw = json.dumps([reported_at.isoformat(), incident_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at_text, incident_id = json.loads(raw)
        at = datetime.fromisoformat(at_text)
        if at.tzinfo is None or not isinstance(incident_id, int) or not 0 < incident_id < 2**63:
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("cursor is not one this service issued.", field="cursor") from None
    return at, incident_id


def list_incidents(
    db: Executor,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    area: str | None = None,
    status: IncidentStatus | None = None,
    category: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> IncidentPage:
    """Incidents reported in [start, end), in an area (any level), newest first, paged."""
    if start is not None:
        start = aware_time(start, "from")
    if end is not None:
        end = aware_time(end, "to")
    if start is not None and end is not None and end <= start:
        raise InvalidInput("to must be later than from.", field="to")
    if category is not None:
        category = category_route(db, category).code
    prefix = area_grid_prefix(db, area) if area is not None else None
    after = _decode_cursor(cursor) if cursor else None
    rows = incidents_sql.list_incidents(
        db,
        start=start,
        end=end,
        grid_prefix=prefix,
        status=status,
        category=category,
        after=after,
        limit=limit + 1,
    )
    items = [incident_dict(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = _encode_cursor(last["reported_at"], int(last["id"]))
    return IncidentPage(items=items, next_cursor=next_cursor)
