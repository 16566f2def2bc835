"""Alias rules (spec 1.8): which alias requests are refused (400/403), which are accepted but fail
silently (as the reference does), and the event-history window an accepted one moves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fermion.identity.settings import ALIAS_STRATEGIES, Rules

MAX_WINDOW_MS = 90 * 24 * 3600 * 1000  # history older than 90 days is never aliased
CLOCK_SKEW_MS = 10 * 60 * 1000  # how far in the future an end time may lie (client clocks drift)


@dataclass(frozen=True)
class AliasRequest:
    source_mpid: int
    destination_mpid: int
    start_ms: int
    end_ms: int
    request_id: str
    scope: str = "device"
    environment: str = "production"
    device_application_stamp: str | None = None


@dataclass(frozen=True)
class AliasRecord:
    """A past alias request of the organization (accepted or silently failed)."""

    source_mpid: int
    destination_mpid: int
    start_ms: int
    end_ms: int
    status: str  # applied | rejected


class AliasRefused(ValueError):
    """A request answered with an error status; field names the offending body field."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message


@dataclass(frozen=True)
class AliasVerdict:
    accepted: bool  # False: answered 202 but nothing happens (the reference's silent failures)
    reason: str


def check_alias(
    req: AliasRequest,
    rules: Rules,
    now_ms: int,
    known_mpids: frozenset[int],
    history: Sequence[AliasRecord],
) -> AliasVerdict:
    """Raise AliasRefused for requests the reference answers with 400/403; else say whether it applies."""
    if rules.strategy not in ALIAS_STRATEGIES:
        raise AliasRefused(403, "", f"Aliasing is not available under the {rules.strategy.value} strategy.")
    if req.source_mpid == req.destination_mpid:
        raise AliasRefused(400, "data.source_mpid", "The source and destination MPIDs must differ.")
    if req.start_ms > req.end_ms:
        raise AliasRefused(400, "data.start_unixtime_ms", "The start time must not be after the end time.")
    if req.end_ms > now_ms + CLOCK_SKEW_MS:
        raise AliasRefused(400, "data.end_unixtime_ms", "The end time is in the future.")
    if req.start_ms < now_ms - MAX_WINDOW_MS:
        raise AliasRefused(400, "data.start_unixtime_ms", "The start time must be within the last 90 days.")
    for field, mpid in (
        ("data.source_mpid", req.source_mpid),
        ("data.destination_mpid", req.destination_mpid),
    ):
        if mpid not in known_mpids:
            raise AliasRefused(400, field, f"MPID {mpid} does not exist.")
    applied = [h for h in history if h.status == "applied"]
    if any(h.destination_mpid == req.source_mpid for h in applied):
        return AliasVerdict(False, "the source MPID was the destination of an earlier alias")
    if any(h.source_mpid == req.destination_mpid for h in applied):
        return AliasVerdict(False, "the destination MPID was the source of an earlier alias")
    for h in applied:
        if h.source_mpid == req.source_mpid and h.start_ms <= req.end_ms and req.start_ms <= h.end_ms:
            return AliasVerdict(False, "the source MPID was already aliased over an overlapping time range")
    return AliasVerdict(True, "applied")
