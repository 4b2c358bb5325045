"""Sign-in: check the password, count failures per user name and per client address, lock
after too many, open a session, and write every outcome to the audit trail."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text

from gridgis import audit
from gridgis.accounts import passwords, sessions, users
from gridgis.db import Executor
from gridgis.errors import InvalidCredentials, LoginLocked
from gridgis.settings import Settings

# The audit actor of a sign-in that did not succeed (nobody is known yet).
ANONYMOUS_ACTOR = "anonymous"


@dataclass(frozen=True)
class LoginPolicy:
    """How long sessions live and how failed sign-ins are limited."""

    idle_s: int = 1800
    max_s: int = 12 * 3600
    max_failures: int = 5
    max_failures_per_address: int = 50
    window_s: int = 900
    lock_s: int = 900

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginPolicy:
        """The policy configured by GRIDGIS_SESSION_* and GRIDGIS_LOGIN_*."""
        return cls(
            idle_s=settings.session_idle_s,
            max_s=settings.session_max_s,
            max_failures=settings.login_max_failures,
            max_failures_per_address=settings.login_max_failures_per_address,
            window_s=settings.login_window_s,
            lock_s=settings.login_lock_s,
        )


def _name_subject(name: str) -> str:
    # Hashed: people type passwords into the name field, and this table must not keep them.
    return hashlib.sha256(name.strip().lower().encode()).hexdigest()


def _locked_for(db: Executor, scope: str, subject: str, now: datetime, *, hold: bool) -> int:
    """Seconds the subject stays locked (0 when free). With hold, the subject's row is created
    if needed and locked to this transaction, so that concurrent attempts on one name queue
    behind each other instead of all guessing before the first failure is counted."""
    if hold:
        db.execute(
            text(
                """
                INSERT INTO login_throttles (scope, subject, failures, window_start)
                VALUES (:scope, :subject, 0, :now) ON CONFLICT DO NOTHING
                """
            ),
            {"scope": scope, "subject": subject, "now": now},
        )
    row = db.execute(
        text(
            "SELECT locked_until FROM login_throttles WHERE scope = :scope AND subject = :subject"
            + (" FOR UPDATE" if hold else "")
        ),
        {"scope": scope, "subject": subject},
    ).first()
    if row is None or row.locked_until is None or row.locked_until <= now:
        return 0
    return max(1, math.ceil((row.locked_until - now).total_seconds()))


def _count_failure(
    db: Executor, scope: str, subject: str, now: datetime, *, limit: int, policy: LoginPolicy
) -> bool:
    """Count one failure; True when it reaches the limit and the subject is now locked."""
    failures = db.execute(
        text(
            """
            INSERT INTO login_throttles AS t (scope, subject, failures, window_start)
            VALUES (:scope, :subject, 1, :now)
            ON CONFLICT (scope, subject) DO UPDATE SET
              failures = CASE WHEN t.window_start <= :window_opened THEN 1
                              ELSE t.failures + 1 END,
              window_start = CASE WHEN t.window_start <= :window_opened THEN :now
                                  ELSE t.window_start END
            RETURNING failures
            """
        ),
        {
            "scope": scope,
            "subject": subject,
            "now": now,
            "window_opened": now - timedelta(seconds=policy.window_s),
        },
    ).scalar_one()
    if failures < limit:
        return False
    db.execute(
        text(
            """
            UPDATE login_throttles SET failures = 0, window_start = :now, locked_until = :until
            WHERE scope = :scope AND subject = :subject
            """
        ),
        {
            "scope": scope,
            "subject": subject,
            "now": now,
            "until": now + timedelta(seconds=policy.lock_s),
        },
    )
    return True


def _purge_throttles(db: Executor, now: datetime, policy: LoginPolicy) -> None:
    """Forget counts whose window has passed and locks that have run out."""
    db.execute(
        text(
            """
            DELETE FROM login_throttles
            WHERE window_start <= :window_opened AND (locked_until IS NULL OR locked_until <= :now)
            """
        ),
        {"now": now, "window_opened": now - timedelta(seconds=policy.window_s)},
    )


def _refuse_locked(
    db: Executor, retry_after_s: int, user: users.UserRecord | None, client: str
) -> LoginLocked:
    audit.record(
        db,
        actor=ANONYMOUS_ACTOR,
        action="user.login_locked",
        entity="user",
        entity_id=str(user.id) if user else "unknown",
        after={"user": user.name if user else None, "client": client},
    )
    return LoginLocked(
        f"Too many failed sign-ins; try again in {retry_after_s} seconds.",
        retry_after_s=retry_after_s,
    )


def login(
    db: Executor,
    name: str,
    password: str,
    *,
    now: datetime,
    client_addr: str | None,
    policy: LoginPolicy,
) -> tuple[str, sessions.SessionInfo]:
    """Open a session for `name` and `password`: returns (cookie token, session).

    InvalidCredentials for an unknown or disabled user or a wrong password (one answer for
    all three); LoginLocked while the name or the client address is locked. Failures and
    locks are written even though the caller's request fails: the caller must commit before
    raising (the API's sign-in route does)."""
    client = (client_addr or "unknown")[:64]
    user = users.find_user(db, name)
    # The address first, without holding its row: one office behind a proxy shares it.
    retry = _locked_for(db, "address", client, now, hold=False)
    if not retry:
        retry = _locked_for(db, "name", _name_subject(name), now, hold=True)
    if retry:
        raise _refuse_locked(db, retry, user, client)

    ok = passwords.verify_password(user.password_hash if user else None, password)
    if user is None or not ok or user.disabled:
        reason = "unknown_user" if user is None else "disabled" if user.disabled else "password"
        locked_name = _count_failure(
            db, "name", _name_subject(name), now, limit=policy.max_failures, policy=policy
        )
        locked_address = _count_failure(
            db, "address", client, now, limit=policy.max_failures_per_address, policy=policy
        )
        # An unknown name is not recorded: it may be a password typed in the wrong field.
        after = {"user": user.name if user else None, "client": client, "reason": reason}
        entity_id = str(user.id) if user else "unknown"
        audit.record(
            db,
            actor=ANONYMOUS_ACTOR,
            action="user.login_failed",
            entity="user",
            entity_id=entity_id,
            after=after,
        )
        if locked_name or locked_address:
            _purge_throttles(db, now, policy)
            audit.record(
                db,
                actor=ANONYMOUS_ACTOR,
                action="user.lockout",
                entity="user",
                entity_id=entity_id,
                after={
                    "user": user.name if user else None,
                    "client": client,
                    "locked": "name" if locked_name else "address",
                    "lock_s": policy.lock_s,
                },
            )
        raise InvalidCredentials("Unknown user name or wrong password.", field="password")

    db.execute(
        text("DELETE FROM login_throttles WHERE scope = 'name' AND subject = :subject"),
        {"subject": _name_subject(name)},
    )
    if passwords.needs_rehash(user.password_hash):
        users.rehash_password(db, user.id, passwords.rehash(password))
    db.execute(
        text("UPDATE users SET last_login_at = :now WHERE id = :id"), {"id": user.id, "now": now}
    )
    sessions.purge_ended(db, now)
    _purge_throttles(db, now, policy)
    token, session = sessions.create(
        db, user.id, now=now, idle_s=policy.idle_s, max_s=policy.max_s, client_addr=client
    )
    audit.record(
        db,
        actor=audit.user_actor(user.name),
        action="user.login",
        entity="user",
        entity_id=str(user.id),
        after={"session": session.id, "client": client},
    )
    return token, session


def logout(db: Executor, session: sessions.SessionInfo) -> None:
    """End a session and record it."""
    sessions.end(db, session.id)
    audit.record(
        db,
        actor=audit.user_actor(session.user_name),
        action="user.logout",
        entity="user",
        entity_id=str(session.user_id),
        after={"session": session.id},
    )
