"""Responder SQL: keyset paging with placement, teams, roles, facilities, claims for incidents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text

from gridgis.db import Executor
from gridgis.dispatch.sql.nearest import FRESH_FIX_JOIN, PLACED_SOURCE, SOURCE_PARAMS
from gridgis.vocabulary import BUSY, DISPATCHED

# Where dispatch would place each responder right now (live fix if fresh, else home), keyset-paged.
_RESPONDERS_PAGE = text(
    f"""
    SELECT r.id, r.ref, r.name, r.role, r.status, r.skills, r.home_grid_code, r.station_code,
           {PLACED_SOURCE} AS position_source,
           p.recorded_at,
           ST_X(COALESCE(p.position, r.home)) AS lon, ST_Y(COALESCE(p.position, r.home)) AS lat,
           ST_X(r.home) AS home_lon, ST_Y(r.home) AS home_lat
    FROM responders r
    {FRESH_FIX_JOIN}
    WHERE r.id > :after
      AND (CAST(:roles AS varchar[]) IS NULL OR r.role = ANY(CAST(:roles AS varchar[])))
      AND (CAST(:statuses AS varchar[]) IS NULL OR r.status = ANY(CAST(:statuses AS varchar[])))
      AND (CAST(:ids AS bigint[]) IS NULL OR r.id = ANY(CAST(:ids AS bigint[])))
      AND (CAST(:grid AS varchar) IS NULL OR r.home_grid_code = :grid
           OR EXISTS (SELECT 1 FROM assignments a WHERE a.responder_id = r.id
                      AND a.grid_code = :grid))
    ORDER BY r.id
    LIMIT :limit
    """
)


def responders_page(
    db: Executor,
    *,
    fresh_since: Any,
    after: int = 0,
    limit: int = 100,
    roles: Sequence[str] | None = None,
    statuses: Sequence[str] | None = None,
    grid: str | None = None,
    ids: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """Responders with id > `after`, in id order, each placed where dispatch would use them."""
    rows = db.execute(
        _RESPONDERS_PAGE,
        {
            "fresh_since": fresh_since,
            "after": after,
            "limit": limit,
            "roles": list(roles) if roles else None,
            "statuses": list(statuses) if statuses else None,
            "grid": grid,
            "ids": list(ids) if ids else None,
            **SOURCE_PARAMS,
        },
    )
    return [dict(r._mapping) for r in rows]


def responder_teams(db: Executor, responder_ids: Sequence[int]) -> dict[int, list[dict[str, str]]]:
    """Grid assignments of the given responders."""
    rows = db.execute(
        text(
            """
            SELECT responder_id, grid_code, duty FROM assignments
            WHERE responder_id = ANY(CAST(:ids AS bigint[])) ORDER BY responder_id, grid_code
            """
        ),
        {"ids": list(responder_ids)},
    )
    teams: dict[int, list[dict[str, str]]] = {}
    for r in rows:
        teams.setdefault(int(r.responder_id), []).append({"grid_code": r.grid_code, "duty": r.duty})
    return teams


def known_roles(db: Executor) -> set[str]:
    """The role vocabulary (the roles table)."""
    return {r[0] for r in db.execute(text("SELECT code FROM roles"))}


def facility_exists(db: Executor, code: str, facility_type: str | None = None) -> bool:
    """Whether a facility (optionally of a type) exists."""
    row = db.execute(
        text(
            "SELECT 1 FROM facilities WHERE code = :code "
            "AND (CAST(:type AS varchar) IS NULL OR type = :type)"
        ),
        {"code": code, "type": facility_type},
    ).first()
    return row is not None


# -- claims for incidents: row locks on `responders` ---------------------------------------
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
        {"incident": incident_id, "busy": BUSY, "dispatched": DISPATCHED},
    )
    return [int(r[0]) for r in rows]
