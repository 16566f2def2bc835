"""Contract (SQLite and PostgreSQL): scans over stored history for audiences and calculated attributes
leave historical batches (/v2/bulkevents/historical) out, by the batches' `historical` column."""

from __future__ import annotations

from sqlalchemy import Engine

from fermion.adapters.sql.calculated_store import SqlCalculatedStore
from fermion.adapters.sql.event_store import SqlEventStore
from fermion.model.records import BatchFilter
from fermion.services.processing import ProcessingReport, StoreEvents, WorkItem
from support.work_items import work_item

NOW = 1_790_000_000_000
WS = 1


def item(batch_id: int, mpid: int, historical: bool) -> WorkItem:
    event = {
        "event_type": "custom_event",
        "data": {"event_name": "Buy", "custom_event_type": "other", "event_id": batch_id * 10},
    }
    body = {"mpid": mpid, "environment": "production", "events": [event]}
    return work_item(body, batch_id=batch_id, received_ms=NOW, workspace_id=WS, historical=historical)


def test_history_scans_leave_historical_batches_out(sql_engine: Engine) -> None:
    events = SqlEventStore(sql_engine)
    items = [item(1, 10, False), item(2, 11, True), item(3, 10, True), item(4, 12, False)]
    StoreEvents(events).run(items, NOW, ProcessingReport())
    every = events.batches(BatchFilter(workspace_id=WS))
    assert [(b.batch_id, b.historical) for b in every] == [(1, False), (2, True), (3, True), (4, False)]
    live = events.batches(BatchFilter(workspace_id=WS, historical=False))
    assert [b.batch_id for b in live] == [1, 4]
    assert [b.batch_id for b in events.batches(BatchFilter(workspace_id=WS, historical=True))] == [2, 3]

    store = SqlCalculatedStore(sql_engine)
    definition = {
        "calculation_type": "count",
        "data_point": {"type": "event", "event_type": "custom_event", "event_name": "Buy"},
        "time_period": {"type": "since", "date": "2020-01-01"},
    }
    ca = store.create(WS, "Buys", "", definition, NOW)
    assert store.activate(WS, ca.id, "me", NOW, 10)
    active = store.get(WS, ca.id)
    assert active is not None and active.total_batches == 2  # what the backfill will compute from
    scanned = store.scan(WS, 0, active.boundary_seq, 100)
    assert [(mpid, seq) for seq, mpid, _, _ in scanned] == [(10, every[0].seq), (12, every[3].seq)]
