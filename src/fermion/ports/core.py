"""Core storage ports: the inbound log, tenancy/config, the event store and the archive."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from fermion.model.records import (
    BatchFilter,
    BatchRow,
    EventRow,
    InboundRecord,
    NewInput,
    ProcessedBatch,
)
from fermion.model.tenancy import Account, Input, Organization, Workspace
from fermion.ports.inbound import ProcessingFailure


class InboundLog(Protocol):
    """The durable log between ingest and processing (SQLite table or NATS JetStream)."""

    async def append(self, records: Sequence[InboundRecord]) -> None:
        """Return only once every record is durably stored."""

    async def fetch(self, max_records: int, wait_s: float) -> list[InboundRecord]:
        """Up to max_records unacknowledged records, waiting up to wait_s for the first."""

    async def ack(self, records: Sequence[InboundRecord]) -> None:
        """Mark records processed; unacknowledged ones are delivered again after a restart."""

    async def failed(self, failures: Sequence[ProcessingFailure]) -> None:
        """These records failed processing, each on its own: count an attempt (see ports.inbound)."""

    async def close(self) -> None: ...


class ConfigStore(Protocol):
    """Tenancy, inputs and small settings. Unknown parent ids raise LookupError; a duplicate input key
    raises ValueError."""

    def create_organization(self, name: str) -> Organization: ...
    def create_account(self, org_id: int, name: str) -> Account: ...
    def create_workspace(self, account_id: int, name: str) -> Workspace: ...
    def get_workspace(self, workspace_id: int) -> Workspace | None: ...
    def list_workspaces(self) -> list[Workspace]: ...
    def set_workspace_rate_limit(self, workspace_id: int, per_s: int) -> None: ...
    def create_input(self, new: NewInput) -> Input: ...
    def get_input(self, input_id: int) -> Input | None: ...
    def get_input_by_key(self, key: str) -> Input | None: ...
    def list_inputs(self, workspace_id: int | None = None) -> list[Input]: ...
    def set_input_active(self, input_id: int, active: bool) -> Input | None: ...
    def set_input_secret_hash(self, input_id: int, secret_hash: str) -> Input | None: ...
    def delete_input(self, input_id: int) -> list[int]:
        """Delete the input unless connections use it: the ids of those connections (nothing deleted),
        else []. LookupError when there is no such input."""

    def list_meta(self, prefix: str) -> list[tuple[str, str]]:
        """(key, value) of every meta entry whose key starts with prefix, by key."""

    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def delete_meta(self, key: str) -> None: ...


class EventStore(Protocol):
    """Processed batches and their events, queryable by MPID and time."""

    def save(self, batches: Sequence[ProcessedBatch]) -> list[int]:
        """Store batches atomically; return the batch ids that were new.

        A batch whose batch_id, or whose (input, source_request_id), was stored before is skipped
        whole; an event whose (workspace, event_id) was stored before is skipped.
        """

    def batches(self, flt: BatchFilter) -> list[BatchRow]: ...

    def archive_rows(self, workspace_id: int, after_seq: int, limit: int) -> list[tuple[int, int, bytes]]:
        """(seq, received_ms, payload) of the workspace's batches after after_seq, in seq order: what
        the archiver writes, without building whole BatchRows."""

    def events(
        self,
        workspace_id: int,
        mpid: int | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        event_type: str | None = None,
        limit: int = 1000,
    ) -> list[EventRow]:
        """Events with since_ms <= timestamp < until_ms, ordered by timestamp, then event id."""

    def count_batches(self, workspace_id: int | None = None) -> int: ...


class Archive(Protocol):
    """The daily archive: newline-delimited JSON batches, one file per workspace and UTC day."""

    def progress(self) -> dict[int, int]:
        """The last archived batch seq per workspace (after repairing any torn write)."""

    def append(self, workspace_id: int, lines_by_day: dict[str, list[bytes]], last_seq: int) -> None:
        """Durably append lines to each day's file and record last_seq, all or nothing."""

    def read_day(self, workspace_id: int, day: str) -> list[bytes]: ...
