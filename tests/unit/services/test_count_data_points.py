"""The catalog phase: counts summed over a group, first/last seen per point, only new batches counted."""

from __future__ import annotations

from collections.abc import Mapping

from fermion.dataplans.catalog import DataPoint, Observation
from fermion.model.codec import decode_batch_obj
from fermion.model.records import InboundRecord
from fermion.services.catalog import CountDataPoints
from fermion.services.processing import ProcessingReport, WorkItem


class Recorded:
    def __init__(self) -> None:
        self.calls: list[dict[int, dict[DataPoint, Observation]]] = []

    def record(self, observations: Mapping[int, Mapping[DataPoint, Observation]]) -> None:
        self.calls.append({ws: dict(points) for ws, points in observations.items()})


def item(batch_id: int, workspace_id: int, received_ms: int, name: str, new: bool = True) -> WorkItem:
    body = {
        "events": [{"event_type": "custom_event", "data": {"event_name": name, "custom_event_type": "other"}}]
    }
    record = InboundRecord(
        batch_id=batch_id,
        workspace_id=workspace_id,
        input_id=1,
        environment="production",
        received_ms=received_ms,
        source_ip="",
        request_id="r",
        historical=False,
        payload=b"{}",
    )
    return WorkItem(record=record, batch=decode_batch_obj(body), notes={"new": new})


def test_group_counts_with_first_and_last_seen_per_workspace() -> None:
    store = Recorded()
    items = [
        item(1, 7, 2_000, "Play"),
        item(2, 7, 1_000, "Play"),
        item(3, 7, 3_000, "Play"),
        item(4, 7, 3_000, "Stop"),
        item(5, 7, 9_000, "Play", new=False),  # a duplicate: not counted
        item(6, 8, 5_000, "Play"),
    ]
    CountDataPoints(store).run(items, 0, ProcessingReport())
    (call,) = store.calls
    play = DataPoint("Event", "Play", "other")
    assert call[7][play] == Observation(3, 1_000, 3_000)
    assert call[7][DataPoint("Event", "Stop", "other")] == Observation(1, 3_000, 3_000)
    assert call[7][DataPoint("MessageType", "custom_event")] == Observation(4, 1_000, 3_000)
    assert call[8] == {
        play: Observation(1, 5_000, 5_000),
        DataPoint("MessageType", "custom_event"): Observation(1, 5_000, 5_000),
        DataPoint("EventType", "other"): Observation(1, 5_000, 5_000),
    }


def test_nothing_new_records_nothing() -> None:
    store = Recorded()
    CountDataPoints(store).run([item(1, 7, 1_000, "Play", new=False)], 0, ProcessingReport())
    assert store.calls == []
