"""Quotas for expensive requests (coverage runs, planning, coverage maps): a few at a time per
process, one at a time and a few a minute per key. Beyond them: 429 with Retry-After, at
once, so that heavy work never queues up holding connections the dispatch routes need. KPI
series (the dashboard's charts) have a quota of their own, wide enough for the dashboard's
six charts at once and a few reloads a minute, narrow enough that one key cannot flood."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable
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

    def __init__(self, settings: Settings, *, kind: str = "heavy") -> None:
        # kind "heavy" (runs, plans, maps) or "series" (KPI series and charts).
        self.slots = getattr(settings, f"{kind}_concurrency")
        self.per_key = getattr(settings, f"{kind}_per_key_concurrency")
        self.per_minute = getattr(settings, f"{kind}_per_key_per_minute")
        self.in_flight = 0
        self.key_in_flight: dict[Hashable, int] = {}
        self.started: dict[Hashable, deque[float]] = {}

    def acquire(self, key_id: Hashable) -> None:
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

    def release(self, key_id: Hashable) -> None:
        """Give back the slot acquire() took."""
        self.in_flight -= 1
        left = self.key_in_flight.get(key_id, 1) - 1
        if left:
            self.key_in_flight[key_id] = left
        else:
            self.key_in_flight.pop(key_id, None)


def _caller(request: Request) -> Hashable:
    """Whose budget a request spends: its API key's id, or ("user", id) for a signed-in user
    (every console user has a budget of their own)."""
    user = getattr(request.state, "user", None)
    if user is not None:
        return ("user", user.user_id)
    key = getattr(request.state, "api_key", None)
    return key.id if key is not None else 0


def _slot(quota_name: str) -> Callable[[Request], AsyncIterator[None]]:
    async def hold(request: Request) -> AsyncIterator[None]:
        quota: HeavyQuota = getattr(request.app.state, quota_name)
        caller = _caller(request)
        quota.acquire(caller)
        try:
            yield
        finally:
            quota.release(caller)

    return hold


# Each holds a slot of its quota for the caller while the route runs.
heavy_slot = _slot("heavy_quota")
series_slot = _slot("series_quota")


HeavySlot = Annotated[None, Depends(heavy_slot, scope="function")]
SeriesSlot = Annotated[None, Depends(series_slot, scope="function")]
# For the `responses` of the routes that take a slot.
RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorPublic,
        "description": "Too many expensive requests (per key or in all); retry after "
        "`Retry-After` seconds.",
    }
}
