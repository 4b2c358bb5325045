"""Units: the organisations that reserve patrol tasks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status

from api.deps import SessionDep
from api.params import Cursor, encode_id_cursor, next_link, page_position
from api.patrol_schemas import UnitCreate, UnitListPublic, UnitPublic
from api.schemas import ErrorPublic
from api.security import actor
from gridgis.workflows import units

router = APIRouter(tags=["patrols"])
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorPublic},
    409: {"model": ErrorPublic, "description": "A unit of that name exists"},
    422: {"model": ErrorPublic},
}


@router.post(
    "/units", response_model=UnitPublic, status_code=status.HTTP_201_CREATED, responses=ERRORS
)
def create_unit(request: Request, body: UnitCreate, db: SessionDep) -> dict[str, Any]:
    """Register a unit (a company, a school, a residents' committee, a volunteer team) with a
    contact and a home grid. Give it a key with `gridgis apikey create --role system --unit ID`:
    that key reserves and cancels this unit's patrol tasks only."""
    return units.create_unit(db, body.name, body.contact, body.grid_code, actor=actor(request))


@router.get("/units", response_model=UnitListPublic, responses=ERRORS)
def list_units(
    request: Request,
    db: SessionDep,
    grid: Annotated[str | None, Query(pattern=r"^[0-9]{12}$", description="Home grid")] = None,
    limit: Annotated[int, Query(ge=1, le=units.MAX_PAGE)] = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Units in id order, paged (follow `next`)."""
    rows = units.list_units(db, grid=grid, after=page_position(cursor, None), limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_url = next_link(request, encode_id_cursor(rows[-1]["id"])) if more and rows else None
    return {"units": rows, "next": next_url}


@router.get("/units/{unit_id}", response_model=UnitPublic, responses=ERRORS)
def get_unit(unit_id: Annotated[int, Path(ge=1, le=2**63 - 1)], db: SessionDep) -> dict[str, Any]:
    """One unit."""
    return units.get_unit(db, unit_id)
