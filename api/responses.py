"""A lean JSON response for hot paths: the route builds exactly the documented shape, so
FastAPI's response-model validation (a second pass over every item) is skipped there."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from fastapi.responses import Response

from gridgis.times import rfc3339


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


class FastJSONResponse(Response):
    """JSON encoded with the standard library in one pass (UTF-8, compact)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, ensure_ascii=False, separators=(",", ":"), default=_default
        ).encode("utf-8")
