"""Request and response models of the follow-up call (回访) after an incident is closed."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class FollowUpCreate(BaseModel):
    """The outcome of calling the reporter back."""

    model_config = ConfigDict(extra="forbid")

    reached: bool = Field(description="Whether the reporter was reached")
    satisfied: bool | None = Field(
        default=None, description="Whether they were satisfied; null when not reached or no answer"
    )
    note: str = Field(default="", max_length=2000, description="What was said")


class FollowUpPublic(BaseModel):
    incident_id: int
    reached: bool
    satisfied: bool | None
    note: str
    recorded_by: str = Field(description="The API key (or CLI) that recorded the call")
    recorded_at: datetime
