"""Per-output request rate limit: an async token bucket shared by every connection of the output."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """`rate` requests per second with bursts up to `burst`; rate 0 means unlimited."""

    def __init__(
        self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self._burst = burst if burst is not None else max(rate, 1.0)
        self._tokens = self._burst
        self._clock = clock
        self._at = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    async def take(self) -> None:
        if self.rate <= 0:
            return
        async with self._lock:  # waiters are served in order
            self._refill()
            if self._tokens < 1.0:
                await asyncio.sleep((1.0 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1.0


class Buckets:
    """One bucket per output id; a changed rate replaces the bucket."""

    def __init__(self) -> None:
        self._buckets: dict[int, TokenBucket] = {}

    def get(self, output_id: int, rate: float) -> TokenBucket:
        bucket = self._buckets.get(output_id)
        if bucket is None or bucket.rate != rate:
            bucket = self._buckets[output_id] = TokenBucket(rate)
        return bucket
