"""EventStore contract: dedupe, atomicity, filters and ordering, identical on every adapter."""

from __future__ import annotations

import itertools
import threading

import msgspec
import pytest

from fermion.adapters.sql import SqlEventStore
from fermion.ports import BatchFilter, BatchRow, EventStore, ProcessedBatch, StoredEvent

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
T0 = 1_700_000_000_000

_ids = itertools.count(1_000)


def ev(
    event_id: int | None = None, ts: int = T0, event_type: str = "custom_event", name: str = "tap"
) -> StoredEvent:
    event_id = next(_ids) if event_id is None else event_id
    payload = msgspec.json.encode({"event_type": event_type, "data": {"event_name": name, "id": event_id}})
    return StoredEvent(
        event_id=event_id, event_type=event_type, event_name=name, timestamp_ms=ts, payload=payload
    )


def batch(
    batch_id: int | None = None,
    *,
    workspace_id: int = 1,
    input_id: int = 10,
    environment: str = "production",
    mpid: int = 42,
    source_request_id: str | None = None,
    device_ids: list[str] | None = None,
    events: list[StoredEvent] | None = None,
    historical: bool = False,
    tag: str = "",
) -> ProcessedBatch:
    batch_id = next(_ids) if batch_id is None else batch_id
    return ProcessedBatch(
        batch_id=batch_id,
        workspace_id=workspace_id,
        input_id=input_id,
        environment=environment,
        mpid=mpid,
        received_ms=T0 + 5,
        historical=historical,
        source_request_id=source_request_id,
        device_ids=["das-1"] if device_ids is None else device_ids,
        events=[ev()] if events is None else events,
        payload=msgspec.json.encode({"batch_id": batch_id, "tag": tag}),
    )


def all_batches(store: SqlEventStore, workspace_id: int = 1, **kw: object) -> list[BatchRow]:
    return store.batches(BatchFilter(workspace_id=workspace_id, limit=10_000, **kw))  # type: ignore[arg-type]


def ids(rows: list[BatchRow]) -> list[int]:
    return [r.batch_id for r in rows]


# -- save ---------------------------------------------------------------------------------------


def test_store_satisfies_the_port(event_store: SqlEventStore) -> None:
    store: EventStore = event_store
    assert store is event_store


def test_save_nothing(event_store: SqlEventStore) -> None:
    assert event_store.save([]) == []
    assert event_store.count_batches() == 0


def test_save_round_trips_every_field(event_store: SqlEventStore) -> None:
    e1, e2 = ev(7, ts=T0 + 1, name="a"), ev(8, ts=T0 + 2, event_type="screen_view", name="Home")
    b = batch(
        11,
        workspace_id=3,
        input_id=4,
        environment="development",
        mpid=-5,
        source_request_id="req-1",
        device_ids=["das-x", "idfa-é", 'quote"d'],
        events=[e1, e2],
        historical=True,
    )
    assert event_store.save([b]) == [11]
    [row] = all_batches(event_store, 3)
    assert row.seq > 0
    assert row == BatchRow(
        seq=row.seq,
        batch_id=11,
        workspace_id=3,
        input_id=4,
        environment="development",
        mpid=-5,
        received_ms=T0 + 5,
        historical=True,
        device_ids=["das-x", "idfa-é", 'quote"d'],
        payload=b.payload,
    )
    rows = event_store.events(3)
    assert [(r.event_id, r.event_type, r.event_name, r.timestamp_ms, r.payload) for r in rows] == [
        (7, "custom_event", "a", T0 + 1, e1.payload),
        (8, "screen_view", "Home", T0 + 2, e2.payload),
    ]
    for r in rows:
        assert (r.workspace_id, r.batch_id, r.mpid, r.environment, r.input_id) == (
            3,
            11,
            -5,
            "development",
            4,
        )
    assert isinstance(rows[0].payload, bytes) and isinstance(row.payload, bytes)


