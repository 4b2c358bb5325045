"""GET /v1/audit: the audit trail (admin only), filtered by entity and time, paged with `next`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from api.deps import SessionDep
from api.params import (
    INT8_MAX,
    Cursor,
    QueryTime,
    encode_id_cursor,
    next_link,
    page_position,
)
from api.schemas import ErrorPublic, JsonObject, UtcDatetime
from gridgis import audit

router = APIRouter(tags=["audit"])

NAME_PATTERN = r"^[A-Za-z0-9_.:-]+$"


class AuditEntryPublic(BaseModel):
    """One change: who made it, when, and the values before and after."""

    id: int
    at: UtcDatetime = Field(description="When the change was committed (its transaction's time).")
    actor: str = Field(
        description='"key:NAME" (an API key), "user:NAME" (a signed-in user), "anonymous" '
        '(a failed sign-in), "cli" or "library".'
    )
    actor_key_id: int | None = Field(
        default=None, description="The API key's id when a key acted (names are never reused)."
    )
    actor_user_id: int | None = Field(
        default=None, description='The user\'s id when the actor is "user:NAME".'
    )
    action: str = Field(description="e.g. incident.create, incident.event, responder.update")
    entity: str = Field(description="incident, responder, api_key, generation, ...")
    entity_id: str
    before: JsonObject | None
    after: JsonObject | None


class AuditPagePublic(BaseModel):
    entries: list[AuditEntryPublic]
    next: str | None = Field(description="The next page's URL; null on the last page.")


@router.get(
    "/audit",
    response_model=AuditPagePublic,
    responses={422: {"model": ErrorPublic, "description": "Invalid input; `field` names it"}},
)
def list_audit(
    request: Request,
    db: SessionDep,
    entity: Annotated[
        str | None,
        Query(max_length=32, pattern=NAME_PATTERN, description="e.g. incident, responder"),
    ] = None,
    entity_id: Annotated[
        str | None,
        Query(max_length=64, pattern=NAME_PATTERN, description="Only this entity's entries"),
    ] = None,
    from_: Annotated[
        QueryTime | None, Query(alias="from", description="At or after (RFC 3339, zone or Z)")
    ] = None,
    to: Annotated[QueryTime | None, Query(description="Before (RFC 3339, zone or Z)")] = None,
    limit: Annotated[int, Query(ge=1, le=audit.MAX_PAGE)] = 100,
    after: Annotated[
        int | None,
        Query(ge=0, le=INT8_MAX, deprecated=True, description="Deprecated: use `cursor`"),
    ] = None,
    cursor: Cursor = None,
) -> AuditPagePublic:
    """Audit entries in the order they were written, oldest first; follow `next`."""
    filters: dict[str, Any] = {
        "entity": entity,
        "entity_id": entity_id,
        "since": from_,
        "until": to,
    }
    rows = audit.entries(db, after_id=page_position(cursor, after), limit=limit, **filters)
    next_url = None
    if len(rows) == limit and audit.entries(db, after_id=rows[-1]["id"], limit=1, **filters):
        next_url = next_link(request, encode_id_cursor(rows[-1]["id"]))
    return AuditPagePublic.model_validate({"entries": rows, "next": next_url})
