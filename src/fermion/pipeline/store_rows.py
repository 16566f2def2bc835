"""Turns a processed batch into the rows the event store keeps (pure)."""

from __future__ import annotations

import msgspec

from fermion.model.batch import Batch
from fermion.model.codec import batch_to_builtins, event_name_of
from fermion.model.records import InboundRecord, ProcessedBatch, StoredEvent
from fermion.pipeline.identity_stub import device_ids_of

_encoder = msgspec.json.Encoder()


def to_processed(batch: Batch, record: InboundRecord) -> ProcessedBatch:
    """`batch` has been through the chain, so its mpid and every event id are set."""
    as_json = batch_to_builtins(batch)
    events = [
        StoredEvent(
            event_id=event.data.event_id or 0,
            event_type=event.event_type,
            event_name=event_name_of(event),
            timestamp_ms=event.data.timestamp_unixtime_ms or record.received_ms,
            payload=_encoder.encode(event_json),
        )
        for event, event_json in zip(batch.events, as_json.get("events", []), strict=True)
    ]
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
        payload=_encoder.encode(as_json),
    )
