"""Rules on incident input that hold for every caller (types and lengths are the API models')."""

from __future__ import annotations

from datetime import datetime, timedelta

from gridgis.errors import InvalidInput
from gridgis.times import rfc3339

# A caller's clock a little ahead of ours is normal; further ahead is a wrong clock.
FUTURE_TOLERANCE = timedelta(minutes=5)
# The longest page of incidents a listing returns (the API's `limit` bound).
MAX_PAGE = 500


def aware_time(value: datetime, name: str) -> datetime:
    """`value`, when it carries a time zone (a naive time is ambiguous: whose clock?)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(
            f"{name} needs a time zone (e.g. 2026-11-26T20:15:00+08:00).", field=name
        )
    return value


def check_time(value: datetime, name: str, now: datetime) -> datetime:
    """An aware time no further ahead of `now` than a caller's clock may run."""
    value = aware_time(value, name)
    if value > now + FUTURE_TOLERANCE:
        raise InvalidInput(
            f"{name} ({rfc3339(value)}) is in the future (now {rfc3339(now)}).", field=name
        )
    return value


def check_text(value: str, name: str) -> str:
    """Text PostgreSQL can store (no NUL characters)."""
    if "\x00" in value:
        raise InvalidInput(f"{name} must not contain NUL characters.", field=name)
    return value


def check_external_id(value: str) -> str:
    """A sender's id: not blank, no surrounding spaces, no control characters."""
    if not value.strip():
        raise InvalidInput("external_id must be a non-empty string.", field="external_id")
    if value != value.strip() or not value.isprintable():
        raise InvalidInput(
            "external_id must not have surrounding spaces or control characters.",
            field="external_id",
        )
    return value
