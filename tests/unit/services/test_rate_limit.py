"""Unit tests of the per-workspace token bucket."""

from __future__ import annotations

from fermion.services.rate_limit import RateLimiter


def test_bucket_allows_a_second_of_batches_then_asks_to_wait() -> None:
    limiter = RateLimiter()
    assert limiter.take(1, 10, 6, now_s=100.0) == (0.0, 60)
    wait, pct = limiter.take(1, 10, 6, now_s=100.0)
    assert wait == 0.2 and pct == 100
    assert limiter.take(1, 10, 6, now_s=100.2)[0] == 0.0
    assert limiter.take(2, 10, 10, now_s=100.2)[0] == 0.0  # workspaces have their own buckets
