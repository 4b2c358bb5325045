"""Annotated dependency aliases for routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from gridgis.settings import Settings


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """A session per request from the pool the lifespan owns; committed on success."""
    factory = request.app.state.session_factory
    with factory() as session:
        yield session
        session.commit()


SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": the commit runs before the response is sent, so a failed commit is an
# error response (503 when the database is gone), never a success for a write that was lost.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
