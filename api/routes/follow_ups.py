"""The follow-up call (回访) of a closed incident: recorded once, audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, status

from api.deps import SessionDep
from api.followup_schemas import FollowUpCreate, FollowUpPublic
from api.schemas import ErrorPublic
from api.security import actor
from gridgis.dispatch import followups

router = APIRouter()

IncidentId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The incident's id")]


@router.post(
    "/incidents/{id}/follow-up",
    response_model=FollowUpPublic,
    status_code=status.HTTP_201_CREATED,
    tags=["incidents"],
    responses={
        404: {"model": ErrorPublic, "description": "No such incident"},
        409: {
            "model": ErrorPublic,
            "description": "The incident is not closed yet, or already has its follow-up",
        },
    },
)
def record_follow_up(
    request: Request, db: SessionDep, id: IncidentId, body: FollowUpCreate
) -> FollowUpPublic:
    """Record the callback to the reporter after the incident is closed (one per incident).

    `satisfied` must be null when the reporter was not reached. The reach and satisfaction
    rates in `/v1/kpis` are computed from these records."""
    row = followups.record_follow_up(
        db,
        id,
        reached=body.reached,
        satisfied=body.satisfied,
        note=body.note,
        actor=actor(request),
    )
    return FollowUpPublic.model_validate(row)


@router.get(
    "/incidents/{id}/follow-up",
    response_model=FollowUpPublic,
    tags=["incidents"],
    responses={404: {"model": ErrorPublic, "description": "No such incident or no follow-up"}},
)
def get_follow_up(db: SessionDep, id: IncidentId) -> FollowUpPublic:
    """The incident's follow-up call."""
    return FollowUpPublic.model_validate(followups.get_follow_up(db, id))
