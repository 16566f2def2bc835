"""Delivery storage contract: outputs/connections, the delivery queue (claims, outcomes, dead letters,
replay) and the delivery log, identical on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import Engine

from fermion.adapters.sql import SqlConfigStore, SqlEventStore
from fermion.adapters.sql.delivery_log import SqlDeliveryLog
from fermion.adapters.sql.delivery_store import SqlDeliveryQueue
from fermion.adapters.sql.output_store import SqlOutputStore
from fermion.model.delivery import (
    AlertRecord,
    Connection,
    ConnectionStatus,
    CountKey,
    NewConnection,
    NewOutput,
    OutboundEntry,
    Output,
    OutputStatus,
    QueueItem,
)
from fermion.model.records import ProcessedBatch
from fermion.model.tenancy import InputKind
from fermion.ports import DeliveryLog, DeliveryQueue, NewInput, OutputStore

NOW = 1_800_000_000_000
LEASE = 60_000


@pytest.fixture
def queue(sql_engine: Engine) -> SqlDeliveryQueue:
    return SqlDeliveryQueue(sql_engine)


@pytest.fixture
def log_store(sql_engine: Engine) -> SqlDeliveryLog:
    return SqlDeliveryLog(sql_engine)


def item(
    batch_id: int, connection_id: int = 1, payload: bytes | None = b'{"b":1}', env: str = "production"
) -> QueueItem:
    return QueueItem(
        connection_id=connection_id,
        workspace_id=1,
        batch_id=batch_id,
        input_id=1,
        environment=env,
        mpid=7,
        received_ms=NOW - 1000,
        payload=payload,
        summary=[("custom_event", "Viewed", 2)],
    )


def count_key(direction: str = "in", name: str = "Viewed", hour: int = NOW - NOW % 3_600_000) -> CountKey:
    return CountKey(
        workspace_id=1,
        connection_id=1,
        output_id=1,
        hour_ms=hour,
        direction=direction,
        message_type="custom_event",
        event_name=name,
    )


def test_adapters_satisfy_the_ports(sql_engine: Engine) -> None:
    q: DeliveryQueue = SqlDeliveryQueue(sql_engine)
    lg: DeliveryLog = SqlDeliveryLog(sql_engine)
    out: OutputStore = SqlOutputStore(sql_engine)
    assert q and lg and out


# -- outputs and connections ------------------------------------------------------------------


def test_outputs_and_connections(sql_engine: Engine) -> None:
    config = SqlConfigStore(sql_engine)
    org = config.create_organization("o")
    ws = config.create_workspace(config.create_account(org.id, "a").id, "w")
    inp = config.create_input(
        NewInput(
            workspace_id=ws.id, kind=InputKind.PLATFORM, platform="ios", name="i", key="k", secret_hash="h"
        )
    )
    store = SqlOutputStore(sql_engine)
    stamp0 = store.config_stamp()
    out = store.create_output(
        NewOutput(
            workspace_id=ws.id,
            integration_id="webhook",
            name="hook",
            settings={"url": "http://x", "s": {"$enc": "t"}},
        )
    )
    assert store.get_output(out.id) == out
    assert store.list_outputs(ws.id) == [out] and store.list_outputs(ws.id + 1) == []
    stamp1 = store.config_stamp()
    assert stamp1 != stamp0
    conn = store.create_connection(
        NewConnection(
            workspace_id=ws.id,
            input_id=inp.id,
            output_id=out.id,
            integration_id="webhook",
            settings={},
            send_development=False,
        )
    )
    assert conn.status is ConnectionStatus.ACTIVE and not conn.send_development and conn.send_production
    assert conn.sends("production") and not conn.sends("development")
    assert store.list_connections(ws.id) == [conn] == store.list_connections(input_id=inp.id)
    with pytest.raises(ValueError):
        store.create_connection(
            NewConnection(
                workspace_id=ws.id, input_id=inp.id, output_id=out.id, integration_id="webhook", settings={}
            )
        )
    with pytest.raises(LookupError):
        store.create_connection(
            NewConnection(
                workspace_id=ws.id, input_id=999, output_id=out.id, integration_id="webhook", settings={}
            )
        )
    stamp2 = store.config_stamp()
    updated = store.update_connection(conn.id, status=ConnectionStatus.INACTIVE)
    assert updated.status is ConnectionStatus.INACTIVE and not updated.sends("production")
    assert store.config_stamp() != stamp2  # even within the same millisecond
    with pytest.raises(LookupError):
        store.update_connection(999, status=ConnectionStatus.ACTIVE)
    with pytest.raises(LookupError):
        store.create_output(NewOutput(workspace_id=999, integration_id="webhook", name="x", settings={}))


def test_audience_connections(sql_engine: Engine) -> None:
    config = SqlConfigStore(sql_engine)
    ws = config.create_workspace(config.create_account(config.create_organization("o").id, "a").id, "w")
    store = SqlOutputStore(sql_engine)
    out = store.create_output(
        NewOutput(workspace_id=ws.id, integration_id="amazon_kinesis_firehose", name="f", settings={})
    )

    def new(audience_id: int | None, status: ConnectionStatus = ConnectionStatus.ACTIVE) -> NewConnection:
        return NewConnection(
            workspace_id=ws.id,
            input_id=None,
            audience_id=audience_id,
            output_id=out.id,
            integration_id="amazon_kinesis_firehose",
            settings={"delivery_stream_name": "s"},
            status=status,
        )

    first = store.create_connection(new(41))
    second = store.create_connection(new(42, status=ConnectionStatus.INACTIVE))
    assert first.audience_id == 41 and first.input_id is None
    assert store.get_connection(first.id) == first
    assert store.list_connections(ws.id, audience_id=42) == [second]
    assert store.list_connections(ws.id) == [first, second]
    with pytest.raises(ValueError, match="audience 41 is already connected"):
        store.create_connection(new(41))
    with pytest.raises(ValueError):  # neither an input nor an audience
        store.create_connection(new(None))
    stamp = store.config_stamp()
    changed = store.update_connection(first.id, settings={"delivery_stream_name": "t"})
    assert changed.settings == {"delivery_stream_name": "t"} and changed.audience_id == 41
    assert store.config_stamp() != stamp
    stamp = store.config_stamp()
    assert store.delete_connection(second.id) and not store.delete_connection(second.id)
    assert store.get_connection(second.id) is None and store.config_stamp() != stamp
    # ids are never reused (the SQLite table keeps AUTOINCREMENT through migration 0008)
    assert store.create_connection(new(42)).id > second.id


def test_output_edits_and_deletions(sql_engine: Engine, queue: SqlDeliveryQueue) -> None:
    config = SqlConfigStore(sql_engine)
    ws = config.create_workspace(config.create_account(config.create_organization("o").id, "a").id, "w")
    inp = config.create_input(
        NewInput(
            workspace_id=ws.id, kind=InputKind.PLATFORM, platform="custom", name="i", key="k", secret_hash="h"
        )
    )
    store = SqlOutputStore(sql_engine)

    def output() -> Output:
        return store.create_output(
            NewOutput(workspace_id=ws.id, integration_id="webhook", name="w", settings={})
        )

    def connect(out: Output, audience_id: int | None = None) -> Connection:
        return store.create_connection(
            NewConnection(
                workspace_id=ws.id,
                input_id=None if audience_id else inp.id,
                audience_id=audience_id,
                output_id=out.id,
                integration_id="webhook",
                settings={},
            )
        )

    out = output()
    stamp = store.config_stamp()
    renamed = store.update_output(out.id, name="n", settings={"url": "u"})
    assert (renamed.name, renamed.settings, renamed.status) == ("n", {"url": "u"}, OutputStatus.ACTIVE)
    assert store.get_output(out.id) == renamed and store.config_stamp() != stamp
    with pytest.raises(LookupError):
        store.update_output(999, name="x")

    # A deleting connection goes once nothing of it is pending or inflight; then its deleting output.
    busy, idle = connect(out), connect(out, audience_id=5)
    assert store.list_connections(output_id=out.id) == [busy, idle]
    queue.enqueue([item(1, busy.id), item(2, busy.id)], NOW, {})
    store.update_output(out.id, status=OutputStatus.DELETING)
    for conn in (busy, idle):
        store.update_connection(conn.id, ConnectionStatus.DELETING)
    assert store.finish_deletions() == 1  # idle
    assert store.get_connection(idle.id) is None and store.get_output(out.id) is not None
    claimed = queue.claim(busy.id, 10, NOW, LEASE)
    queue.complete(claimed[:1], NOW, {})
    queue.bury(claimed[1:], "server_error", "down", NOW)
    assert store.finish_deletions() == 2  # busy (its done and dead items go too), then the output
    assert store.get_output(out.id) is None and queue.count_by_status(busy.id) == {
        "pending": 0,
        "inflight": 0,
        "done": 0,
        "dead": 0,
    }

    # Deleting an output takes its connections and their queues with it; so does a connection's.
    out = output()
    conn = connect(out)
    queue.enqueue([item(3, conn.id)], NOW, {})
    assert store.delete_output(out.id) and not store.delete_output(out.id)
    assert store.get_connection(conn.id) is None and queue.count_by_status(conn.id)["pending"] == 0
    conn = connect(output())
    queue.enqueue([item(4, conn.id)], NOW, {})
    assert store.delete_connection(conn.id) and queue.count_by_status(conn.id)["pending"] == 0


# -- queue --------------------------------------------------------------------------------------


def test_enqueue_is_idempotent_and_counts_in_the_same_transaction(
    queue: SqlDeliveryQueue, log_store: SqlDeliveryLog
) -> None:
    assert queue.enqueue([item(1), item(2)], NOW, {count_key(): 2}) == 2
    assert queue.enqueue([item(1), item(2), item(3)], NOW, {count_key(): 1}) == 1
    assert queue.count_by_status(1) == {"pending": 3, "inflight": 0, "done": 0, "dead": 0}
    rows = log_store.counts(1, NOW - 3_600_000, NOW + 3_600_000)
    assert [(r.direction, r.event_name, r.count) for r in rows] == [("in", "Viewed", 3)]


def test_claim_complete_and_payload_from_the_event_store(sql_engine: Engine, queue: SqlDeliveryQueue) -> None:
    SqlEventStore(sql_engine).save(
        [
            ProcessedBatch(
                batch_id=5,
                workspace_id=1,
                input_id=1,
                environment="production",
                mpid=7,
                received_ms=NOW,
                historical=False,
                source_request_id=None,
                device_ids=[],
                events=[],
                payload=b'{"stored":true}',
            )
        ]
    )
    queue.enqueue([item(5, payload=None), item(6)], NOW, {})
    assert queue.stored_batch_ids([5, 6]) == {5}
    assert queue.due(1, NOW) == (2, NOW, None)
    claimed = queue.claim(1, 10, NOW, LEASE)
    assert [(c.batch_id, c.payload, c.attempts) for c in claimed] == [
        (5, b'{"stored":true}', 1),
        (6, b'{"b":1}', 1),
    ]
    assert claimed[0].summary == [("custom_event", "Viewed", 2)]
    assert queue.claim(1, 10, NOW, LEASE) == []  # leased
    assert queue.due(1, NOW) == (0, None, NOW + LEASE)
    assert queue.complete(claimed, NOW + 5, {count_key("out"): 4}) == 2
    assert queue.count_by_status(1)["done"] == 2
    # A delivered batch queued again (a crash before the inbound ack) is not queued twice.
    assert queue.enqueue([item(5, payload=None)], NOW + 10, {}) == 0
    assert queue.purge_done(NOW + 6) == 2
    assert queue.count_by_status(1)["done"] == 0


def test_claims_are_per_connection_oldest_first_and_limited(queue: SqlDeliveryQueue) -> None:
    queue.enqueue([item(i, connection_id=1) for i in range(1, 6)], NOW, {})
    queue.enqueue([item(i, connection_id=2) for i in range(1, 4)], NOW + 1, {})
    first = queue.claim(1, 2, NOW + 1, LEASE)
    assert [c.batch_id for c in first] == [1, 2]
    assert [c.batch_id for c in queue.claim(2, 10, NOW + 1, LEASE)] == [1, 2, 3]
    assert [c.batch_id for c in queue.claim(1, 10, NOW + 1, LEASE)] == [3, 4, 5]
    assert queue.claim(1, 10, NOW - 1, LEASE) == []  # nothing due before it was queued


def test_retry_bury_and_an_expired_lease(queue: SqlDeliveryQueue) -> None:
    queue.enqueue([item(1), item(2)], NOW, {})
    claimed = queue.claim(1, 10, NOW, LEASE)
    assert queue.retry(claimed[:1], NOW + 1000, "server_error", "HTTP 500") == 1
    assert queue.bury(claimed[1:], "bad_request", "HTTP 400", NOW) == 1
    assert queue.claim(1, 10, NOW + 999, LEASE) == []
    again = queue.claim(1, 10, NOW + 1000, LEASE)
    assert [(c.batch_id, c.attempts) for c in again] == [(1, 2)]
    # The sender died: after the lease, another claim takes the item; the old claim's report is ignored.
    taken = queue.claim(1, 10, NOW + 1000 + LEASE, LEASE)
    assert [(c.batch_id, c.attempts) for c in taken] == [(1, 3)]
    assert queue.complete(again, NOW + 2000 + LEASE, {}) == 0
    assert queue.complete(taken, NOW + 2000 + LEASE, {}) == 1
    dead = queue.dead_letters(1)
    assert [(d.batch_id, d.error_type, d.last_error, d.attempts) for d in dead] == [
        (2, "bad_request", "HTTP 400", 1)
    ]


def test_a_renewed_lease_holds_and_an_expired_one_is_due(queue: SqlDeliveryQueue) -> None:
    queue.enqueue([item(1), item(2)], NOW, {})
    mine = queue.claim(1, 1, NOW, 1000)
    other = queue.claim(1, 1, NOW, 1000)
    # The live claimer renews its lease; the other claimer died and renews nothing.
    assert queue.extend([(1, mine[0].token), (2, mine[0].token)], NOW + 5000) == 1
    assert queue.due(1, NOW + 1000) == (1, NOW, NOW + 5000)  # the dead claim's item, due again
    taken = queue.claim(1, 10, NOW + 1000, 1000)
    assert [c.batch_id for c in taken] == [other[0].batch_id]
    assert queue.complete(mine, NOW + 1001, {}) == 1  # still held: the renewal kept it
    assert queue.extend([], NOW) == 0


def test_a_probe_takes_one_item_due_or_not_and_a_refunded_retry_keeps_attempts(
    queue: SqlDeliveryQueue,
) -> None:
    queue.enqueue([item(1), item(2), item(3)], NOW, {})
    claimed = queue.claim(1, 10, NOW, LEASE)
    queue.retry(claimed[:2], NOW + 600_000, "server_error", "HTTP 500")  # a long backoff
    assert queue.claim(1, 10, NOW + 1, LEASE) == []
    probe = queue.claim_probe(1, NOW + 1, LEASE)
    assert [(c.batch_id, c.attempts) for c in probe] == [(1, 2)]
    assert queue.claim_probe(1, NOW + 1, LEASE)[0].batch_id == 2  # 3 is inflight: never a probe
    assert queue.claim_probe(1, NOW + 1, LEASE) == []
    assert queue.retry(probe, NOW + 600_000, "server_error", "HTTP 500", refund=True) == 1
    assert [(c.batch_id, c.attempts) for c in queue.claim_probe(1, NOW + 2, LEASE)] == [(1, 2)]


def test_resume_makes_items_waiting_for_a_retry_due(queue: SqlDeliveryQueue) -> None:
    queue.enqueue([item(1), item(2), item(3, connection_id=2)], NOW, {})
    claimed = queue.claim(1, 10, NOW, LEASE)
    queue.retry(claimed[:1], NOW + 600_000, "server_error", "HTTP 500")
    queue.retry(queue.claim(2, 10, NOW, LEASE), NOW + 600_000, "server_error", "HTTP 500")
    assert queue.resume(1, NOW + 5) == 1  # not the inflight item, not the other connection's
    assert [c.batch_id for c in queue.claim(1, 10, NOW + 5, LEASE)] == [1]
    assert queue.claim(2, 10, NOW + 5, LEASE) == []


def test_two_claimers_never_get_the_same_item(sql_engine: Engine) -> None:
    SqlDeliveryQueue(sql_engine).enqueue([item(i) for i in range(1, 401)], NOW, {})
    claimed: list[list[int]] = [[], []]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def claimer(slot: int) -> None:
        q = SqlDeliveryQueue(sql_engine)  # its own adapter, sharing the engine's pool
        try:
            start.wait()
            while batch := q.claim(1, 7, NOW, LEASE):
                claimed[slot].extend(c.batch_id for c in batch)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    both = claimed[0] + claimed[1]
    assert sorted(both) == list(range(1, 401))
    assert not set(claimed[0]) & set(claimed[1])


def test_dead_letters_are_requeued_for_a_replay_job(queue: SqlDeliveryQueue) -> None:
    queue.enqueue([item(1), item(2), item(3)], NOW, {})
    claimed = queue.claim(1, 10, NOW, LEASE)
    queue.bury(claimed[:2], "server_error", "gave up", NOW)
    queue.complete(claimed[2:], NOW, {})
    job = queue.create_replay_job(1, 1, "dead_letters", None, None, NOW)
    assert job.state == "enqueuing" and job.id > 0
    assert queue.requeue_dead(1, job.id, NOW + 1) == 2
    queue.update_replay_job(job.id, "enqueued", 2)
    progress = queue.replay_progress(job.id)
    assert progress is not None and progress.job.state == "enqueued" and progress.job.enqueued == 2
    assert (progress.pending, progress.done, progress.dead) == (2, 0, 0)
    replayed = queue.claim(1, 10, NOW + 1, LEASE)
    assert [(c.batch_id, c.attempts) for c in replayed] == [(1, 1), (2, 1)]
    queue.complete(replayed, NOW + 2, {})
    progress = queue.replay_progress(job.id)
    assert progress is not None and progress.done == 2
    assert queue.replay_progress(job.id + 100) is None


def test_requeue_adds_new_items_and_resets_known_ones(queue: SqlDeliveryQueue) -> None:
    queue.enqueue([item(1)], NOW, {})
    queue.complete(queue.claim(1, 10, NOW, LEASE), NOW, {})
    job = queue.create_replay_job(1, 1, "window", 0, NOW, NOW)
    replay = [item(1, payload=b'{"v":2}'), item(2)]
    replay = [
        QueueItem(
            connection_id=i.connection_id,
            workspace_id=1,
            batch_id=i.batch_id,
            input_id=1,
            environment="production",
            mpid=7,
            received_ms=NOW,
            payload=i.payload,
            summary=[],
            replay_job_id=job.id,
        )
        for i in replay
    ]
    assert queue.requeue(replay, NOW + 1) == 2
    claimed = queue.claim(1, 10, NOW + 1, LEASE)
    assert [(c.batch_id, c.payload) for c in claimed] == [(1, b'{"v":2}'), (2, b'{"b":1}')]
    progress = queue.replay_progress(job.id)
    assert progress is not None and progress.inflight == 2


def test_history_pages_a_window_of_one_input(sql_engine: Engine, queue: SqlDeliveryQueue) -> None:
    def stored(batch_id: int, input_id: int, received_ms: int) -> ProcessedBatch:
        return ProcessedBatch(
            batch_id=batch_id,
            workspace_id=1,
            input_id=input_id,
            environment="production",
            mpid=1,
            received_ms=received_ms,
            historical=False,
            source_request_id=None,
            device_ids=[],
            events=[],
            payload=b"{}",
        )

    SqlEventStore(sql_engine).save(
        [stored(1, 1, 100), stored(2, 2, 150), stored(3, 1, 200), stored(4, 1, 300)]
    )
    first = queue.history(1, 1, 100, 300, 0, 1)
    assert [r.batch_id for r in first] == [1]
    rest = queue.history(1, 1, 100, 300, first[-1].seq, 10)
    assert [r.batch_id for r in rest] == [3]


# -- delivery log -------------------------------------------------------------------------------


def test_alerts_add_up_per_connection_environment_and_type(log_store: SqlDeliveryLog) -> None:
    def alert(
        at: int, error_type: str = "server_error", env: str = "production", conn: int = 1
    ) -> AlertRecord:
        return AlertRecord(
            workspace_id=1,
            connection_id=conn,
            environment=env,
            error_type=error_type,
            message=f"at {at}",
            at_ms=at,
        )

    log_store.record_alerts([alert(NOW), alert(NOW + 5), alert(NOW + 1, "rate_limited")])
    log_store.record_alerts([alert(NOW + 10), alert(NOW + 2, env="development", conn=2)])
    rows = log_store.alerts(1, NOW - 1000, NOW + 1000)
    assert [
        (r.connection_id, r.environment, r.error_type, r.count, r.last_seen_ms, r.last_message) for r in rows
    ] == [
        (1, "production", "server_error", 3, NOW + 10, f"at {NOW + 10}"),
        (1, "production", "rate_limited", 1, NOW + 1, f"at {NOW + 1}"),
        (2, "development", "server_error", 1, NOW + 2, f"at {NOW + 2}"),
    ]
    assert [
        r.connection_id for r in log_store.alerts(1, NOW - 1000, NOW + 1000, environment="development")
    ] == [2]
    assert [r.error_type for r in log_store.alerts(1, NOW - 1000, NOW + 1000, connection_id=1)] == [
        "server_error",
        "rate_limited",
    ]
    assert log_store.alerts(2, NOW - 1000, NOW + 1000) == []
    assert log_store.alerts(1, NOW + 10 * 3_600_000, NOW + 11 * 3_600_000) == []


def test_counts_add_up(log_store: SqlDeliveryLog) -> None:
    log_store.add_counts(Counter({count_key(): 2, count_key("out"): 1}))
    log_store.add_counts({count_key(): 3, count_key(name="x" * 400): 1})
    rows = log_store.counts(1, NOW - 3_600_000, NOW + 3_600_000)
    assert sorted((r.direction, r.event_name[:3], r.count) for r in rows) == [
        ("in", "Vie", 5),
        ("in", "xxx", 1),
        ("out", "Vie", 1),
    ]
    assert log_store.counts(1, NOW - 3_600_000, NOW + 3_600_000, connection_id=2) == []


def test_outbound_log_newest_first_follow_and_trim(log_store: SqlDeliveryLog) -> None:
    def entry(n: int, conn: int = 1) -> OutboundEntry:
        return OutboundEntry(
            workspace_id=1,
            connection_id=conn,
            created_ms=NOW + n,
            environment="production",
            kind="http",
            target="POST http://x",
            status=200,
            outcome="delivered",
            error_type="",
            error="",
            latency_ms=3,
            attempt=1,
            batch_ids=[n],
            body=b"{}",
        )

    log_store.log_outbound([entry(i) for i in range(5)] + [entry(9, conn=2)])
    newest = log_store.outbound(1, connection_id=1, limit=2)
    assert [e.batch_ids for e in newest] == [[4], [3]]
    after = log_store.outbound(1, after_id=newest[0].id, newest_first=False)
    assert [e.connection_id for e in after] == [2]
    assert log_store.trim_outbound(keep_per_connection=2) == 3
    assert [e.batch_ids for e in log_store.outbound(1, connection_id=1)] == [[4], [3]]
