"""The audit trail: who did what, when, with the values before and after."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import text

from gridgis.db import Executor
from gridgis.errors import InvalidInput
from gridgis.times import rfc3339

MAX_PAGE = 1000


class Actor(str):
    """An actor's name that also carries the API key's id when a key acted (key names are
    never reused, and the id pins the entry to one key even across renames)."""

    key_id: int | None

    def __new__(cls, name: str, key_id: int | None = None) -> Actor:
        actor = super().__new__(cls, name)
        actor.key_id = key_id
        return actor


# The actor when the library is called directly (the API passes its caller, the CLI "cli").
LIBRARY_ACTOR = "library"
# Callers through the API are named with their kind, so a key and a person never read alike.
KEY_ACTOR_PREFIX = "key:"
USER_ACTOR_PREFIX = "user:"


def key_actor(name: str, key_id: int | None = None) -> Actor:
    """The actor for the API key named `name` (carrying its id when known)."""
    return Actor(KEY_ACTOR_PREFIX + name, key_id=key_id)


def user_actor(name: str) -> str:
    """The actor for the signed-in user named `name`."""
    return USER_ACTOR_PREFIX + name


def _jsonable(value: Any) -> str | None:
    if value is None:
        return None

    def default(item: Any) -> Any:
        if isinstance(item, datetime):
            return rfc3339(item)
        if isinstance(item, date):
            return item.isoformat()
        return str(item)

    return json.dumps(value, ensure_ascii=False, default=default)


def record(
    db: Executor,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Append one entry, in the caller's transaction (so it commits or rolls back with it).

    A key's actor also stores the key's id (actor_key_id), a "user:NAME" actor the user's id
    (actor_user_id)."""
    db.execute(
        text(
            """
            INSERT INTO audit_log
                (actor, actor_key_id, actor_user_id, action, entity, entity_id, before, after)
            VALUES (CAST(:actor AS varchar), :actor_key_id,
                    (SELECT id FROM users WHERE CAST(:actor AS varchar) LIKE 'user:%'
                       AND lower(name) = lower(substr(CAST(:actor AS varchar), 6))),
                    :action, :entity, :entity_id,
                    CAST(:before AS jsonb), CAST(:after AS jsonb))
            """
        ),
        {
            "actor": str(actor),
            "actor_key_id": getattr(actor, "key_id", None),
            "action": action,
            "entity": entity,
            "entity_id": entity_id,
            "before": _jsonable(before),
            "after": _jsonable(after),
        },
    )


def entries(
    db: Executor,
    *,
    entity: str | None = None,
    entity_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Entries in id order, filtered by entity (and id) and time window [since, until)."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}.", field="limit")
    rows = db.execute(
        text(
            """
            SELECT id, at, actor, actor_key_id, actor_user_id, action, entity, entity_id,
                   before, after
            FROM audit_log
            WHERE id > :after_id
              AND (CAST(:entity AS varchar) IS NULL OR entity = :entity)
              AND (CAST(:entity_id AS varchar) IS NULL OR entity_id = :entity_id)
              AND (CAST(:since AS timestamptz) IS NULL OR at >= :since)
              AND (CAST(:until AS timestamptz) IS NULL OR at < :until)
            ORDER BY id LIMIT :limit
            """
        ),
        {
            "after_id": after_id,
            "entity": entity,
            "entity_id": entity_id,
            "since": since,
            "until": until,
            "limit": limit,
        },
    )
    return [dict(r._mapping) for r in rows]
