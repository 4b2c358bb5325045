"""Sign-in sessions: a random 256-bit token in the cookie, only its SHA-256 in the database,
a CSRF token beside it, an idle timeout and an absolute lifetime."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text

from gridgis.db import Executor
from gridgis.errors import SessionExpired, Unauthenticated

COOKIE_NAME = "gridgis_session"
# A token is 43 URL-safe characters; anything much longer is not one of ours.
MAX_TOKEN_LENGTH = 128
# last_seen_at is written at most this often per session: idle timeouts are minutes long, and
# a write on every request would make every console read a write.
TOUCH_EVERY_S = 15


@dataclass(frozen=True)
class SessionInfo:
    """A live session and who it belongs to."""

    id: int
    user_id: int
    user_name: str
    role: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    # When it ends if no request comes first: the idle deadline or the absolute one.
    expires_at: datetime

    def expires_in_s(self, now: datetime) -> int:
        """Seconds until the session ends without further use."""
        return max(0, int((self.expires_at - now).total_seconds()))


def hash_token(token: str) -> str:
    """The stored form of a session token (256 random bits need no salt or stretching)."""
    return hashlib.sha256(token.encode()).hexdigest()


def create(
    db: Executor,
    user_id: int,
    *,
    now: datetime,
    idle_s: int,
    max_s: int,
    client_addr: str | None = None,
) -> tuple[str, SessionInfo]:
    """Open a session; returns (the cookie's token — never stored —, the session)."""
    token = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    row = db.execute(
        text(
            """
            INSERT INTO user_sessions (user_id, token_hash, csrf_token, created_at,
                                       last_seen_at, expires_at, idle_timeout_s, client_addr)
            SELECT :user_id, :hash, :csrf, :now, :now, :expires, :idle, :addr
            RETURNING id, (SELECT name FROM users WHERE id = :user_id) AS name,
                          (SELECT role FROM users WHERE id = :user_id) AS role
            """
        ),
        {
            "user_id": user_id,
            "hash": hash_token(token),
            "csrf": csrf_token,
            "now": now,
            "expires": now + timedelta(seconds=max_s),
            "idle": idle_s,
            "addr": client_addr[:64] if client_addr else None,
        },
    ).one()
    info = SessionInfo(
        id=int(row.id),
        user_id=user_id,
        user_name=row.name,
        role=row.role,
        csrf_token=csrf_token,
        created_at=now,
        last_seen_at=now,
        expires_at=min(now + timedelta(seconds=idle_s), now + timedelta(seconds=max_s)),
    )
    return token, info


def check(db: Executor, token: str | None, now: datetime) -> SessionInfo:
    """The live session for a cookie's token, its last-seen time moved to `now`.

    Unauthenticated for no or an unknown token, SessionExpired for one that ended (idle too
    long, past its lifetime, or its user disabled); an ended session is deleted."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise Unauthenticated("Sign in first (no valid session cookie).", field=COOKIE_NAME)
    row = db.execute(
        text(
            """
            SELECT s.id, s.user_id, u.name, u.role, s.csrf_token, s.created_at,
                   s.last_seen_at, s.expires_at, s.idle_timeout_s,
                   u.disabled_at IS NOT NULL AS disabled
            FROM user_sessions s JOIN users u ON u.id = s.user_id
            WHERE s.token_hash = :hash
            """
        ),
        {"hash": hash_token(token)},
    ).first()
    if row is None:
        raise Unauthenticated("The session is not valid; sign in again.", field=COOKIE_NAME)
    idle = timedelta(seconds=row.idle_timeout_s)
    if row.disabled or now >= row.expires_at or now >= row.last_seen_at + idle:
        db.execute(text("DELETE FROM user_sessions WHERE id = :id"), {"id": row.id})
        raise SessionExpired("The session has ended; sign in again.", field=COOKIE_NAME)
    last_seen = row.last_seen_at
    if (now - last_seen).total_seconds() >= TOUCH_EVERY_S:
        db.execute(
            text(
                "UPDATE user_sessions SET last_seen_at = :now "
                "WHERE id = :id AND last_seen_at < :now"
            ),
            {"id": row.id, "now": now},
        )
        last_seen = max(last_seen, now)
    return SessionInfo(
        id=int(row.id),
        user_id=int(row.user_id),
        user_name=row.name,
        role=row.role,
        csrf_token=row.csrf_token,
        created_at=row.created_at,
        last_seen_at=last_seen,
        expires_at=min(row.expires_at, last_seen + idle),
    )


def lookup(db: Executor, token: str | None, now: datetime) -> SessionInfo | None:
    """The live session for a cookie's token (touching its last-seen time), or None.

    For pages that redirect to sign-in rather than answer 401."""
    try:
        return check(db, token, now)
    except Unauthenticated:
        return None


def end(db: Executor, session_id: int) -> None:
    """Delete a session (sign-out)."""
    db.execute(text("DELETE FROM user_sessions WHERE id = :id"), {"id": session_id})


def end_token(db: Executor, token: str) -> None:
    """Delete the session behind a cookie's token, if there is one."""
    if token and len(token) <= MAX_TOKEN_LENGTH:
        db.execute(
            text("DELETE FROM user_sessions WHERE token_hash = :hash"), {"hash": hash_token(token)}
        )


def purge_ended(db: Executor, now: datetime) -> int:
    """Delete sessions that have ended; returns how many."""
    result = db.execute(
        text(
            """
            DELETE FROM user_sessions
            WHERE expires_at <= :now
               OR last_seen_at + make_interval(secs => idle_timeout_s) <= :now
            """
        ),
        {"now": now},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
