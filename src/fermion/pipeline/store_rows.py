"""Turns a processed batch into the rows the event store keeps (pure)."""

from __future__ import annotations

import msgspec

from fermion.model.batch import Batch
from fermion.model.codec import batch_to_builtins, event_name_of
from fermion.model.events_common import EXTRA_KEY
from fermion.model.records import InboundRecord, ProcessedBatch, StoredEvent
from fermion.pipeline.identity_stub import device_ids_of

_encode = msgspec.json.Encoder().encode
# Plain msgspec emits a struct's unknown fields under EXTRA_KEY; an empty `extra` is left out
# (omit_defaults), and it is every struct's first field, so without this key in the output the struct
# encodes to the same bytes as batch_to_builtins (which appends extras last) would.
_EXTRA_BYTES = b'"' + EXTRA_KEY.encode() + b'"'


def to_processed(batch: Batch, record: InboundRecord) -> ProcessedBatch:
    """`batch` has been through the chain, so its mpid and every event id are set."""
    payload = _encode(batch)
    if _EXTRA_BYTES in payload:  # some struct carries unknown fields (or a value is EXTRA_KEY)
        return _with_extras(batch, record)
    received_ms = record.received_ms
    events = [
        StoredEvent(
            event_id=event.data.event_id or 0,
            event_type=event.event_type,
            event_name=event_name_of(event),
            timestamp_ms=event.data.timestamp_unixtime_ms or received_ms,
            payload=_encode(event),
        )
        for event in batch.events
    ]
    return _processed(batch, record, events, payload)


def _with_extras(batch: Batch, record: InboundRecord) -> ProcessedBatch:
    """The general case: unknown fields merged back into their objects through builtins."""
    as_json = batch_to_builtins(batch)
    events = [
        StoredEvent(
            event_id=event.data.event_id or 0,
            event_type=event.event_type,
            event_name=event_name_of(event),
            timestamp_ms=event.data.timestamp_unixtime_ms or record.received_ms,
            payload=_encode(event_json),
        )
        for event, event_json in zip(batch.events, as_json.get("events", []), strict=True)
    ]
    return _processed(batch, record, events, _encode(as_json))


def _processed(
    batch: Batch, record: InboundRecord, events: list[StoredEvent], payload: bytes
) -> ProcessedBatch:
    return ProcessedBatch(
        batch_id=record.batch_id,
        workspace_id=record.workspace_id,
        input_id=record.input_id,
        environment=record.environment,
        mpid=batch.mpid or 0,
        received_ms=record.received_ms,
        historical=record.historical,
        source_request_id=batch.source_request_id,
        device_ids=device_ids_of(batch),
        events=events,
        payload=payload,
    )
