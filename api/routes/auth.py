"""Sign-in for people: POST /v1/auth/login, POST /v1/auth/logout, GET /v1/auth/me."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import SessionDep, SettingsDep
from api.schemas import ErrorPublic
from api.session_auth import (
    check_same_origin,
    clear_session_cookie,
    session_token,
    set_session_cookie,
)
from gridgis.accounts import login as accounts_login
from gridgis.accounts.sessions import SessionInfo, end_token
from gridgis.auth import permissions_of
from gridgis.errors import GridgisError
from gridgis.vocabulary import UserRole

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024, repr=False)


class UserPublic(BaseModel):
    id: int
    name: str
    role: UserRole


class SessionPublic(BaseModel):
    """The signed-in user, what their role allows, and the token state-changing requests
    must send in X-CSRF-Token."""

    user: UserPublic
    csrf_token: str
    permissions: list[str] = Field(description="From the same table that guards every route.")
    expires_in_s: int = Field(description="Seconds until the session ends if left idle.")


def _public(session: SessionInfo, now: datetime) -> SessionPublic:
    return SessionPublic(
        user=UserPublic(id=session.user_id, name=session.user_name, role=session.role),
        csrf_token=session.csrf_token,
        permissions=permissions_of(session.role),
        expires_in_s=session.expires_in_s(now),
    )


def _current(request: Request) -> SessionInfo:
    # Set by api.security.require_api_key, which answers 401 on these routes without one.
    session: SessionInfo = request.state.user
    return session


LOGIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorPublic, "description": "invalid_credentials (one answer for all causes)"},
    403: {"model": ErrorPublic, "description": "csrf: the request came from another origin"},
    429: {"model": ErrorPublic, "description": "locked: wait `Retry-After` seconds"},
}


@router.post("/login", response_model=SessionPublic, responses=LOGIN_ERRORS)
def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    db: SessionDep,
    settings: SettingsDep,
) -> SessionPublic:
    """Sign in with a user name and password; sets the `gridgis_session` cookie."""
    check_same_origin(request.headers)
    now = datetime.now(UTC)
    try:
        token, session = accounts_login.login(
            db,
            body.username,
            body.password,
            now=now,
            client_addr=request.client.host if request.client else None,
            policy=accounts_login.LoginPolicy.from_settings(settings),
        )
    except GridgisError:
        db.commit()  # the failure count, the lock and their audit entries stand
        raise
    previous = session_token(request.headers)
    if previous:  # a new sign-in replaces the browser's old session, never keeps it alive
        end_token(db, previous)
    set_session_cookie(response, token, settings)
    return _public(session, now)


@router.get("/me", response_model=SessionPublic)
def me(request: Request) -> SessionPublic:
    """The signed-in user behind the session cookie (401 without a live session)."""
    return _public(_current(request), datetime.now(UTC))


@router.post("/logout", status_code=204, response_class=Response)
def logout(request: Request, db: SessionDep, settings: SettingsDep) -> Response:
    """Sign out: the session ends on the server and the cookie is cleared."""
    accounts_login.logout(db, _current(request))
    response = Response(status_code=204)
    clear_session_cookie(response, settings)
    return response
