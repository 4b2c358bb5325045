"""Sign-in sessions over HTTP: the session cookie, its CSRF token and the same-origin check.

`principal_from_session` turns request headers into the signed-in user; it needs no FastAPI
request, so an ASGI layer that authenticates before the body is read can call it too."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlsplit

from fastapi import Response
from sqlalchemy.orm import Session
from starlette.requests import cookie_parser

from gridgis.accounts import sessions
from gridgis.errors import CsrfRejected, GridgisError
from gridgis.settings import Settings

COOKIE_NAME = sessions.COOKIE_NAME
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session_token(headers: Mapping[str, str]) -> str | None:
    """The session cookie's value, or None when the request has none."""
    cookie = headers.get("cookie")
    if not cookie:
        return None
    return cookie_parser(cookie).get(COOKIE_NAME)


def check_same_origin(headers: Mapping[str, str]) -> None:
    """CsrfRejected when the browser says the request comes from another site: an Origin
    header that is not this server's (as named by Host), or Sec-Fetch-Site: cross-site."""
    origin = headers.get("origin")
    if origin is not None:
        host = (headers.get("host") or "").lower()
        if origin == "null" or urlsplit(origin).netloc.lower() != host:
            raise CsrfRejected("Cross-origin requests may not use the session.", field="Origin")
    if headers.get("sec-fetch-site") == "cross-site":
        raise CsrfRejected("Cross-site requests may not use the session.", field="Origin")


def principal_from_session(
    db: Session, method: str, headers: Mapping[str, str], now: datetime
) -> sessions.SessionInfo | None:
    """The signed-in user behind the request's session cookie; None without the cookie.

    401 (Unauthenticated / SessionExpired) for a forged, unknown or ended session. A
    state-changing request must also come from this origin and carry the session's CSRF
    token in X-CSRF-Token (compared in constant time), else CsrfRejected (403)."""
    token = session_token(headers)
    if token is None:
        return None
    info = sessions.check(db, token, now)
    if method.upper() not in SAFE_METHODS:
        check_same_origin(headers)
        presented = headers.get(CSRF_HEADER.lower(), "")
        if not hmac.compare_digest(presented.encode(), info.csrf_token.encode()):
            raise CsrfRejected(
                f"Send the session's CSRF token in the {CSRF_HEADER} header.", field=CSRF_HEADER
            )
    return info


def principal_from_session_committed(
    db: Session, method: str, headers: Mapping[str, str], now: datetime
) -> sessions.SessionInfo | None:
    """principal_from_session, then end the transaction (keeping the last-seen update and the
    removal of an ended session), so the request holds no connection while it waits."""
    try:
        info = principal_from_session(db, method, headers, now)
    except GridgisError:
        db.commit()
        raise
    except BaseException:
        db.rollback()
        raise
    db.commit()
    return info


def set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    """Send the session cookie: HttpOnly, SameSite=Strict, Path=/, Secure when configured."""
    response.set_cookie(
        COOKIE_NAME,
        token,
        path="/",
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    """Tell the browser to drop the session cookie."""
    response.delete_cookie(
        COOKIE_NAME,
        path="/",
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
    )
