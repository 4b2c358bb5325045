"""Request budgets per API key and per client address: token buckets held in this process.

Each worker process keeps its own buckets, so with N workers a caller can get up to N times
the budget; a shared limit belongs in front of the workers (the reverse proxy)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from gridgis.errors import RateLimited

# Never let hostile traffic (many addresses) grow the table without bound: the least recently
# seen buckets go first, and a forgotten bucket is a full one.
MAX_BUCKETS = 50_000


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """`per_minute` requests per minute for each name, in bursts of up to `per_minute`."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, name: str, *, now: float | None = None) -> None:
        """Spend one request of `name`'s budget, or RateLimited with the seconds to wait."""
        now = time.monotonic() if now is None else now
        bucket = self.buckets.pop(name, None) or _Bucket(self.capacity, now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        self.buckets[name] = bucket
        if len(self.buckets) > MAX_BUCKETS:
            self.buckets.popitem(last=False)
        if bucket.tokens < 1.0:
            wait = max(1, math.ceil((1.0 - bucket.tokens) / self.rate))
            raise RateLimited(
                f"Too many requests from this {name.split(':', 1)[0]}; retry in {wait} s.",
                retry_after_s=wait,
            )
        bucket.tokens -= 1.0
