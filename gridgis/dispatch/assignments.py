"""Assignments: who is on a grid's "2+N" team, with each change in the audit trail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from gridgis import audit
from gridgis.boundaries import sql as boundaries_sql
from gridgis.db import Executor
from gridgis.dispatch.sql import responders as responders_sql
from gridgis.errors import Conflict, InvalidInput, NotFound

MAX_PAGE = 1000


def _row(db: Executor, assignment_id: int) -> dict[str, Any] | None:
    row = db.execute(
        text(
            "SELECT id, responder_id, grid_code, duty, created_at FROM assignments WHERE id = :id"
        ),
        {"id": assignment_id},
    ).first()
    return None if row is None else dict(row._mapping)


def team_ids_of_grids(db: Executor, grid_codes: list[str]) -> dict[str, set[int]]:
    """The responders on each grid's team, by grid code (grids without a team are left out)."""
    rows = db.execute(
        text(
            "SELECT grid_code, responder_id FROM assignments "
            "WHERE grid_code = ANY(CAST(:codes AS varchar[]))"
        ),
        {"codes": sorted(set(grid_codes))},
    )
    members: dict[str, set[int]] = {}
    for grid_code, responder_id in rows:
        members.setdefault(grid_code, set()).add(int(responder_id))
    return members


def create_assignment(
    db: Executor,
    *,
    responder_id: int,
    grid_code: str,
    duty: str,
    actor: str = audit.LIBRARY_ACTOR,
) -> dict[str, Any]:
    """Put a responder on a grid's team with a duty (a grid of the active generation)."""
    if duty not in responders_sql.known_roles(db):
        raise InvalidInput(f"Unknown duty {duty!r}.", field="duty")
    generation = boundaries_sql.active_generation_id(db)
    if grid_code not in set(boundaries_sql.area_codes(db, generation, "grid")):
        raise InvalidInput(f"No grid {grid_code!r} in the active generation.", field="grid_code")
    exists = db.execute(
        text("SELECT 1 FROM responders WHERE id = :id FOR SHARE"), {"id": responder_id}
    ).first()
    if exists is None:
        raise NotFound(f"No responder with id {responder_id}.", field="responder_id")
    new_id = db.execute(
        text(
            """
            INSERT INTO assignments (responder_id, grid_code, duty)
            VALUES (:responder_id, :grid_code, :duty)
            ON CONFLICT DO NOTHING RETURNING id
            """
        ),
        {"responder_id": responder_id, "grid_code": grid_code, "duty": duty},
    ).scalar()
    if new_id is None:
        raise Conflict(
            f"Responder {responder_id} already has duty {duty} in grid {grid_code}.",
            field="duty",
        )
    created = _row(db, int(new_id))
    assert created is not None
    audit.record(
        db,
        actor=actor,
        action="assignment.create",
        entity="assignment",
        entity_id=str(new_id),
        after={"responder_id": responder_id, "grid_code": grid_code, "duty": duty},
    )
    return created


def delete_assignment(
    db: Executor, assignment_id: int, *, actor: str = audit.LIBRARY_ACTOR
) -> dict[str, Any]:
    """Take a responder off a grid's team; returns what was removed."""
    before = db.execute(
        text(
            "DELETE FROM assignments WHERE id = :id "
            "RETURNING id, responder_id, grid_code, duty, created_at"
        ),
        {"id": assignment_id},
    ).first()
    if before is None:
        raise NotFound(f"No assignment with id {assignment_id}.", field="assignment_id")
    removed = dict(before._mapping)
    audit.record(
        db,
        actor=actor,
        action="assignment.delete",
        entity="assignment",
        entity_id=str(assignment_id),
        before={k: removed[k] for k in ("responder_id", "grid_code", "duty")},
    )
    return removed


def list_assignments(
    db: Executor,
    *,
    grid_code: str | None = None,
    responder_id: int | None = None,
    after: int = 0,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Assignments in id order, filtered by grid and/or responder."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}.", field="limit")
    rows = db.execute(
        text(
            """
            SELECT id, responder_id, grid_code, duty, created_at FROM assignments
            WHERE id > :after
              AND (CAST(:grid AS varchar) IS NULL OR grid_code = :grid)
              AND (CAST(:responder AS bigint) IS NULL OR responder_id = :responder)
            ORDER BY id LIMIT :limit
            """
        ),
        {"after": after, "grid": grid_code, "responder": responder_id, "limit": limit},
    )
    return [dict(r._mapping) for r in rows]
