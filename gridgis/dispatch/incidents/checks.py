"""Checks on what a caller sends about incidents: times, text, ids (fields named in errors)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from gridgis.errors import InvalidInput

# A caller's clock a little ahead of ours is normal; further ahead is a wrong clock.
FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_EXTERNAL_ID = 100
MAX_DESCRIPTION = 4000
MAX_NOTE = 2000
MAX_PAGE = 500


def aware_time(value: Any, name: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"{name} must be an ISO 8601 timestamp.", field=name) from None
    if not isinstance(value, datetime):
        raise InvalidInput(f"{name} must be an ISO 8601 timestamp.", field=name)
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(
            f"{name} needs a time zone (e.g. 2026-11-26T20:15:00+08:00).", field=name
        )
    return value


def check_time(value: Any, name: str, now: datetime) -> datetime:
    value = aware_time(value, name)
    if value > now + FUTURE_TOLERANCE:
        raise InvalidInput(
            f"{name} ({value.isoformat()}) is in the future (now {now.isoformat()}).", field=name
        )
    return value


def check_text(value: Any, name: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text.", field=name)
    if "\x00" in value:  # PostgreSQL text cannot hold NUL
        raise InvalidInput(f"{name} must not contain NUL characters.", field=name)
    if len(value) > limit:
        raise InvalidInput(f"{name} is longer than {limit} characters.", field=name)
    return value


def check_external_id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("external_id must be a non-empty string.", field="external_id")
    if len(value) > MAX_EXTERNAL_ID:
        raise InvalidInput(
            f"external_id is longer than {MAX_EXTERNAL_ID} characters.", field="external_id"
        )
    if value != value.strip() or not value.isprintable():
        raise InvalidInput(
            "external_id must not have surrounding spaces or control characters.",
            field="external_id",
        )
    return value


def check_id(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**63:
        raise InvalidInput(f"{name} must be a positive integer.", field=name)
    return value
