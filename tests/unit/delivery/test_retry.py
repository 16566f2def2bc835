"""Retry policy: classification of send results and backoff with jitter and Retry-After."""

from __future__ import annotations

import asyncio
import time

import pytest

from fermion.adapters.delivery.http import parse_retry_after
from fermion.delivery.retry import Outcome, RetryPolicy, Verdict, classify
from fermion.delivery.throttle import TokenBucket
from fermion.ports import SendResult


@pytest.mark.parametrize(
    ("result", "verdict", "error_type"),
    [
        (SendResult(status=200), Verdict.DELIVERED, ""),
        (SendResult(status=204), Verdict.DELIVERED, ""),
        (SendResult(status=429, retry_after_s=3), Verdict.RETRY, "rate_limited"),
        (SendResult(status=408), Verdict.RETRY, "timeout"),
        (SendResult(status=500), Verdict.RETRY, "server_error"),
        (SendResult(status=503), Verdict.RETRY, "server_error"),
        (SendResult(failure="timeout"), Verdict.RETRY, "timeout"),
        (SendResult(failure="connection_error", message="refused"), Verdict.RETRY, "connection_error"),
        (SendResult(status=401), Verdict.FAIL, "auth_error"),
        (SendResult(status=403), Verdict.FAIL, "auth_error"),
        (SendResult(status=400, message="bad field"), Verdict.FAIL, "bad_request"),
        (SendResult(status=404), Verdict.FAIL, "bad_request"),
    ],
)
def test_classify(result: SendResult, verdict: Verdict, error_type: str) -> None:
    outcome = classify(result)
    assert (outcome.verdict, outcome.error_type) == (verdict, error_type)
    if result.status and result.status >= 400:
        assert outcome.message.startswith(f"HTTP {result.status}")
    assert classify(SendResult(status=429, retry_after_s=3)).retry_after_s == 3


def test_worse_outcome_wins() -> None:
    ok, retry, fail = Outcome(Verdict.DELIVERED), Outcome(Verdict.RETRY, "x"), Outcome(Verdict.FAIL, "y")
    assert ok.worse(retry) is retry and retry.worse(ok) is retry and retry.worse(fail) is fail


def test_backoff_doubles_with_jitter_and_caps() -> None:
    policy = RetryPolicy(base_s=1.0, max_s=10.0, jitter=0.5)
    assert policy.delay_s(1, None, 0.0) == 0.5 and policy.delay_s(1, None, 0.999) < 1.0
    assert 2.0 <= policy.delay_s(3, None, 0.3) <= 4.0
    assert policy.delay_s(30, None, 0.999) <= 10.0


def test_retry_after_is_a_floor_with_a_cap() -> None:
    policy = RetryPolicy(base_s=1.0, max_retry_after_s=60.0)
    assert policy.delay_s(1, 30.0, 0.0) == 30.0
    assert policy.delay_s(1, 86_400.0, 0.0) == 60.0
    assert policy.delay_s(1, 0.1, 0.0) == 0.5


def test_exhausted_uses_the_integration_limit_when_given() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert not policy.exhausted(2) and policy.exhausted(3)
    assert not policy.exhausted(3, integration_max=5) and policy.exhausted(5, integration_max=5)


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0


def test_token_bucket_limits_the_rate() -> None:
    async def run() -> float:
        bucket = TokenBucket(rate=50.0, burst=1.0)
        started = time.monotonic()
        for _ in range(11):
            await bucket.take()
        return time.monotonic() - started

    elapsed = asyncio.run(run())
    assert 0.18 <= elapsed < 1.0  # 10 tokens beyond the burst at 50/s
    unlimited = TokenBucket(rate=0)
    asyncio.run(unlimited.take())
