"""The forwarding phase: which batches are queued for which connections, after the hooks."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest
from msgspec import structs

from fermion.delivery.edits import ConnectionChanges
from fermion.delivery.forwarding import ForwardingPhase, event_summary
from fermion.delivery.stages import ConnectionContext, ConnectionHooks, accepted_event_types
from fermion.integrations import registry
from fermion.model.batch import Batch
from fermion.model.codec import decode_batch_obj
from fermion.model.records import InboundRecord
from fermion.pipeline.stage import Drop
from fermion.services.processing import ProcessingReport, WorkItem
from support.delivery_env import DeliveryEnv


@pytest.fixture
def env(tmp_path: Path) -> DeliveryEnv:
    return DeliveryEnv(tmp_path)


def work(
    env: DeliveryEnv, batch_id: int, environment: str = "production", historical: bool = False
) -> WorkItem:
    body: dict[str, Any] = {
        "environment": environment,
        "mpid": 42,
        "events": [
            {"event_type": "custom_event", "data": {"event_name": "A", "custom_event_type": "other"}},
            {"event_type": "custom_event", "data": {"event_name": "A", "custom_event_type": "other"}},
            {"event_type": "screen_view", "data": {"screen_name": "Home"}},
        ],
    }
    record = InboundRecord(
        batch_id=batch_id,
        workspace_id=env.workspace.id,
        input_id=env.input.id,
        environment=environment,
        received_ms=1_700_000_000_000,
        source_ip="",
        request_id="r",
        historical=historical,
        payload=b"{}",
    )
    return WorkItem(record=record, batch=decode_batch_obj(body), notes={"new": True})


def phase(env: DeliveryEnv, *stages: Any) -> ForwardingPhase:
    return ForwardingPhase(env.routes(), env.queue, ConnectionHooks(stages=list(stages)))


def run(p: ForwardingPhase, items: list[WorkItem]) -> list[WorkItem]:
    return p.run(items, int(time.time() * 1000), ProcessingReport())


def test_queues_for_each_active_connection_by_reference(env: DeliveryEnv) -> None:
    _, a = env.webhook("http://a.test/")
    _, b = env.webhook("http://b.test/")
    notified: list[int] = []
    p = phase(env)
    p.on_enqueued = lambda: notified.append(1)
    items = [work(env, 1), work(env, 2)]
    assert run(p, items) == items  # the phase never drops the batch itself
    for conn in (a, b):
        assert env.queue.count_by_status(conn.id)["pending"] == 2
    assert notified == [1]
    claimed = env.queue.claim(a.id, 10, int(time.time() * 1000) + 1, 60_000)
    assert [c.payload for c in claimed] == [b"", b""]  # by reference: no stored batch in this test
    assert sorted(claimed[0].summary) == [("custom_event", "A", 2), ("screen_view", "Home", 1)]
    now = int(time.time() * 1000)
    counts = env.log.counts(env.workspace.id, now - 3_600_000, now + 3_600_000, connection_id=a.id)
    assert sorted((c.direction, c.event_name, c.count) for c in counts) == [("in", "A", 4), ("in", "Home", 2)]


def test_is_idempotent(env: DeliveryEnv) -> None:
    _, conn = env.webhook("http://a.test/")
    p = phase(env)
    run(p, [work(env, 1)])
    again = work(env, 1)
    again.notes["new"] = False
    env.queue.stored_batch_ids = lambda ids: set(ids)  # type: ignore[method-assign]
    run(p, [again])
    assert env.queue.count_by_status(conn.id)["pending"] == 1


def test_a_crash_between_store_and_queue_is_repaired_but_duplicates_are_not_sent(env: DeliveryEnv) -> None:
    _, conn = env.webhook("http://a.test/")
    stored_before = work(env, 1)
    stored_before.notes["new"] = False
    duplicate = work(env, 2)  # same source_request_id as an earlier batch: never stored itself
    duplicate.notes["new"] = False
    env.queue.stored_batch_ids = lambda ids: {1} & set(ids)  # type: ignore[method-assign]
    run(phase(env), [stored_before, duplicate])
    claimed = env.queue.claim(conn.id, 10, int(time.time() * 1000) + 1, 60_000)
    assert [c.batch_id for c in claimed] == [1]


def test_skips_historical_inactive_and_unwanted_environments(env: DeliveryEnv) -> None:
    _, conn = env.webhook("http://a.test/")
    env.edits.update_connection(env.workspace.id, conn.id, ConnectionChanges(send_development=False))
    _, off = env.webhook("http://off.test/")
    env.edits.update_connection(env.workspace.id, off.id, ConnectionChanges(status="inactive"))
    run(phase(env), [work(env, 1, historical=True), work(env, 2, environment="development"), work(env, 3)])
    claimed = env.queue.claim(conn.id, 10, int(time.time() * 1000) + 1, 60_000)
    assert [c.batch_id for c in claimed] == [3]
    assert env.queue.count_by_status(off.id)["pending"] == 0


def test_hooks_change_or_drop_per_connection(env: DeliveryEnv) -> None:
    _, keep = env.webhook("http://keep.test/")
    _, drop = env.webhook("http://drop.test/")

    def only_screens(batch: Batch, ctx: ConnectionContext) -> Batch | Drop:
        if ctx.connection.id == drop.id:
            return Drop("consent")
        return structs.replace(batch, events=[e for e in batch.events if e.event_type == "screen_view"])

    p = phase(env, only_screens)
    run(p, [work(env, 1)])
    claimed = env.queue.claim(keep.id, 10, int(time.time() * 1000) + 1, 60_000)
    assert (
        claimed[0].payload
        and b'"screen_view"' in claimed[0].payload
        and b'"custom_event"' not in claimed[0].payload
    )
    assert claimed[0].summary == [("screen_view", "Home", 1)]
    assert env.queue.count_by_status(drop.id)["pending"] == 0 and p.drops["consent"] == 1


def test_a_failing_hook_drops_only_that_connection(env: DeliveryEnv) -> None:
    _, conn = env.webhook("http://a.test/")

    def broken(batch: Batch, ctx: ConnectionContext) -> Batch:
        raise RuntimeError("bug")

    p = phase(env, broken)
    run(p, [work(env, 1)])
    assert p.drops["hook_error"] == 1 and env.queue.count_by_status(conn.id)["pending"] == 0


def test_accepted_event_types(env: DeliveryEnv) -> None:
    _, conn = env.webhook("http://a.test/")
    webhook = registry.require("webhook")
    screens_only = dataclasses.replace(webhook, event_types=frozenset({"screen_view"}))
    item = work(env, 1)
    ctx = ConnectionContext(
        record=item.record,
        now_ms=0,
        connection=conn,
        integration=screens_only,
        output_settings=webhook.connection_settings(),  # (no settings: this stage reads none)
        connection_settings=webhook.connection_settings(),
        extras={},
    )
    result = accepted_event_types(item.batch, ctx)
    assert isinstance(result, Batch) and [e.event_type for e in result.events] == ["screen_view"]
    none_left = dataclasses.replace(webhook, event_types=frozenset({"crash_report"}))
    assert accepted_event_types(item.batch, structs.replace(ctx, integration=none_left)) == Drop(
        "unsupported_event_types"
    )
    assert accepted_event_types(item.batch, structs.replace(ctx, integration=webhook)) is item.batch
    no_empty = dataclasses.replace(
        webhook, options=dataclasses.replace(webhook.options, send_batches_without_events=False)
    )
    empty = structs.replace(item.batch, events=[])
    assert accepted_event_types(empty, structs.replace(ctx, integration=no_empty)) == Drop("no_events")


def test_event_summary_counts_types_and_names(env: DeliveryEnv) -> None:
    assert sorted(event_summary(work(env, 1).batch)) == [("custom_event", "A", 2), ("screen_view", "Home", 1)]


def test_routes_keep_the_last_good_table_when_a_loader_fails(env: DeliveryEnv) -> None:
    from fermion.delivery.routing import Routes

    _, conn = env.webhook("http://a.test/")

    class Flaky:
        name = "flaky"
        calls = 0

        def load(self, connections: Any) -> dict[int, Any]:
            self.calls += 1
            if self.calls > 1:
                raise RuntimeError("store down")
            return {c.id: "filter" for c in connections}

    routes = Routes(env.outputs, [Flaky()], ttl_s=0.0)
    assert routes.current().extras[conn.id] == {"flaky": "filter"}
    assert routes.current().extras[conn.id] == {"flaky": "filter"}  # reload failed: previous table
    failing_first = Routes(env.outputs, [Flaky(), Flaky()], ttl_s=0.0)
    failing_first._loaders[1].calls = 1  # type: ignore[attr-defined,index]
    with pytest.raises(RuntimeError):
        failing_first.current()
