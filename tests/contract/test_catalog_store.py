"""Contract tests of the catalog and filter stores (SQLite and PostgreSQL), and of the counting phase."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from fermion.adapters.sql.catalog_store import SqlCatalogStore
from fermion.dataplans.catalog import ConnectionFilter, DataPoint, Observation
from fermion.model.codec import decode_batch_obj
from fermion.model.records import InboundRecord
from fermion.services.catalog import CatalogService, CountDataPoints, FilterEntry
from fermion.services.processing import ProcessingReport, WorkItem
from support.batches import load_fixture

EVENT = DataPoint("Event", "Home", "navigation")
ATTR = DataPoint("EventAttribute", "Home", "navigation", "tab")


def test_record_adds_counts_and_keeps_first_and_last_seen(sql_engine: Engine) -> None:
    store = SqlCatalogStore(sql_engine)
    store.record({1: {EVENT: Observation(2, 2_000, 3_000), ATTR: Observation(1, 2_000, 2_000)}})
    store.record({1: {EVENT: Observation(3, 1_000, 1_500)}, 2: {EVENT: Observation(1, 9, 9)}})
    rows = {r.point: r for r in store.data_points(1)}
    assert (rows[EVENT].count, rows[EVENT].first_seen_ms, rows[EVENT].last_seen_ms) == (5, 1_000, 3_000)
    assert rows[ATTR].count == 1
    assert [r.point for r in store.data_points(1, kind="EventAttribute")] == [ATTR]
    assert [r.count for r in store.data_points(2)] == [1]
    assert store.data_points(3) == []


def test_concurrent_records_add_up(sql_engine: Engine) -> None:
    store = SqlCatalogStore(sql_engine)
    points = [DataPoint("UserAttribute", f"a{i}") for i in range(50)]

    def run() -> None:
        for _ in range(5):
            store.record({1: {p: Observation(1, 1, 1) for p in reversed(points)}})

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.count for r in store.data_points(1)} == {20}


def test_filters_default_upsert_and_delete(sql_engine: Engine) -> None:
    store = SqlCatalogStore(sql_engine)
    assert store.get_filters([7, 8]) == {7: ConnectionFilter(True, {}), 8: ConnectionFilter(True, {})}
    got = store.set_filter(7, 1, False, {EVENT: False, ATTR: True})
    assert got == ConnectionFilter(False, {EVENT: False, ATTR: True})
    got = store.set_filter(7, 1, None, {EVENT: True})  # None keeps send_new_by_default
    assert got == ConnectionFilter(False, {EVENT: True, ATTR: True})
    assert store.get_filters([8])[8] == ConnectionFilter(True, {})
    store.delete_filter(7)
    assert store.get_filters([7])[7] == ConnectionFilter(True, {})


def _item(batch_id: int, new: bool | None, workspace_id: int = 1) -> WorkItem:
    record = InboundRecord(
        batch_id=batch_id, workspace_id=workspace_id, input_id=1, environment="production",
        received_ms=5_000 + batch_id, source_ip="", request_id="r", historical=False, payload=b"{}",
    )  # fmt: skip
    item = WorkItem(record=record, batch=decode_batch_obj(load_fixture("custom_event")))
    if new is not None:
        item.notes["new"] = new
    return item


def test_phase_counts_only_batches_stored_for_the_first_time(sql_engine: Engine) -> None:
    store = SqlCatalogStore(sql_engine)
    phase = CountDataPoints(store)
    items = [_item(1, True), _item(2, False), _item(3, None), _item(4, True, workspace_id=2)]
    assert phase.run(items, 0, ProcessingReport()) == items
    phase.run([_item(1, False)], 0, ProcessingReport())  # the same batch processed again
    rows = {r.point: r for r in store.data_points(1)}
    custom = rows[DataPoint("MessageType", "custom_event")]
    assert (custom.count, custom.first_seen_ms, custom.last_seen_ms) == (3, 5_001, 5_001)
    assert len(store.data_points(2)) == len(rows)


def test_turning_send_new_off_pins_existing_points(sql_engine: Engine) -> None:
    store = SqlCatalogStore(sql_engine)
    CountDataPoints(store).run([_item(1, True)], 0, ProcessingReport())
    service = CatalogService(store, store)
    flt = service.set_filter(1, 7, False, [FilterEntry(EVENT, False)])
    entries = flt.entries or {}
    assert entries[EVENT] is False
    assert entries[DataPoint("Event", "Add to Favorites", "user_preference")] is True
    assert entries[DataPoint("EventType", "user_preference")] is True
    assert entries[DataPoint("MessageType", "custom_event")] is True
    assert flt.allows(DataPoint("EventAttribute", "Add to Favorites", "user_preference", "price"))
    assert not flt.allows(DataPoint("Event", "Never Seen", "user_preference"))
    # Turning it on and off again keeps explicit choices.
    service.set_filter(1, 7, True, [])
    again = service.set_filter(1, 7, False, [])
    assert (again.entries or {})[EVENT] is False
