"""Quotas for expensive requests (coverage runs, planning, coverage maps): a few at a time per
process, one at a time and a few a minute per key. Beyond them: 429 with Retry-After, at
once, so that heavy work never queues up holding connections the dispatch routes need."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request

from api.schemas import ErrorPublic
from gridgis.errors import RateLimited
from gridgis.settings import Settings

# Told to a caller refused for concurrency: about the time a typical run takes.
BUSY_RETRY_AFTER_S = 10
WINDOW_S = 60.0


class HeavyQuota:
    """Counts heavy requests in flight (per process and per key) and started per key in the
    last minute. Used on the event loop only, so plain counters suffice."""

    def __init__(self, settings: Settings) -> None:
        self.slots = settings.heavy_concurrency
        self.per_key = settings.heavy_per_key_concurrency
        self.per_minute = settings.heavy_per_key_per_minute
        self.in_flight = 0
        self.key_in_flight: dict[int, int] = {}
        self.started: dict[int, deque[float]] = {}

    def acquire(self, key_id: int) -> None:
        """Take a slot for `key_id` or raise RateLimited."""
        now = time.monotonic()
        recent = self.started.setdefault(key_id, deque())
        while recent and now - recent[0] >= WINDOW_S:
            recent.popleft()
        if len(recent) >= self.per_minute:
            wait = math.ceil(WINDOW_S - (now - recent[0]))
            raise RateLimited(
                f"This key may start {self.per_minute} expensive requests a minute.",
                retry_after_s=wait,
            )
        if self.key_in_flight.get(key_id, 0) >= self.per_key:
            raise RateLimited(
                f"This key already has {self.per_key} expensive request(s) running.",
                retry_after_s=BUSY_RETRY_AFTER_S,
            )
        if self.in_flight >= self.slots:
            raise RateLimited(
                "The server is computing as many expensive requests as it allows; retry shortly.",
                retry_after_s=BUSY_RETRY_AFTER_S,
            )
        recent.append(now)
        self.in_flight += 1
        self.key_in_flight[key_id] = self.key_in_flight.get(key_id, 0) + 1

    def release(self, key_id: int) -> None:
        """Give back the slot acquire() took."""
        self.in_flight -= 1
        left = self.key_in_flight.get(key_id, 1) - 1
        if left:
            self.key_in_flight[key_id] = left
        else:
            self.key_in_flight.pop(key_id, None)


async def heavy_slot(request: Request) -> AsyncIterator[None]:
    """Holds a heavy-request slot for the caller's key while the route runs."""
    quota: HeavyQuota = request.app.state.heavy_quota
    key = getattr(request.state, "api_key", None)
    key_id = key.id if key is not None else 0
    quota.acquire(key_id)
    try:
        yield
    finally:
        quota.release(key_id)


HeavySlot = Annotated[None, Depends(heavy_slot, scope="function")]
# For the `responses` of the routes that take a slot.
RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorPublic,
        "description": "Too many expensive requests (per key or in all); retry after "
        "`Retry-After` seconds.",
    }
}
