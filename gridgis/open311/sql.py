"""SQL of the Open311 service requests: the reporter's private row and the published listing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text

from gridgis.db import Executor

SOURCE = "open311"

_INSERT_REQUEST = text(
    """
    INSERT INTO open311_requests (incident_id, media_url, email, device_id, first_name,
                                  last_name, phone, api_key_id)
    VALUES (:incident_id, :media_url, :email, :device_id, :first_name, :last_name, :phone,
            :api_key_id)
    """
)


def insert_request(db: Executor, values: dict[str, Any]) -> None:
    """The Open311 side of a new incident: media URL and the reporter's contact details."""
    db.execute(_INSERT_REQUEST, values)


# What a published request is made of. The reporter's contact columns are never selected
# here: nothing that reads this statement can leak them.
_LIST = text(
    """
    SELECT i.id, i.category, c.name_zh, c.name_en, c.primary_roles, c.divert_to_mediation,
           c.police_matter,
           i.description, i.reported_at, i.status, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat,
           i.grid_code, a.name AS grid_name, i.recommendation, r.media_url,
           last.type AS last_type, last.note AS last_note, last.at AS last_at,
           sent.responder_id AS dispatched_id, sent.responder_role AS dispatched_role,
           sent.at AS dispatched_at, first_sent.responder_id AS first_dispatched_id,
           first_sent.at AS first_dispatched_at
    FROM incidents i
    JOIN open311_requests r ON r.incident_id = i.id
    JOIN incident_categories c ON c.code = i.category
    LEFT JOIN areas a ON a.generation_id = i.generation_id AND a.code = i.grid_code
    LEFT JOIN LATERAL (
        SELECT e.type, e.note, e.at FROM incident_events e
        WHERE e.incident_id = i.id ORDER BY e.seq DESC LIMIT 1
    ) last ON true
    LEFT JOIN LATERAL (
        SELECT e.responder_id, e.responder_role, e.at FROM incident_events e
        WHERE e.incident_id = i.id AND e.type = 'dispatched' ORDER BY e.seq DESC LIMIT 1
    ) sent ON true
    LEFT JOIN LATERAL (
        SELECT e.responder_id, e.at FROM incident_events e
        WHERE e.incident_id = i.id AND e.type = 'dispatched' ORDER BY e.seq LIMIT 1
    ) first_sent ON true
    WHERE i.source = :source
      AND (CAST(:ids AS bigint[]) IS NULL OR i.id = ANY(CAST(:ids AS bigint[])))
      AND (CAST(:codes AS varchar[]) IS NULL OR i.category = ANY(CAST(:codes AS varchar[])))
      AND (CAST(:start AS timestamptz) IS NULL OR i.reported_at >= CAST(:start AS timestamptz))
      AND (CAST(:end AS timestamptz) IS NULL OR i.reported_at <= CAST(:end AS timestamptz))
      AND (CAST(:closed AS boolean) IS NULL
           OR (i.status = 'closed') = CAST(:closed AS boolean))
    ORDER BY i.reported_at DESC, i.id DESC
    LIMIT :limit
    """
)


def list_requests(
    db: Executor,
    *,
    ids: Sequence[int] | None,
    codes: Sequence[str] | None,
    start: datetime | None,
    end: datetime | None,
    closed: bool | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Open311 requests (newest first) with what their timeline says now."""
    rows = db.execute(
        _LIST,
        {
            "source": SOURCE,
            "ids": list(ids) if ids is not None else None,
            "codes": list(codes) if codes is not None else None,
            "start": start,
            "end": end,
            "closed": closed,
            "limit": limit,
        },
    )
    return [dict(r._mapping) for r in rows]
