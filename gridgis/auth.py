"""API keys and roles: keys are random, shown once, stored as HMAC-SHA256 with a server pepper."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text

from gridgis.db import Executor
from gridgis.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from gridgis.vocabulary import KEY_ROLES, KeyRole

KEY_PREFIX = "ggk_"

# What each role may do. Routes name the permission they need (api/security.py); nothing is
# allowed unless listed here.
PERMISSIONS: dict[str, frozenset[KeyRole]] = {
    "read": frozenset({"dispatcher", "system", "planner", "admin"}),
    "dispatch": frozenset({"dispatcher", "system", "admin"}),
    "positions": frozenset({"system", "admin"}),
    "planning": frozenset({"planner", "admin"}),
    "staff": frozenset({"admin"}),
    "admin": frozenset({"admin"}),
}


@dataclass(frozen=True)
class ApiKeyInfo:
    """Who is calling: the key's id, name and role."""

    id: int
    name: str
    role: KeyRole


def hash_key(secret_key: str, presented: str) -> str:
    """The stored form of a key: HMAC-SHA256 under the server's pepper, hex."""
    return hmac.new(secret_key.encode(), presented.encode(), hashlib.sha256).hexdigest()


def create_api_key(db: Executor, secret_key: str, *, name: str, role: str) -> tuple[int, str]:
    """Create a key and return (id, the key itself) — the key is never stored or shown again."""
    if role not in KEY_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(KEY_ROLES)}.", field="role")
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("name must be 1-100 characters.", field="name")
    # Names are never reused, revoked keys' included: the audit trail names keys, and one
    # name must mean one key (the database enforces it too: uq_api_keys_name).
    exists = db.execute(text("SELECT 1 FROM api_keys WHERE name = :name"), {"name": name}).first()
    if exists:
        raise Conflict(
            f"A key named {name!r} exists or existed; key names are never reused.", field="name"
        )
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = db.execute(
        text(
            """
            INSERT INTO api_keys (name, role, key_hash, key_hint)
            VALUES (:name, :role, :hash, :hint) RETURNING id
            """
        ),
        {
            "name": name,
            "role": role,
            "hash": hash_key(secret_key, plaintext),
            "hint": plaintext[: len(KEY_PREFIX) + 4],
        },
    ).scalar_one()
    return int(key_id), plaintext


def revoke_api_key(db: Executor, name_or_id: str) -> int:
    """Revoke an active key by name or id; returns its id."""
    row = db.execute(
        text(
            """
            UPDATE api_keys SET revoked_at = now()
            WHERE revoked_at IS NULL AND (name = :ref OR CAST(id AS text) = :ref)
            RETURNING id
            """
        ),
        {"ref": name_or_id},
    ).first()
    if row is None:
        raise NotFound(f"No active API key {name_or_id!r}.", field="key")
    return int(row[0])


def list_api_keys(db: Executor) -> list[dict[str, object]]:
    """Every key with its status (never the key itself)."""
    rows = db.execute(
        text(
            "SELECT id, name, role, key_hint, created_at, revoked_at, last_used_at "
            "FROM api_keys ORDER BY id"
        )
    )
    return [dict(r._mapping) for r in rows]


def authenticate(db: Executor, secret_key: str, presented: str | None) -> ApiKeyInfo:
    """The active key matching `presented`, or Unauthenticated."""
    if not presented:
        raise Unauthenticated("Send an API key in the X-API-Key header.", field="X-API-Key")
    if len(presented) > 200 or not presented.startswith(KEY_PREFIX):
        raise Unauthenticated("The API key is not valid.", field="X-API-Key")
    row = db.execute(
        text("SELECT id, name, role FROM api_keys WHERE key_hash = :hash AND revoked_at IS NULL"),
        {"hash": hash_key(secret_key, presented)},
    ).first()
    if row is None:
        raise Unauthenticated("The API key is not valid or has been revoked.", field="X-API-Key")
    return ApiKeyInfo(id=int(row.id), name=row.name, role=row.role)


def permissions_of(role: str) -> list[str]:
    """The permissions `role` carries, in the table's order."""
    return [name for name, roles in PERMISSIONS.items() if role in roles]


def authorize_role(
    role: str, permission: str, *, who: str = "key", field: str = "X-API-Key"
) -> None:
    """Forbidden unless `role` carries `permission` (keys and signed-in users alike)."""
    allowed = PERMISSIONS.get(permission, frozenset())
    if role not in allowed:
        raise Forbidden(
            f"A {role} {who} may not do this (needs one of: {', '.join(sorted(allowed))}).",
            field=field,
        )


def authorize(key: ApiKeyInfo, permission: str) -> None:
    """Forbidden unless the key's role carries `permission`."""
    authorize_role(key.role, permission)


def touch(db: Executor, key_id: int, when: datetime) -> None:
    """Record when a key was last used (cheap: at most once a minute per key)."""
    db.execute(
        text(
            "UPDATE api_keys SET last_used_at = :when WHERE id = :id "
            "AND (last_used_at IS NULL OR last_used_at < :when - interval '1 minute')"
        ),
        {"id": key_id, "when": when},
    )
