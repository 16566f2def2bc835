"""Normalize stage: stamps what Fermion adds on receipt (spec 2.1 "output-only" fields).

Default event timestamps and ids, session fields, the historical flag, source channel, batch id,
receive time, IP, and one spelling of the customer id. Event names, screen names and event attribute
names longer than the reference's limit are truncated to it, as its Events API does (spec 5).
"""

from __future__ import annotations

from msgspec import structs

from fermion.model.batch import Batch, SourceInfo
from fermion.model.events import CustomEventData, Event, ScreenViewData
from fermion.model.events_common import EventData
from fermion.model.ids import derived_id, event_id_for
from fermion.model.limits import MAX_NAME_CHARS
from fermion.pipeline.stage import StageContext

SERVER_TO_SERVER = "server_to_server"


def normalize(batch: Batch, ctx: StageContext) -> Batch:
    record = ctx.record
    source = batch.source_info or SourceInfo()
    source = structs.replace(
        source,
        channel=source.channel or SERVER_TO_SERVER,
        is_historical=True if record.historical else source.is_historical,
    )
    ids = batch.user_identities
    if ids is not None and ids.customerid is not None:
        ids = structs.replace(ids, customer_id=ids.customer_id or ids.customerid, customerid=None)
    return structs.replace(
        batch,
        batch_id=record.batch_id,
        timestamp_unixtime_ms=record.received_ms,
        environment=record.environment,
        ip=batch.ip or record.source_ip or None,
        source_info=source,
        user_identities=ids,
        events=_normalize_events(batch.events, record.batch_id, record.received_ms),
    )


def _normalize_events(events: list[Event], batch_id: int, received_ms: int) -> list[Event]:
    out: list[Event] = []
    session_start_ms: int | None = None
    for index, event in enumerate(events):
        data = event.data
        timestamp = data.timestamp_unixtime_ms if data.timestamp_unixtime_ms is not None else received_ms
        session_id = data.session_id
        if session_id is None and data.session_uuid:
            session_id = derived_id("session", data.session_uuid)
        if event.event_type == "session_start":
            session_start_ms = timestamp
        data = structs.replace(
            data,
            timestamp_unixtime_ms=timestamp,
            event_id=data.event_id if data.event_id is not None else event_id_for(batch_id, index),
            session_id=session_id,
            session_start_unixtime_ms=data.session_start_unixtime_ms or session_start_ms,
        )
        out.append(structs.replace(event, data=_within_limits(data)))
    return out


def _within_limits(data: EventData) -> EventData:
    """`data` with its name and attribute names cut to MAX_NAME_CHARS (a copy only when one is longer)."""
    attrs = data.custom_attributes
    if attrs and max(map(len, attrs)) > MAX_NAME_CHARS:
        data = structs.replace(data, custom_attributes={k[:MAX_NAME_CHARS]: v for k, v in attrs.items()})
    if isinstance(data, CustomEventData):
        name = data.event_name
        if name is not None and len(name) > MAX_NAME_CHARS:
            data = structs.replace(data, event_name=name[:MAX_NAME_CHARS])
    elif isinstance(data, ScreenViewData):
        name = data.screen_name
        if name is not None and len(name) > MAX_NAME_CHARS:
            data = structs.replace(data, screen_name=name[:MAX_NAME_CHARS])
    return data
