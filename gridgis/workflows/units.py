"""Units: the organisations that reserve patrol tasks (companies, schools, residents'
committees, volunteer teams)."""

from __future__ import annotations

from typing import Any

from gridgis.audit import LIBRARY_ACTOR, record
from gridgis.db import Executor
from gridgis.errors import Conflict, InvalidInput, NotFound
from gridgis.filters import require_area
from gridgis.workflows import sql

MAX_PAGE = 1000


def clean_text(value: Any, field: str, max_len: int, *, required: bool = True) -> str:
    """`value` stripped, or InvalidInput naming `field` (empty, too long, or holding NUL)."""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"{field} must be a non-empty string.", field=field)
    value = value.strip()
    if len(value) > max_len:
        raise InvalidInput(f"{field} must be at most {max_len} characters.", field=field)
    if "\x00" in value:  # PostgreSQL text cannot hold NUL
        raise InvalidInput(f"{field} must not contain NUL characters.", field=field)
    return value


def check_grid(db: Executor, code: Any, field: str = "grid_code") -> str:
    """`code` if it names a grid of the active generation, else InvalidInput naming `field`."""
    if not isinstance(code, str) or not code.isdigit() or len(code) > 20:
        raise InvalidInput(f"{field} must be a grid code (digits).", field=field)
    if db.execute(sql.GRIDS_NAMED, {"codes": [code]}).first() is None:
        raise InvalidInput(f"{field} {code!r} is not a grid of the active generation.", field=field)
    return code


def create_unit(
    db: Executor, name: Any, contact: Any, grid_code: Any, *, actor: str = LIBRARY_ACTOR
) -> dict[str, Any]:
    """A new unit (Conflict when the name is taken)."""
    name = clean_text(name, "name", 200)
    contact = clean_text(contact, "contact", 200)
    grid_code = check_grid(db, grid_code)
    row = (
        db.execute(sql.INSERT_UNIT, {"name": name, "contact": contact, "grid_code": grid_code})
        .mappings()
        .first()
    )
    if row is None:
        raise Conflict(f"A unit named {name!r} exists.", field="name")
    unit = dict(row)
    record(
        db,
        actor=actor,
        action="unit.create",
        entity="unit",
        entity_id=str(unit["id"]),
        after={"name": name, "contact": contact, "grid_code": grid_code},
    )
    return unit


def get_unit(db: Executor, unit_id: int) -> dict[str, Any]:
    """One unit, or NotFound."""
    row = db.execute(sql.GET_UNIT, {"id": unit_id}).mappings().first()
    if row is None:
        raise NotFound(f"No unit with id {unit_id}.", field="unit_id")
    return dict(row)


def list_units(
    db: Executor, *, grid: str | None = None, after: int = 0, limit: int = 100
) -> list[dict[str, Any]]:
    """Units in id order, after the id `after`."""
    # A page of MAX_PAGE, plus the one row that tells a caller another page follows.
    if not 1 <= limit <= MAX_PAGE + 1:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}.", field="limit")
    if grid is not None:
        require_area(db, grid, field="grid", level="grid")
    rows = db.execute(sql.LIST_UNITS, {"grid": grid, "after": after, "limit": limit})
    return [dict(r._mapping) for r in rows]