def test_save_round_trips_awkward_values(event_store: SqlEventStore) -> None:
    # What array literals would have to quote or escape: braces, commas, quotes, backslashes, NULL,
    # white space, empty strings; payloads with every byte value.
    awkward = ["{a,b}", "back\\slash", '"', "NULL", " ", "", "é€𝄞"]
    raw = bytes(range(256))
    events = [
        StoredEvent(
            event_id=i, event_type="custom_event", event_name=name, timestamp_ms=T0, payload=raw + b"%d" % i
        )
        for i, name in enumerate(awkward)
    ]
    b = ProcessedBatch(
        **{
            **msgspec.structs.asdict(batch(1, source_request_id='{"r",\\}', device_ids=awkward)),
            "events": events,
            "environment": "",
            "payload": raw,
        }
    )
    assert event_store.save([b]) == [1]
    [row] = all_batches(event_store)
    assert (row.device_ids, row.payload, row.environment) == (awkward, raw, "")
    assert [(e.event_name, e.payload) for e in event_store.events(1)] == [
        (e.event_name, e.payload) for e in events
    ]
    assert event_store.save([batch(2, source_request_id='{"r",\\}')]) == []


def test_save_returns_new_ids_in_order_and_seq_increases(event_store: SqlEventStore) -> None:
    first = [batch(i) for i in (30, 10, 20)]
    assert event_store.save(first) == [30, 10, 20]
    assert event_store.save([batch(5), batch(40)]) == [5, 40]
    rows = all_batches(event_store)
    assert ids(rows) == [30, 10, 20, 5, 40]
    seqs = [r.seq for r in rows]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    assert event_store.count_batches() == 5


def test_duplicate_batch_id_is_skipped_whole(event_store: SqlEventStore) -> None:
    original = batch(100, tag="original", events=[ev(1)])
    assert event_store.save([original]) == [100]
    replay = batch(100, tag="replay", mpid=7, events=[ev(2)])
    assert event_store.save([replay, batch(101)]) == [101]
    [row] = [r for r in all_batches(event_store) if r.batch_id == 100]
    assert row.payload == original.payload and row.mpid == 42
    assert 2 not in [e.event_id for e in event_store.events(1)]
    assert event_store.count_batches() == 2


def test_duplicate_batch_id_within_one_call(event_store: SqlEventStore) -> None:
    a, b = batch(200, tag="first", events=[ev(1)]), batch(200, tag="second", events=[ev(2)])
    assert event_store.save([a, b]) == [200]
    [row] = all_batches(event_store)
    assert row.payload == a.payload
    assert [e.event_id for e in event_store.events(1)] == [1]


def test_duplicate_source_request_is_skipped(event_store: SqlEventStore) -> None:
    assert event_store.save([batch(1, source_request_id="r1", events=[ev(1)])]) == [1]
    # same input and request id, new batch id: a client retry; skipped with its events
    assert event_store.save([batch(2, source_request_id="r1", events=[ev(2)])]) == []
    # the same request id on another input is a different request
    assert event_store.save([batch(3, input_id=11, source_request_id="r1")]) == [3]
    assert ids(all_batches(event_store)) == [1, 3]
    assert 2 not in [e.event_id for e in event_store.events(1)]


def test_duplicate_source_request_within_one_call(event_store: SqlEventStore) -> None:
    got = event_store.save(
        [
            batch(1, source_request_id="r1"),
            batch(2, source_request_id="r1"),
            batch(3, source_request_id="r2"),
            batch(4, input_id=11, source_request_id="r1"),
        ]
    )
    assert got == [1, 3, 4]
    assert event_store.count_batches() == 3


def test_new_and_stored_batches_mixed_in_one_call(event_store: SqlEventStore) -> None:
    stored = [batch(1, source_request_id="r1", events=[ev(1)]), batch(2, events=[ev(2)])]
    assert event_store.save(stored) == [1, 2]
    again = [
        batch(3, events=[ev(3)]),
        batch(4, source_request_id="r1", events=[ev(4)]),  # a retry of batch 1's request
        batch(5, source_request_id="r5", events=[ev(5)]),
        batch(2, tag="replay", events=[ev(6)]),  # batch 2 again
        batch(7, events=[ev(7), ev(2)]),  # event 2 is stored already
    ]
    assert event_store.save(again) == [3, 5, 7]
    assert ids(all_batches(event_store)) == [1, 2, 3, 5, 7]
    stored_events = [(e.event_id, e.batch_id) for e in event_store.events(1)]
    assert stored_events == [(1, 1), (2, 2), (3, 3), (5, 5), (7, 7)]
    assert event_store.save([*stored, *again]) == []  # re-processing the lot changes nothing
    assert event_store.count_batches() == 5 and len(event_store.events(1)) == 5
    assert event_store.save([batch(8)]) == [8]
    rows = all_batches(event_store)
    assert [r.seq for r in rows] == sorted({r.seq for r in rows})


