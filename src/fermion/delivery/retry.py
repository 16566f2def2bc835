"""Retry policy (pure): what a send result means (delivered, retry later, give up) and how long to wait.

429, 408, 5xx, timeouts and connection errors are retried with exponential backoff and jitter (never
sooner than the partner's Retry-After); other statuses are permanent and go to the dead letters.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from fermion.ports import SendResult


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAIL = "fail"


# Error types as System Alerts show them.
RATE_LIMITED = "rate_limited"
SERVER_ERROR = "server_error"
TIMEOUT = "timeout"
CONNECTION_ERROR = "connection_error"
AUTH_ERROR = "auth_error"
BAD_REQUEST = "bad_request"
MAPPING_ERROR = "mapping_error"
MISSING_BATCH = "missing_batch"
MAX_ATTEMPTS = "max_attempts"

_SEVERITY = {Verdict.DELIVERED: 0, Verdict.RETRY: 1, Verdict.FAIL: 2}


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    error_type: str = ""
    message: str = ""
    retry_after_s: float | None = None

    def worse(self, other: Outcome) -> Outcome:
        return other if _SEVERITY[other.verdict] > _SEVERITY[self.verdict] else self


DELIVERED = Outcome(Verdict.DELIVERED)


def classify(result: SendResult) -> Outcome:
    status = result.status
    if status is None:
        kind = TIMEOUT if result.failure == "timeout" else CONNECTION_ERROR
        return Outcome(Verdict.RETRY, kind, result.message or kind)
    if 200 <= status < 300:
        return DELIVERED
    message = f"HTTP {status}" + (f": {result.message}" if result.message else "")
    if status == 429:
        return Outcome(Verdict.RETRY, RATE_LIMITED, message, result.retry_after_s)
    if status == 408:
        return Outcome(Verdict.RETRY, TIMEOUT, message, result.retry_after_s)
    if status >= 500:
        return Outcome(Verdict.RETRY, SERVER_ERROR, message, result.retry_after_s)
    if status in (401, 403):
        return Outcome(Verdict.FAIL, AUTH_ERROR, message)
    return Outcome(Verdict.FAIL, BAD_REQUEST, message)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 10
    base_s: float = 1.0
    max_s: float = 600.0
    # Retry-After values beyond this are capped (a partner asking for a day would stall its queue).
    max_retry_after_s: float = 3600.0
    jitter: float = 0.5  # the share of each delay that is random

    def delay_s(self, attempts: int, retry_after_s: float | None, rand: float) -> float:
        """Wait before attempt `attempts + 1`; `rand` in [0, 1) supplies the jitter."""
        exp = min(self.max_s, self.base_s * float(2 ** max(attempts - 1, 0)))
        delay = exp * (1.0 - self.jitter + self.jitter * rand)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.max_retry_after_s))
        return delay

    def exhausted(self, attempts: int, integration_max: int | None = None) -> bool:
        return attempts >= (integration_max or self.max_attempts)
