"""Users: create, list, disable, enable, reset password. Names are unique ignoring case."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text

from gridgis import audit
from gridgis.accounts.passwords import hash_password
from gridgis.db import Executor
from gridgis.errors import Conflict, InvalidInput, NotFound
from gridgis.vocabulary import USER_ROLES

# The same rule as the users table's check constraint.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class UserRecord:
    """A user as sign-in sees it (the hash never leaves gridgis.accounts)."""

    id: int
    name: str
    role: str
    password_hash: str
    disabled: bool


def check_name(name: str) -> str:
    """The name, or InvalidInput: 1-64 letters, digits, '.', '_' or '-', starting alphanumeric."""
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidInput(
            "name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.",
            field="name",
        )
    return name


def check_role(role: str) -> str:
    """The role, or InvalidInput unless it is one people may hold."""
    if role not in USER_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(USER_ROLES)}.", field="role")
    return role


def create_user(
    db: Executor, *, name: str, role: str, password: str, actor: str = audit.LIBRARY_ACTOR
) -> int:
    """Create a user and return its id (Conflict when the name is taken, in any case)."""
    check_name(name)
    check_role(role)
    password_hash = hash_password(password)
    row = db.execute(
        text(
            """
            INSERT INTO users (name, role, password_hash) VALUES (:name, :role, :hash)
            ON CONFLICT ((lower(name))) DO NOTHING RETURNING id
            """
        ),
        {"name": name, "role": role, "hash": password_hash},
    ).first()
    if row is None:
        raise Conflict(f"A user named {name!r} exists.", field="name")
    user_id = int(row[0])
    audit.record(
        db,
        actor=actor,
        action="user.create",
        entity="user",
        entity_id=str(user_id),
        after={"name": name, "role": role},
    )
    return user_id


def find_user(db: Executor, name: str) -> UserRecord | None:
    """The user called `name` (any case), disabled or not; None when there is none."""
    if not NAME_PATTERN.fullmatch(name):
        return None
    row = db.execute(
        text(
            "SELECT id, name, role, password_hash, disabled_at IS NOT NULL AS disabled "
            "FROM users WHERE lower(name) = lower(:name)"
        ),
        {"name": name},
    ).first()
    if row is None:
        return None
    return UserRecord(
        id=int(row.id),
        name=row.name,
        role=row.role,
        password_hash=row.password_hash,
        disabled=bool(row.disabled),
    )


def _require(db: Executor, name_or_id: str) -> UserRecord:
    user = find_user(db, name_or_id)
    if user is None and name_or_id.isdigit():
        row = db.execute(
            text("SELECT name FROM users WHERE id = :id"), {"id": int(name_or_id)}
        ).first()
        user = find_user(db, row.name) if row is not None else None
    if user is None:
        raise NotFound(f"No user {name_or_id!r}.", field="user")
    return user


def list_users(db: Executor) -> list[dict[str, Any]]:
    """Every user with status and open session count (never the password hash)."""
    rows = db.execute(
        text(
            """
            SELECT u.id, u.name, u.role, u.created_at, u.password_changed_at, u.disabled_at,
                   u.last_login_at,
                   (SELECT COUNT(*) FROM user_sessions s WHERE s.user_id = u.id) AS sessions
            FROM users u ORDER BY u.id
            """
        )
    )
    return [dict(r._mapping) for r in rows]


def _end_sessions(db: Executor, user_id: int) -> int:
    result = db.execute(text("DELETE FROM user_sessions WHERE user_id = :id"), {"id": user_id})
    return int(result.rowcount)  # type: ignore[attr-defined]


def disable_user(
    db: Executor, name_or_id: str, *, now: datetime, actor: str = audit.LIBRARY_ACTOR
) -> int:
    """Disable a user and end their sessions at once; returns the id."""
    user = _require(db, name_or_id)
    db.execute(
        text("UPDATE users SET disabled_at = COALESCE(disabled_at, :now) WHERE id = :id"),
        {"id": user.id, "now": now},
    )
    ended = _end_sessions(db, user.id)
    audit.record(
        db,
        actor=actor,
        action="user.disable",
        entity="user",
        entity_id=str(user.id),
        before={"disabled": user.disabled},
        after={"disabled": True, "sessions_ended": ended},
    )
    return user.id


def enable_user(db: Executor, name_or_id: str, *, actor: str = audit.LIBRARY_ACTOR) -> int:
    """Let a disabled user sign in again; returns the id."""
    user = _require(db, name_or_id)
    db.execute(text("UPDATE users SET disabled_at = NULL WHERE id = :id"), {"id": user.id})
    audit.record(
        db,
        actor=actor,
        action="user.enable",
        entity="user",
        entity_id=str(user.id),
        before={"disabled": user.disabled},
        after={"disabled": False},
    )
    return user.id


def reset_password(
    db: Executor,
    name_or_id: str,
    password: str,
    *,
    now: datetime,
    actor: str = audit.LIBRARY_ACTOR,
) -> int:
    """Set a new password and end the user's sessions (a stolen session dies with the old
    password); returns the id."""
    user = _require(db, name_or_id)
    db.execute(
        text("UPDATE users SET password_hash = :hash, password_changed_at = :now WHERE id = :id"),
        {"id": user.id, "hash": hash_password(password), "now": now},
    )
    ended = _end_sessions(db, user.id)
    audit.record(
        db,
        actor=actor,
        action="user.reset_password",
        entity="user",
        entity_id=str(user.id),
        after={"sessions_ended": ended},
    )
    return user.id


def rehash_password(db: Executor, user_id: int, password_hash: str) -> None:
    """Store a stronger hash of the same password (after a sign-in proved it)."""
    db.execute(
        text("UPDATE users SET password_hash = :hash WHERE id = :id"),
        {"id": user_id, "hash": password_hash},
    )
