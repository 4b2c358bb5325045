"""Assignments: list, add and remove members of a grid's "2+N" team (audited)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import SessionDep
from api.params import (
    INT8_MAX,
    BigId,
    Cursor,
    Text,
    encode_id_cursor,
    next_link,
    page_position,
)
from api.schemas import ErrorPublic, UtcDatetime
from api.security import actor
from gridgis.dispatch import assignments
from gridgis.filters import require_area, require_responder

router = APIRouter(tags=["assignments"])
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorPublic},
    409: {"model": ErrorPublic},
    422: {"model": ErrorPublic},
}


class AssignmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    responder_id: BigId
    grid_code: str = Field(pattern=r"^[0-9]{12}$", description="12-digit grid code")
    duty: Text = Field(min_length=1, max_length=32, description="A role code, e.g. grid_worker")


class AssignmentOut(BaseModel):
    id: int
    responder_id: int
    grid_code: str
    duty: str
    created_at: UtcDatetime


class AssignmentList(BaseModel):
    assignments: list[AssignmentOut]
    next: str | None


@router.get("/assignments", response_model=AssignmentList, responses=ERRORS)
def list_assignments(
    request: Request,
    db: SessionDep,
    grid: Annotated[str | None, Query(pattern=r"^[0-9]{12}$")] = None,
    responder_id: Annotated[int | None, Query(ge=1, le=INT8_MAX)] = None,
    limit: Annotated[int, Query(ge=1, le=assignments.MAX_PAGE)] = 100,
    after: Annotated[
        int | None,
        Query(ge=0, le=INT8_MAX, deprecated=True, description="Deprecated: use `cursor`"),
    ] = None,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Team memberships in id order, paged (follow `next`)."""
    if grid is not None:
        require_area(db, grid, field="grid", level="grid")
    if responder_id is not None:
        require_responder(db, responder_id, field="responder_id")
    rows = assignments.list_assignments(
        db,
        grid_code=grid,
        responder_id=responder_id,
        after=page_position(cursor, after),
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_url = next_link(request, encode_id_cursor(rows[-1]["id"])) if more and rows else None
    return {"assignments": rows, "next": next_url}


@router.post("/assignments", response_model=AssignmentOut, status_code=201, responses=ERRORS)
def create_assignment(request: Request, db: SessionDep, body: AssignmentCreate) -> Any:
    """Put a responder on a grid's team with a duty."""
    return assignments.create_assignment(
        db,
        responder_id=body.responder_id,
        grid_code=body.grid_code,
        duty=body.duty,
        actor=actor(request),
    )


@router.delete("/assignments/{assignment_id}", status_code=204, responses=ERRORS)
def delete_assignment(
    request: Request,
    db: SessionDep,
    assignment_id: Annotated[int, Path(ge=1, le=INT8_MAX)],
) -> Response:
    """Take a responder off a grid's team."""
    assignments.delete_assignment(db, assignment_id, actor=actor(request))
    return Response(status_code=204)