def test_batches_without_source_request_never_collide(event_store: SqlEventStore) -> None:
    assert event_store.save([batch(1), batch(2)]) == [1, 2]
    assert event_store.save([batch(3)]) == [3]
    assert event_store.count_batches() == 3


def test_skipped_batch_does_not_shadow_a_later_one(event_store: SqlEventStore) -> None:
    # the second batch repeats batch 1's id; the third shares only the second's request id
    got = event_store.save([batch(1), batch(1, source_request_id="r"), batch(2, source_request_id="r")])
    assert got == [1, 2]


def test_duplicate_events_are_skipped(event_store: SqlEventStore) -> None:
    event_store.save([batch(1, events=[ev(500, ts=T0, name="first")])])
    assert event_store.save([batch(2, events=[ev(500, ts=T0 + 9, name="again"), ev(501)])]) == [2]
    rows = event_store.events(1)
    assert [(r.event_id, r.batch_id, r.event_name) for r in rows] == [(500, 1, "first"), (501, 2, "tap")]


def test_duplicate_events_within_one_call(event_store: SqlEventStore) -> None:
    stored = event_store.save(
        [
            batch(1, events=[ev(9, name="a"), ev(9, name="b")]),
            batch(2, events=[ev(9, name="c"), ev(10)]),
        ]
    )
    assert stored == [1, 2]
    assert [(r.event_id, r.batch_id, r.event_name) for r in event_store.events(1)] == [
        (9, 1, "a"),
        (10, 2, "tap"),
    ]


def test_event_ids_are_scoped_to_the_workspace(event_store: SqlEventStore) -> None:
    assert event_store.save([batch(1, workspace_id=1, events=[ev(77)])]) == [1]
    assert event_store.save([batch(2, workspace_id=2, events=[ev(77)])]) == [2]
    assert [r.batch_id for r in event_store.events(1)] == [1]
    assert [r.batch_id for r in event_store.events(2)] == [2]


def test_save_is_atomic(event_store: SqlEventStore) -> None:
    good = batch(1, events=[ev(1)])
    broken = batch(2, events=[ev(2, ts=2**70)])  # cannot be stored: fails after the batch rows
    with pytest.raises(Exception):  # noqa: B017 - the driver's own error type
        event_store.save([good, broken])
    assert event_store.count_batches() == 0 and event_store.events(1) == []
    assert event_store.save([good]) == [1]
    assert [e.event_id for e in event_store.events(1)] == [1]


def test_extreme_64_bit_values(event_store: SqlEventStore) -> None:
    low = batch(INT64_MAX, mpid=INT64_MIN, events=[ev(INT64_MIN, ts=-5), ev(INT64_MAX, ts=T0)])
    high = batch(1, mpid=INT64_MAX, events=[ev(-1, ts=T0)])
    assert event_store.save([low, high]) == [INT64_MAX, 1]
    assert event_store.save([batch(INT64_MAX)]) == []
    assert [(r.batch_id, r.mpid) for r in all_batches(event_store)] == [
        (INT64_MAX, INT64_MIN),
        (1, INT64_MAX),
    ]
    assert ids(all_batches(event_store, mpid=INT64_MIN)) == [INT64_MAX]
    assert ids(all_batches(event_store, mpid=INT64_MAX)) == [1]
    assert [(r.event_id, r.mpid) for r in event_store.events(1)] == [
        (INT64_MIN, INT64_MIN),
        (-1, INT64_MAX),
        (INT64_MAX, INT64_MIN),
    ]
    assert [r.event_id for r in event_store.events(1, mpid=INT64_MIN)] == [INT64_MIN, INT64_MAX]
    assert [r.event_id for r in event_store.events(1, mpid=INT64_MAX)] == [-1]


def test_large_save_spanning_many_parameters(event_store: SqlEventStore) -> None:
    many = [batch(source_request_id=f"r{i}", events=[ev(), ev()]) for i in range(1_300)]
    assert event_store.save(many) == [b.batch_id for b in many]
    assert event_store.save(many) == []
    assert event_store.count_batches() == 1_300
    assert len(event_store.events(1, limit=10_000)) == 2_600


