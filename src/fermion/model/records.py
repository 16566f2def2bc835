"""Records that flow between ingest, processing and storage (plain data, no behaviour)."""

from __future__ import annotations

import msgspec

from fermion.model.tenancy import InputKind


class InboundRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One accepted batch, exactly as received, stamped at ingest."""

    batch_id: int
    workspace_id: int
    input_id: int
    environment: str
    received_ms: int
    source_ip: str
    request_id: str
    historical: bool
    payload: bytes  # the batch JSON exactly as the client sent it
    seq: int = 0  # log position, assigned by the log on append
    lane: int = 0  # hash of the sender (fermion.identity.lanes): embedded worker i of N takes lane % N == i
    plain: bool = False  # the payload needs no normalizing to decode (model.codec.decode_plain_batch)


class NewInput(msgspec.Struct, frozen=True, kw_only=True):
    workspace_id: int
    kind: InputKind
    platform: str
    name: str
    key: str
    secret_hash: str


class StoredEvent(msgspec.Struct, frozen=True, kw_only=True):
    event_id: int
    event_type: str
    event_name: str  # custom event name, screen name, commerce action, or the event type
    timestamp_ms: int
    payload: bytes  # the normalized event ({"event_type":..., "data":...}) as JSON


class ProcessedBatch(msgspec.Struct, frozen=True, kw_only=True):
    """A batch after the processing chain, ready to store."""

    batch_id: int
    workspace_id: int
    input_id: int
    environment: str
    mpid: int
    received_ms: int
    historical: bool
    source_request_id: str | None
    device_ids: list[str]  # every device identifier of the batch, for live-stream filtering
    events: list[StoredEvent]
    payload: bytes  # the normalized (outgoing-format) batch as JSON


class BatchRow(msgspec.Struct, frozen=True, kw_only=True):
    """A stored batch as read back; seq orders batches by processing time."""

    seq: int
    batch_id: int
    workspace_id: int
    input_id: int
    environment: str
    mpid: int
    received_ms: int
    historical: bool
    device_ids: list[str]
    payload: bytes


class EventRow(msgspec.Struct, frozen=True, kw_only=True):
    workspace_id: int
    batch_id: int
    mpid: int
    event_id: int
    event_type: str
    event_name: str
    timestamp_ms: int
    environment: str
    input_id: int
    payload: bytes


class BatchFilter(msgspec.Struct, frozen=True, kw_only=True):
    workspace_id: int
    after_seq: int = 0
    input_id: int | None = None
    environment: str | None = None
    mpid: int | None = None
    device_id: str | None = None
    # False: only real-time batches (what audiences and calculated attributes are computed from);
    # True: only those sent to /v2/bulkevents/historical; None: both.
    historical: bool | None = None
    limit: int = 100
    newest_first: bool = False
