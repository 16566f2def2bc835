"""Delivery ports: output/connection config, the per-connection delivery queue (with dead letters and
replay jobs), the delivery log (System Alerts, forwarding report, outbound Live Stream), transports
that send outbound requests, and the cipher that keeps secrets encrypted at rest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import msgspec

from fermion.integrations.spec import OutboundRequest
from fermion.model.delivery import (
    AlertRecord,
    AlertRow,
    ClaimedItem,
    Connection,
    ConnectionStatus,
    CountKey,
    CountRow,
    DeadLetter,
    NewConnection,
    NewOutput,
    OutboundEntry,
    Output,
    OutputStatus,
    QueueItem,
    ReplayJob,
    ReplayProgress,
)
from fermion.model.records import BatchRow


class SecretCipher(Protocol):
    def encrypt(self, plaintext: str) -> str: ...
    def decrypt(self, token: str) -> str:
        """Raises ValueError when the token was not made with this key."""


class OutputStore(Protocol):
    """Outputs and connections (of inputs, or of audiences to audience outputs). Unknown
    workspace/input/output ids raise LookupError; a second connection of the same input (or audience)
    and output raises ValueError."""

    def create_output(self, new: NewOutput) -> Output: ...
    def get_output(self, output_id: int) -> Output | None: ...
    def list_outputs(self, workspace_id: int | None = None) -> list[Output]: ...
    def update_output(
        self,
        output_id: int,
        name: str | None = None,
        settings: dict[str, Any] | None = None,
        status: OutputStatus | None = None,
    ) -> Output: ...
    def delete_output(self, output_id: int) -> bool:
        """Forget the output, its connections and their queued items; False when there was none."""

    def finish_deletions(self) -> int:
        """Remove deleting connections with no pending or inflight items, then deleting outputs left
        without connections; how many went."""

    def create_connection(self, new: NewConnection) -> Connection: ...
    def get_connection(self, connection_id: int) -> Connection | None: ...
    def list_connections(
        self,
        workspace_id: int | None = None,
        input_id: int | None = None,
        audience_id: int | None = None,
        output_id: int | None = None,
    ) -> list[Connection]: ...
    def update_connection(
        self,
        connection_id: int,
        status: ConnectionStatus | None = None,
        send_development: bool | None = None,
        send_production: bool | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Connection: ...
    def delete_connection(self, connection_id: int) -> bool:
        """Forget the connection and its queued items; False when there was no such connection."""

    def config_stamp(self) -> tuple[int, int]:
        """A value that changes whenever an output or connection is created or changed."""


class DeliveryQueue(Protocol):
    """Batches waiting for delivery, one queue per connection; dead letters are items with status
    dead. A claim hands each item to one claimer only (until its lease expires)."""

    def enqueue(self, items: Sequence[QueueItem], now_ms: int, counts: Mapping[CountKey, int]) -> int:
        """Queue items, skipping any (connection, batch) queued before, and add the forwarding-report
        counts, in one transaction; return how many were added."""

    def stored_batch_ids(self, batch_ids: Sequence[int]) -> set[int]:
        """Which of these batch ids the event store holds."""

    def claim(self, connection_id: int, limit: int, now_ms: int, lease_ms: int) -> list[ClaimedItem]:
        """Up to `limit` due items of the connection, oldest first, leased for lease_ms (claims whose
        lease ran out first: their claimer died)."""

    def claim_probe(self, connection_id: int, now_ms: int, lease_ms: int) -> list[ClaimedItem]:
        """One pending item of the connection, due or not (the probe of a lane backing off)."""

    def extend(self, claims: Sequence[tuple[int, int]], until_ms: int) -> int:
        """Extend to until_ms the lease of the items still held under these (connection id, claim
        token) claims: a live claimer renews its leases, so a dead one's run out soon."""

    def resume(self, connection_id: int, now_ms: int) -> int:
        """Make the connection's pending items that wait for a later retry due now (it recovered)."""

    def due(self, connection_id: int, now_ms: int) -> tuple[int, int | None, int | None]:
        """(items due now, enqueued_ms of the oldest due, next_at_ms of the next not-yet-due item)."""

    def complete(self, items: Sequence[ClaimedItem], now_ms: int, counts: Mapping[CountKey, int]) -> int:
        """Mark delivered (only items still held under their claim); add the outbound counts."""

    def retry(
        self, items: Sequence[ClaimedItem], next_at_ms: int, error_type: str, error: str, refund: bool = False
    ) -> int:
        """Back to pending, due at next_at_ms; `refund`: the attempt does not count (a failed probe)."""

    def bury(self, items: Sequence[ClaimedItem], error_type: str, error: str, now_ms: int) -> int:
        """Move to the connection's dead letters."""

    def dead_letters(self, connection_id: int, limit: int = 100, after_id: int = 0) -> list[DeadLetter]: ...
    def count_by_status(self, connection_id: int) -> dict[str, int]: ...
    def requeue_dead(self, connection_id: int, replay_job_id: int, now_ms: int) -> int:
        """Dead letters back to pending with fresh attempts, tagged with the replay job."""

    def requeue(self, items: Sequence[QueueItem], now_ms: int) -> int:
        """Queue items for a replay: new ones are added, already queued ones go back to pending."""

    def history(
        self, workspace_id: int, input_id: int, since_ms: int, until_ms: int, after_seq: int, limit: int
    ) -> list[BatchRow]:
        """Stored batches of an input received in [since_ms, until_ms), by seq after after_seq."""

    def purge_done(self, before_ms: int) -> int:
        """Forget delivered items finished before before_ms (their dedupe window is over)."""

    def create_replay_job(
        self,
        workspace_id: int,
        connection_id: int,
        kind: str,
        since_ms: int | None,
        until_ms: int | None,
        now_ms: int,
    ) -> ReplayJob: ...
    def update_replay_job(self, job_id: int, state: str, enqueued: int, error: str = "") -> None: ...
    def replay_progress(self, job_id: int) -> ReplayProgress | None: ...


class DeliveryLog(Protocol):
    """What senders report: failed attempts (System Alerts), forwarding counts, outbound requests."""

    def record_alerts(self, alerts: Sequence[AlertRecord]) -> None: ...
    def alerts(
        self,
        workspace_id: int,
        since_ms: int,
        until_ms: int,
        environment: str | None = None,
        connection_id: int | None = None,
    ) -> list[AlertRow]:
        """Failed attempts per connection, environment and error type in [since_ms, until_ms)."""

    def add_counts(self, counts: Mapping[CountKey, int]) -> None: ...
    def counts(
        self, workspace_id: int, since_ms: int, until_ms: int, connection_id: int | None = None
    ) -> list[CountRow]: ...
    def log_outbound(self, entries: Sequence[OutboundEntry]) -> None: ...
    def outbound(
        self,
        workspace_id: int,
        connection_id: int | None = None,
        after_id: int = 0,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[OutboundEntry]: ...
    def trim_outbound(self, keep_per_connection: int) -> int: ...


class SendResult(msgspec.Struct, frozen=True, kw_only=True):
    """How one outbound request went. `status` is the HTTP status (S3/Firehose: of the AWS call);
    `failure` names a transport failure without a status ("timeout", "connection_error")."""

    status: int | None = None
    failure: str = ""
    message: str = ""
    retry_after_s: float | None = None
    latency_ms: int = 0


class Transport(Protocol):
    """Sends outbound requests of the kinds it handles (HTTP, S3, Firehose)."""

    async def send(self, request: OutboundRequest, timeout_s: float) -> SendResult: ...
    async def close(self) -> None: ...
