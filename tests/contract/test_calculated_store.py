"""Contract tests of the CA store (SQLite and PostgreSQL): definitions, activation, live updates
through the CA phase (exactly once under redelivery), seeds, backfill leases, and the values port."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import Engine

from fermion.adapters.sql.calculated_store import SqlCalculatedStore
from fermion.adapters.sql.event_store import SqlEventStore
from fermion.calculated.records import CaRecord
from fermion.calculated.seeds import seed_part
from fermion.ports.calculated import ActiveLimitReached, NameTaken
from fermion.services.calculated_backfill import Backfill
from fermion.services.calculated_phase import NAMES_NOTE as CALCULATED_NAMES_NOTE
from fermion.services.calculated_phase import NOTE as CALCULATED_NOTE
from fermion.services.calculated_phase import CalculatedPhase
from fermion.services.calculated_values import CalculatedValuesService
from fermion.services.processing import ProcessingReport, StoreEvents, WorkItem
from support.work_items import work_item

DAY = 86_400_000
NOW = 1_790_000_000_000
WS = 1


def definition(ctype: str = "count", attribute: str | None = None) -> dict[str, Any]:
    point: dict[str, Any] = {"type": "event", "event_type": "custom_event", "event_name": "Buy"}
    if attribute:
        point = {**point, "type": "event_attribute", "attribute_name": attribute}
    return {
        "calculation_type": ctype,
        "data_point": point,
        "time_period": {"type": "since", "date": "2020-01-01"},
    }


def item(batch_id: int, mpid: int, amounts: list[float], ts: int = NOW - DAY) -> WorkItem:
    body = {
        "mpid": mpid,
        "environment": "production",
        "events": [
            {
                "event_type": "custom_event",
                "data": {
                    "event_name": "Buy",
                    "custom_event_type": "transaction",
                    "timestamp_unixtime_ms": ts + i,
                    "event_id": batch_id * 100 + i,
                    "custom_attributes": {"amount": str(a)},
                },
            }
            for i, a in enumerate(amounts)
        ],
    }
    return work_item(body, batch_id=batch_id, received_ms=NOW, workspace_id=WS)


def process(engine: Engine, items: list[WorkItem]) -> list[WorkItem]:
    report = ProcessingReport()
    items = StoreEvents(SqlEventStore(engine)).run(items, NOW, report)
    return CalculatedPhase(SqlCalculatedStore(engine)).run(items, NOW, report)


def test_create_find_update_delete(sql_engine: Engine) -> None:
    store = SqlCalculatedStore(sql_engine)
    ca = store.create(WS, "Buys", "d", definition(), NOW)
    assert store.get(WS, ca.id) == ca and ca.status == "draft" and ca.active is None
    assert [c.id for c in store.find(WS, "Buys")] == [ca.id]
    assert store.find(WS, "nope") == [] and store.get(WS + 1, ca.id) is None
    with pytest.raises(NameTaken):
        store.create(WS, "Buys", "", definition(), NOW)
    assert store.update_draft(WS, ca.id, "Buys2", "e", definition("sum", "amount"), NOW + 1)
    got = store.get(WS, ca.id)
    assert got is not None and got.name == "Buys2" and got.draft == definition("sum", "amount")
    assert not store.update_draft(WS, ca.id + 99, "x", "", None, NOW)
    assert store.delete(WS, ca.id) and not store.delete(WS, ca.id)


def test_activation_limit_and_boundary(sql_engine: Engine) -> None:
    store = SqlCalculatedStore(sql_engine)
    process(sql_engine, [item(1, 10, [1.0])])
    first = store.create(WS, "a", "", definition(), NOW)
    second = store.create(WS, "b", "", definition(), NOW)
    assert store.activate(WS, first.id, "me", NOW, max_active=1)
    with pytest.raises(ActiveLimitReached):
        store.activate(WS, second.id, "me", NOW, max_active=1)
    active = store.get(WS, first.id)
    assert active is not None and active.status == "calculating" and active.boundary_seq >= 1
    assert active.total_batches == 1 and active.generation == 1
    assert store.activate(WS, first.id, "me", NOW, max_active=1)  # re-activating is not a new one
    assert list(store.active([WS, 2])) == [WS]


def test_live_updates_apply_once_and_sync_values_ride_on_the_batch(sql_engine: Engine) -> None:
    store = SqlCalculatedStore(sql_engine)
    count = store.create(WS, "Buys", "", definition(), NOW)
    total = store.create(WS, "Spent", "", definition("sum", "amount"), NOW)
    store.activate(WS, count.id, "me", NOW - 3_600_000, 10)
    store.activate(WS, total.id, "me", NOW - 3_600_000, 10)
    out = process(sql_engine, [item(1, 10, [2.5, 3]), item(2, 10, [1]), item(3, 11, [4])])
    assert out[0].batch.user_attributes == {"Buys": "2", "Spent": "5.5"}
    assert out[1].batch.user_attributes == {"Buys": "3", "Spent": "6.5"}
    values = CalculatedValuesService(store)
    expected = {10: {"Buys": "3", "Spent": "6.5"}, 11: {"Buys": "1", "Spent": "4"}}
    assert values.values_for(WS, [10, 11, 12], NOW) == expected
    # Redelivered after a crash: already applied (or a duplicate), nothing changes.
    again = process(sql_engine, [item(1, 10, [2.5, 3]), item(2, 10, [1])])
    assert values.values_for(WS, [10, 11], NOW) == expected
    assert again[1].batch.user_attributes == {"Buys": "3", "Spent": "6.5"}
    # Marks long past any redelivery are forgotten.
    assert store.prune_applied(NOW) == 0
    assert store.prune_applied(NOW + 1) == 3


def test_backfill_then_live_counts_each_batch_once(sql_engine: Engine) -> None:
    store = SqlCalculatedStore(sql_engine)
    process(sql_engine, [item(i, 10 + i % 3, [float(i)]) for i in range(1, 31)])
    ca = store.create(WS, "Spent", "", definition("sum", "amount"), NOW)
    store.activate(WS, ca.id, "me", NOW, 10)
    # Stored before activation but processed (again) after it: the backfill covers these.
    process(sql_engine, [item(5, 15, [1000.0])])
    process(sql_engine, [item(31, 10, [100.0])])
    backfill = Backfill(store, owner="w1", page=7)
    assert backfill.run_once(NOW)
    assert not backfill.run_once(NOW)
    done = store.get(WS, ca.id)
    assert done is not None and done.status == "completed" and done.done_batches == 30
    values = CalculatedValuesService(store).values_for(WS, [10, 11, 12], NOW)
    assert values[10]["Spent"] == str(sum(i for i in range(1, 31) if i % 3 == 0) + 100)
    assert values[11]["Spent"] == str(sum(i for i in range(1, 31) if i % 3 == 1))


def test_a_lost_lease_writes_nothing(sql_engine: Engine) -> None:
    store = SqlCalculatedStore(sql_engine)
    process(sql_engine, [item(1, 10, [1.0])])
    ca = store.create(WS, "Spent", "", definition("sum", "amount"), NOW)
    store.activate(WS, ca.id, "me", NOW, 10)
    assert [c.id for c in store.claim_backfill("w1", NOW, 1000)] == [ca.id]
    assert store.claim_backfill("w2", NOW + 10, 1000) == []
    taken = store.claim_backfill("w2", NOW + 2000, 1000)  # w1's lease expired
    assert [c.id for c in taken] == [ca.id]
    assert not store.save_backfill("w1", WS, [], {ca.id: (1, 1)}, NOW + 2001, 1000, True)
    assert not store.renew_backfill("w1", [ca.id], NOW + 2001, 1000)
    assert store.renew_backfill("w2", [ca.id], NOW + 2001, 5000)
    assert store.claim_backfill("w3", NOW + 4000, 1000) == []  # renewed until NOW + 7001


def test_seeds_combine_with_events_after_the_cutoff(sql_engine: Engine) -> None:
    store = SqlCalculatedStore(sql_engine)
    ca = store.create(WS, "Spent", "", definition("sum", "amount"), NOW)
    store.activate(WS, ca.id, "me", NOW - 3_600_000, 10)
    cutoff = (NOW - 2 * DAY) // DAY * DAY
    store.set_seeds(WS, [(ca.id, 10, seed_part("sum", {"value": 100.5}, cutoff), cutoff)])
    process(sql_engine, [item(1, 10, [5], ts=cutoff - DAY), item(2, 10, [7], ts=cutoff + 10)])
    assert CalculatedValuesService(store).values_for(WS, [10], NOW) == {10: {"Spent": "107.5"}}


def test_concurrent_live_updates_add_up(sql_engine: Engine) -> None:
    store = SqlCalculatedStore(sql_engine)
    ca = store.create(WS, "Buys", "", definition(), NOW)
    store.activate(WS, ca.id, "me", NOW - 3_600_000, 10)

    def run(start: int) -> None:
        for n in range(5):
            process(sql_engine, [item(start + n, 10, [1.0])])

    threads = [threading.Thread(target=run, args=(1000 * t,)) for t in range(1, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert CalculatedValuesService(store).values_for(WS, [10], NOW) == {10: {"Buys": "15"}}


ALL_TYPES = [
    ("count", None),
    ("sum", "amount"),
    ("min", "amount"),
    ("max", "amount"),
    ("average", "amount"),
    ("first_occurrence", "amount"),
    ("last_occurrence", "amount"),
    ("first_occurrence_timestamp", None),
    ("last_occurrence_timestamp", None),
    ("unique_list", "amount"),
    ("unique_values_count", "amount"),
    ("most_frequent", "amount"),
]


def history() -> list[WorkItem]:
    # Out of order in time, several days, two users, repeats (for most_frequent).
    amounts = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8]
    return [item(100 + i, 20 + i % 2, [a], ts=NOW - (i * 7 % 5) * DAY - i) for i, a in enumerate(amounts)]


def activate_all_types(store: SqlCalculatedStore, activated_ms: int) -> None:
    for ctype, attribute in ALL_TYPES:
        ca = store.create(WS, ctype, "", definition(ctype, attribute), NOW)
        store.activate(WS, ca.id, "me", activated_ms, 100)


def test_backfill_equals_incremental(sql_engine: Engine) -> None:
    store = SqlCalculatedStore(sql_engine)
    values = CalculatedValuesService(store)
    # Incremental: active before the batches arrive.
    activate_all_types(store, NOW - 3_600_000)
    for one in history():
        process(sql_engine, [one])
    incremental = values.values_for(WS, [20, 21], NOW)
    assert len(incremental[20]) == len(ALL_TYPES)
    # Backfill: the same CAs re-activated compute everything again from the stored batches.
    for ca in store.find(WS):
        store.activate(WS, ca.id, "me", NOW, 100)
    assert values.values_for(WS, [20, 21], NOW) == {}  # the old generation no longer counts
    assert Backfill(store, owner="w1", page=5).run_once(NOW)
    assert values.values_for(WS, [20, 21], NOW) == incremental


class ActivatesWhileProcessing(SqlCalculatedStore):
    """The real store, with a CA activated right after the phase has read the active CAs (the race
    between activation and a group in flight)."""

    def __init__(self, engine: Engine, ca_id: int) -> None:
        super().__init__(engine)
        self.ca_id = ca_id

    def active(self, workspace_ids: Sequence[int]) -> dict[int, list[CaRecord]]:
        found = super().active(workspace_ids)
        self.activate(WS, self.ca_id, "me", NOW, 100)
        return found


def test_a_ca_activated_while_a_group_is_in_flight_counts_it_once(sql_engine: Engine) -> None:
    store = SqlCalculatedStore(sql_engine)
    other = store.create(WS, "Spent", "", definition("sum", "amount"), NOW)
    store.activate(WS, other.id, "me", NOW - 3_600_000, 100)
    assert Backfill(store, owner="w0").run_once(NOW)  # nothing stored yet: completed at once
    ca = store.create(WS, "Buys", "", definition(), NOW)
    report = ProcessingReport()
    group = StoreEvents(SqlEventStore(sql_engine)).run([item(1, 10, [1.0]), item(2, 10, [1.0])], NOW, report)
    CalculatedPhase(ActivatesWhileProcessing(sql_engine, ca.id)).run(group, NOW, report)
    assert Backfill(store, owner="w1").run_once(NOW)
    assert CalculatedValuesService(store).values_for(WS, [10], NOW) == {10: {"Buys": "2", "Spent": "2"}}


def test_the_phase_notes_the_values_readers_see(sql_engine: Engine) -> None:
    store = SqlCalculatedStore(sql_engine)
    values = CalculatedValuesService(store)
    activate_all_types(store, NOW - 3_600_000)
    past = history()
    process(sql_engine, past[:6])
    for ca in store.find(WS)[:3]:  # re-activated: their backfill writes base documents, older entries go
        store.activate(WS, ca.id, "me", NOW, 100)
    assert Backfill(store, owner="w1", page=5).run_once(NOW)
    names = {ca.name for ca in store.find(WS)}
    # New batches, a duplicate within a group, and a redelivered group (its users' documents unchanged).
    for group in (past[6:], [item(200, 20, [7]), item(200, 20, [7])], history()[6:]):
        done = process(sql_engine, group)
        mpids = sorted({i.batch.mpid for i in done if i.batch.mpid is not None})
        _read_ns, noted = done[0].notes[CALCULATED_NOTE]
        found = {m: v for m, v in noted.values_of(mpids, names).items() if v}
        assert found == values.values_for(WS, mpids, NOW) and len(found[20]) == len(ALL_TYPES)
        assert noted.values_of(mpids, {"count"}) == {m: {"count": found[m]["count"]} for m in mpids}
        assert all(i.notes[CALCULATED_NAMES_NOTE] == names for i in done)  # each batch has data for all
