"""The profile phase: one bulk load and one save per group, change events added, client times used."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from msgspec import structs

from fermion.model.codec import decode_batch
from fermion.model.events import UserAttributeChangeEvent, make_event
from fermion.model.records import InboundRecord
from fermion.profiles.state import Profile, ProfileWrite
from fermion.services.processing import ProcessingReport, WorkItem
from fermion.services.profile_phase import ProfilePhase, client_event_times


class FakeStore:
    def __init__(self) -> None:
        self.loads: list[tuple[int, list[int]]] = []
        self.saved: list[ProfileWrite] = []

    def load(self, workspace_id: int, mpids: Sequence[int]) -> dict[int, Profile]:
        self.loads.append((workspace_id, sorted(set(mpids))))
        return {}

    def save(self, writes: Sequence[ProfileWrite]) -> None:
        self.saved.extend(writes)


def item(batch_id: int, body: dict[str, Any], workspace_id: int = 1, received_ms: int = 50_000) -> WorkItem:
    payload = orjson.dumps(body)
    record = InboundRecord(batch_id=batch_id, workspace_id=workspace_id, input_id=9, environment="production",
                           received_ms=received_ms, source_ip="", request_id="r", historical=False,
                           payload=payload)  # fmt: skip
    return WorkItem(record=record, batch=decode_batch(payload))


def tap(ts: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"event_name": "t", "custom_event_type": "other"}
    if ts is not None:
        data["timestamp_unixtime_ms"] = ts
    return {"event_type": "custom_event", "data": data}


def test_groups_by_workspace_and_adds_change_events_in_log_order() -> None:
    store = FakeStore()
    items = [
        item(1, {"mpid": 5, "events": [tap(1_000)], "user_attributes": {"a": "x"}}),
        item(2, {"mpid": 5, "events": [tap(2_000)], "user_attributes": {"a": "y"}}),
        item(3, {"mpid": 6, "user_attributes": {"b": 1}}, workspace_id=2),
        item(4, {"events": [tap()]}),  # no MPID: left alone
    ]
    out = ProfilePhase(store).run(items, 0, ProcessingReport())
    assert out == items
    assert sorted(store.loads) == [(1, [5]), (2, [6])]
    changes = [[e.data.old for e in i.batch.events if isinstance(e, UserAttributeChangeEvent)] for i in out]
    assert changes == [[None], ["x"], [None], []]
    assert {(w.workspace_id, w.mpid) for w in store.saved} == {(1, 5), (2, 6)}
    (first,) = [w for w in store.saved if w.mpid == 5]
    assert first.attributes["a"].value == "y" and first.attributes["a"].prev_value == "x"


def test_events_added_by_earlier_phases_do_not_move_the_write_time() -> None:
    store = FakeStore()
    work = item(1, {"mpid": 5, "events": [tap(1_000)], "user_attributes": {"a": 1}})
    added = make_event("user_identity_change")
    added.data.timestamp_unixtime_ms = 50_000
    work.batch = structs.replace(work.batch, events=[*work.batch.events, added])
    ProfilePhase(store).run([work], 0, ProcessingReport())
    assert store.saved[0].attributes["a"].ts_ms == 1_000


def test_client_event_times() -> None:
    assert client_event_times(item(1, {"events": [tap(7), tap()]}).record) == (7, 50_000)
    assert client_event_times(item(1, {"user_attributes": {}}).record) == ()
    broken = structs.replace(item(1, {}).record, payload=b"[1]")
    assert client_event_times(broken) is None
