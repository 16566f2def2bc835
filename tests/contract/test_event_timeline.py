"""EventTimeline contract: one user's events filtered by time, input, event type and device."""

from __future__ import annotations

import msgspec
import pytest
from sqlalchemy import Engine

from fermion.adapters.sql import SqlEventStore
from fermion.adapters.sql.event_timeline import SqlEventTimeline
from fermion.ports import ProcessedBatch, StoredEvent, TimelineQuery

T0 = 1_700_000_000_000


def _batch(
    batch_id: int, input_id: int, device_ids: list[str], events: list[tuple[int, str]], mpid: int = 42
) -> ProcessedBatch:
    return ProcessedBatch(
        batch_id=batch_id,
        workspace_id=1,
        input_id=input_id,
        environment="production",
        mpid=mpid,
        received_ms=T0,
        historical=False,
        source_request_id=None,
        device_ids=device_ids,
        events=[
            StoredEvent(
                event_id=batch_id * 100 + i,
                event_type=event_type,
                event_name=event_type,
                timestamp_ms=T0 + ts,
                payload=msgspec.json.encode({"event_type": event_type, "data": {}}),
            )
            for i, (ts, event_type) in enumerate(events)
        ],
        payload=b"{}",
    )


@pytest.fixture
def timeline(sql_engine: Engine) -> SqlEventTimeline:
    SqlEventStore(sql_engine).save(
        [
            _batch(1, 10, ["idfv-1", "das-1"], [(1, "session_start"), (2, "custom_event")]),
            _batch(2, 11, ["das-2"], [(3, "custom_event"), (4, "screen_view")]),
            _batch(3, 10, [], [(5, "user_attribute_change")]),
            _batch(4, 10, ["idfv-1"], [(6, "custom_event")], mpid=43),
        ]
    )
    return SqlEventTimeline(sql_engine)


def _ids(timeline: SqlEventTimeline, **kw: object) -> list[int]:
    return [r.event_id for r in timeline.timeline(TimelineQuery(workspace_id=1, mpid=42, **kw))]  # type: ignore[arg-type]


def test_all_events_of_the_user_oldest_first(timeline: SqlEventTimeline) -> None:
    assert _ids(timeline) == [100, 101, 200, 201, 300]


def test_filters(timeline: SqlEventTimeline) -> None:
    assert _ids(timeline, since_ms=T0 + 2, until_ms=T0 + 4) == [101, 200]
    assert _ids(timeline, input_id=11) == [200, 201]
    assert _ids(timeline, event_type="custom_event") == [101, 200]
    assert _ids(timeline, device_id="idfv-1") == [100, 101]
    assert _ids(timeline, device_id="das-2", event_type="screen_view") == [201]
    assert _ids(timeline, device_id="nope") == []
    assert _ids(timeline, limit=2) == [100, 101]
