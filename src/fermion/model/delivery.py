"""Delivery records: outputs, connections, queued batches, dead letters, alerts, report rows (plain data)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec


class ConnectionStatus(StrEnum):
    """`deleting`: deleted with its queued deliveries kept; the sender finishes them, then it goes."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    DELETING = "deleting"


class OutputStatus(StrEnum):
    ACTIVE = "active"
    DELETING = "deleting"  # a forced delete waiting for its connections to finish sending


class ItemStatus(StrEnum):
    """A queued batch: waiting (or retrying), claimed by a sender, delivered, or given up on."""

    PENDING = "pending"
    INFLIGHT = "inflight"
    DONE = "done"
    DEAD = "dead"


class Output(msgspec.Struct, frozen=True, kw_only=True):
    """An output configuration: an integration and its settings. `settings` is the stored form, in
    which secret values are encrypted (`{"$enc": token}`); services decrypt them only to send."""

    id: int
    workspace_id: int
    integration_id: str
    name: str
    settings: dict[str, Any]
    created_ms: int
    updated_ms: int
    status: OutputStatus = OutputStatus.ACTIVE


class Connection(msgspec.Struct, frozen=True, kw_only=True):
    """An input (or, for audience outputs, an audience) connected to an output, with connection
    settings and per-environment behaviour. Exactly one of `input_id` and `audience_id` is set."""

    id: int
    workspace_id: int
    input_id: int | None
    output_id: int
    integration_id: str
    settings: dict[str, Any]
    status: ConnectionStatus
    send_development: bool
    send_production: bool
    created_ms: int
    updated_ms: int
    audience_id: int | None = None

    def sends(self, environment: str) -> bool:
        if self.status != ConnectionStatus.ACTIVE:
            return False
        return self.send_development if environment == "development" else self.send_production


class NewOutput(msgspec.Struct, frozen=True, kw_only=True):
    workspace_id: int
    integration_id: str
    name: str
    settings: dict[str, Any]


class NewConnection(msgspec.Struct, frozen=True, kw_only=True):
    workspace_id: int
    input_id: int | None
    output_id: int
    integration_id: str
    settings: dict[str, Any]
    status: ConnectionStatus = ConnectionStatus.ACTIVE
    send_development: bool = True
    send_production: bool = True
    audience_id: int | None = None


class QueueItem(msgspec.Struct, frozen=True, kw_only=True):
    """A batch to deliver to one connection. `payload` None means "the stored batch, unchanged" (read
    from the event store when sent); `summary` lists its events as [[event_type, event_name, n], ...]."""

    connection_id: int
    workspace_id: int
    batch_id: int
    input_id: int
    environment: str
    mpid: int
    received_ms: int
    payload: bytes | None
    summary: list[tuple[str, str, int]]
    replay_job_id: int | None = None


class ClaimedItem(msgspec.Struct, frozen=True, kw_only=True):
    """A queued batch claimed by one sender (until it reports back or the lease expires)."""

    id: int
    connection_id: int
    workspace_id: int
    batch_id: int
    input_id: int
    environment: str
    mpid: int
    received_ms: int
    enqueued_ms: int
    attempts: int  # including this one
    payload: bytes
    summary: list[tuple[str, str, int]]
    token: int  # the claim; reports from an expired claim are ignored


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    connection_id: int
    batch_id: int
    environment: str
    received_ms: int
    attempts: int
    error_type: str
    last_error: str
    failed_ms: int


class CountKey(msgspec.Struct, frozen=True, kw_only=True):
    """One forwarding-report counter: events of a type/name in or out of a connection in an hour."""

    workspace_id: int
    connection_id: int
    output_id: int
    hour_ms: int
    direction: str  # "in" | "out"
    message_type: str
    event_name: str


class AlertRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One failed delivery attempt, as System Alerts count it."""

    workspace_id: int
    connection_id: int
    environment: str
    error_type: str
    message: str
    at_ms: int


class AlertRow(msgspec.Struct, frozen=True, kw_only=True):
    connection_id: int
    environment: str
    error_type: str
    count: int
    last_seen_ms: int
    last_message: str


class CountRow(msgspec.Struct, frozen=True, kw_only=True):
    connection_id: int
    output_id: int
    hour_ms: int
    direction: str
    message_type: str
    event_name: str
    count: int


class OutboundEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One outbound request as the outbound Live Stream shows it."""

    workspace_id: int
    connection_id: int
    created_ms: int
    environment: str
    kind: str  # http | s3 | firehose
    target: str  # "POST https://..." or "s3://bucket/key"
    status: int | None
    outcome: str  # delivered | retry | dead
    error_type: str
    error: str
    latency_ms: int
    attempt: int
    batch_ids: list[int]
    body: bytes  # the first bytes of the request body
    id: int = 0


class ReplayJob(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    workspace_id: int
    connection_id: int
    kind: str  # dead_letters | window
    since_ms: int | None
    until_ms: int | None
    state: str  # enqueuing | enqueued | failed
    enqueued: int
    error: str
    created_ms: int


class ReplayProgress(msgspec.Struct, frozen=True, kw_only=True):
    job: ReplayJob
    pending: int
    inflight: int
    done: int
    dead: int
