"""Per-workspace token-bucket rate limiting of the Events API (off unless a workspace sets a rate)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated_s: float


class RateLimiter:
    """Buckets hold one second's worth of batches and refill continuously."""

    def __init__(self) -> None:
        self._buckets: dict[int, _Bucket] = {}

    def take(self, workspace_id: int, per_s: int, count: int, now_s: float) -> tuple[float, int]:
        """Take `count` tokens; return (seconds to wait, 0 if taken; percentage of capacity used)."""
        bucket = self._buckets.get(workspace_id)
        if bucket is None:
            bucket = self._buckets[workspace_id] = _Bucket(float(per_s), now_s)
        bucket.tokens = min(float(per_s), bucket.tokens + (now_s - bucket.updated_s) * per_s)
        bucket.updated_s = now_s
        if count > bucket.tokens:
            return (count - bucket.tokens) / per_s, 100
        bucket.tokens -= count
        return 0.0, round(100 * (1 - bucket.tokens / per_s))
