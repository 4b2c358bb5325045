"""The one time format of every answer and message: RFC 3339 in UTC with `Z`."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

# What every serialised time matches (fractions of a second only when there are some).
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


def rfc3339(value: datetime) -> str:
    """`value` as RFC 3339 in UTC with `Z`, e.g. 2026-03-10T13:00:00Z (naive means UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def normalise_times(value: Any) -> Any:
    """A copy of JSON-like `value` with every datetime, and every string holding a time with
    an offset, in the one format (for stored JSON written before this format)."""
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, str) and _LOOKS_LIKE_TIME.match(value):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return rfc3339(parsed) if parsed.tzinfo is not None else value
    if isinstance(value, dict):
        return {k: normalise_times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise_times(v) for v in value]
    return value


_LOOKS_LIKE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