def test_concurrent_overlapping_saves_store_each_batch_once(event_store: SqlEventStore) -> None:
    pool = [batch(10_000 + i, source_request_id=f"c{i}", events=[ev(), ev()]) for i in range(600)]
    left, right = pool[:400], pool[200:]
    results: dict[str, list[int]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(name: str, todo: list[ProcessedBatch]) -> None:
        try:
            barrier.wait()
            got: list[int] = []
            for start in range(0, len(todo), 50):
                got += event_store.save(todo[start : start + 50])
            results[name] = got
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=("a", left)),
        threading.Thread(target=run, args=("b", right[::-1])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    stored = results["a"] + results["b"]
    assert sorted(stored) == sorted(b.batch_id for b in pool)  # each exactly once
    assert event_store.count_batches() == 600
    assert len(event_store.events(1, limit=10_000)) == 1_200
    rows = all_batches(event_store)
    assert len({r.seq for r in rows}) == 600


# -- batches() ----------------------------------------------------------------------------------


@pytest.fixture
def filled(event_store: SqlEventStore) -> SqlEventStore:
    event_store.save(
        [
            batch(1, input_id=10, environment="production", mpid=100, device_ids=["das-a", "idfa-1"]),
            batch(2, input_id=11, environment="development", mpid=200, device_ids=["das-b"]),
            batch(3, input_id=10, environment="development", mpid=100, device_ids=[]),
            batch(4, workspace_id=2, input_id=20, mpid=100, device_ids=["das-a"]),
            batch(5, input_id=10, environment="production", mpid=200, device_ids=["das-a%", "x_y"]),
        ]
    )
    return event_store


def test_batches_are_scoped_to_the_workspace(filled: SqlEventStore) -> None:
    assert ids(all_batches(filled)) == [1, 2, 3, 5]
    assert ids(all_batches(filled, 2)) == [4]
    assert all_batches(filled, 3) == []


def test_batches_filter_input_environment_mpid(filled: SqlEventStore) -> None:
    assert ids(all_batches(filled, input_id=10)) == [1, 3, 5]
    assert ids(all_batches(filled, environment="development")) == [2, 3]
    assert ids(all_batches(filled, mpid=100)) == [1, 3]
    assert ids(all_batches(filled, input_id=10, environment="production", mpid=200)) == [5]
    assert all_batches(filled, input_id=11, mpid=100) == []


def test_batches_filter_device_id_matches_any_element_exactly(filled: SqlEventStore) -> None:
    assert ids(all_batches(filled, device_id="das-a")) == [1]
    assert ids(all_batches(filled, device_id="idfa-1")) == [1]
    assert ids(all_batches(filled, device_id="das-b")) == [2]
    assert ids(all_batches(filled, device_id="das-a%")) == [5]
    assert ids(all_batches(filled, device_id="x_y")) == [5]
    assert all_batches(filled, device_id="das") == []
    assert all_batches(filled, device_id="das-%") == []
    assert all_batches(filled, device_id="x%y") == []
    assert ids(all_batches(filled, 2, device_id="das-a")) == [4]


def test_batches_after_seq_newest_first_and_limit(filled: SqlEventStore) -> None:
    rows = all_batches(filled)
    seq = {r.batch_id: r.seq for r in rows}
    assert ids(all_batches(filled, after_seq=seq[2])) == [3, 5]
    assert all_batches(filled, after_seq=seq[5]) == []
    assert ids(all_batches(filled, newest_first=True)) == [5, 3, 2, 1]
    assert ids(filled.batches(BatchFilter(workspace_id=1, limit=2))) == [1, 2]
    assert ids(filled.batches(BatchFilter(workspace_id=1, limit=2, newest_first=True))) == [5, 3]
    assert ids(filled.batches(BatchFilter(workspace_id=1, after_seq=seq[1], limit=1, newest_first=True))) == [
        5
    ]
    assert ids(filled.batches(BatchFilter(workspace_id=1, after_seq=seq[1], limit=2))) == [2, 3]
    assert filled.batches(BatchFilter(workspace_id=1, limit=0)) == []
    default = filled.batches(BatchFilter(workspace_id=1))
    assert ids(default) == [1, 2, 3, 5]


def test_batches_default_limit_is_100(event_store: SqlEventStore) -> None:
    event_store.save([batch() for _ in range(130)])
    assert len(event_store.batches(BatchFilter(workspace_id=1))) == 100


def test_archive_rows_are_seq_received_and_payload_in_seq_order(filled: SqlEventStore) -> None:
    rows = all_batches(filled)
    expected = [(r.seq, r.received_ms, r.payload) for r in rows]
    got = filled.archive_rows(1, 0, 100)
    assert got == expected and all(type(p) is bytes for _, _, p in got)
    assert filled.archive_rows(1, rows[1].seq, 2) == expected[2:4]
    assert filled.archive_rows(1, rows[0].seq, 1) == expected[1:2]
    assert filled.archive_rows(1, rows[-1].seq, 100) == []
    assert filled.archive_rows(1, 0, 0) == []
    assert [p for _, _, p in filled.archive_rows(2, 0, 100)] == [r.payload for r in all_batches(filled, 2)]
    assert filled.archive_rows(3, 0, 100) == []


def test_seq_keeps_increasing_across_workspaces(filled: SqlEventStore) -> None:
    filled.save([batch(6, workspace_id=2)])
    rows = all_batches(filled, 2)
    assert ids(rows) == [4, 6] and rows[0].seq < rows[1].seq
    assert max(r.seq for r in all_batches(filled)) < rows[1].seq


def test_count_batches(filled: SqlEventStore) -> None:
    assert filled.count_batches() == 5
    assert filled.count_batches(1) == 4
    assert filled.count_batches(2) == 1
    assert filled.count_batches(9) == 0


# -- events() -----------------------------------------------------------------------------------


@pytest.fixture
def timeline(event_store: SqlEventStore) -> SqlEventStore:
    event_store.save(
        [
            batch(1, mpid=100, events=[ev(30, ts=T0 + 20), ev(-30, ts=T0 + 20), ev(10, ts=T0)]),
            batch(2, mpid=200, events=[ev(20, ts=T0 + 10, event_type="screen_view"), ev(40, ts=T0 + 30)]),
            batch(3, mpid=100, events=[ev(50, ts=T0 - 1000, event_type="commerce_event")]),
            batch(4, workspace_id=2, mpid=100, events=[ev(60, ts=T0)]),
        ]
    )
    return event_store


def test_events_ordered_by_timestamp_then_event_id(timeline: SqlEventStore) -> None:
    rows = timeline.events(1)
    assert [(r.timestamp_ms, r.event_id) for r in rows] == [
        (T0 - 1000, 50),
        (T0, 10),
        (T0 + 10, 20),
        (T0 + 20, -30),
        (T0 + 20, 30),
        (T0 + 30, 40),
    ]
    assert [r.event_id for r in timeline.events(2)] == [60]
    assert timeline.events(3) == []


def test_events_filters(timeline: SqlEventStore) -> None:
    def eids(**kw: object) -> list[int]:
        return [r.event_id for r in timeline.events(1, **kw)]  # type: ignore[arg-type]

    assert eids(mpid=100) == [50, 10, -30, 30]
    assert eids(mpid=200) == [20, 40]
    assert eids(mpid=999) == []
    # since_ms is inclusive, until_ms exclusive
    assert eids(since_ms=T0 + 10) == [20, -30, 30, 40]
    assert eids(until_ms=T0 + 20) == [50, 10, 20]
    assert eids(since_ms=T0, until_ms=T0 + 30) == [10, 20, -30, 30]
    assert eids(event_type="screen_view") == [20]
    assert eids(event_type="commerce_event", mpid=100) == [50]
    assert eids(mpid=100, since_ms=T0, until_ms=T0 + 21, event_type="custom_event") == [10, -30, 30]
    assert eids(limit=2) == [50, 10]
    assert eids(mpid=100, limit=3) == [50, 10, -30]
    assert eids(limit=0) == []


def test_events_default_limit_is_1000(event_store: SqlEventStore) -> None:
    event_store.save([batch(events=[ev(ts=T0 + i) for i in range(1_100)])])
    assert len(event_store.events(1)) == 1_000
