"""The one rule for filters naming things: a thing that does not exist is NotFound (404),
a filter that exists but matches nothing is an empty answer."""

from __future__ import annotations

from sqlalchemy import text

from gridgis.db import Executor
from gridgis.errors import NotFound

_AREA = text(
    """
    SELECT 1 FROM areas a JOIN generations g ON g.id = a.generation_id
    WHERE a.code = :code
      AND (CAST(:generation_id AS integer) IS NULL AND g.active OR g.id = :generation_id)
      AND (CAST(:level AS varchar) IS NULL OR a.level = :level)
    """
)


def require_area(
    db: Executor,
    code: str,
    *,
    field: str,
    generation_id: int | None = None,
    level: str | None = None,
) -> None:
    """NotFound naming `field` unless area `code` (of `level`, when given) exists in the
    generation (default: the active one)."""
    found = db.execute(
        _AREA, {"code": code, "generation_id": generation_id, "level": level}
    ).first()
    if found is None:
        what = "grid" if level == "grid" else "area"
        raise NotFound(f"No {what} with code {code!r} in this generation.", field=field)


def require_responder(db: Executor, responder_id: int, *, field: str) -> None:
    """NotFound naming `field` unless the responder exists."""
    found = db.execute(text("SELECT 1 FROM responders WHERE id = :id"), {"id": responder_id})
    if found.first() is None:
        raise NotFound(f"No responder with id {responder_id}.", field=field)
