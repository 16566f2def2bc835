"""The sender over a real SQLite queue and a fake transport: grouping, retries with backoff, dead
letters, replay, per-connection isolation, alerts, counts and the outbound Live Stream."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from pathlib import Path

import pytest

from fermion.delivery.edits import ConnectionChanges
from fermion.delivery.replay import ReplayService
from fermion.delivery.retry import RetryPolicy
from fermion.delivery.stages import ConnectionHooks
from fermion.integrations import webhook
from fermion.integrations.spec import HttpRequest
from fermion.model.delivery import ClaimedItem, QueueItem
from fermion.ports import SendResult
from support.delivery_env import DeliveryEnv


@pytest.fixture
def env(tmp_path: Path) -> DeliveryEnv:
    return DeliveryEnv(tmp_path)


def test_delivers_everything_and_records_it(env: DeliveryEnv) -> None:
    _, conn = env.webhook("http://a.test/hook")
    env.enqueue(conn, range(1, 31))
    sender = env.sender()
    env.run_until(sender, lambda: env.queue.count_by_status(conn.id)["done"] == 30)
    assert sorted(env.transport.delivered_ids()) == list(range(1, 31))
    assert env.queue.count_by_status(conn.id) == {"pending": 0, "inflight": 0, "done": 30, "dead": 0}
    now = int(time.time() * 1000)
    counts = env.log.counts(env.workspace.id, now - 3_600_000, now + 3_600_000)
    assert [(c.direction, c.count) for c in counts] == [("out", 30)]
    live = env.log.outbound(env.workspace.id, conn.id)
    assert live and live[0].outcome == "delivered" and live[0].target == "POST http://a.test/hook"
    assert env.log.alerts(env.workspace.id, 0, now + 1000) == []


def test_retries_with_backoff_then_delivers_and_alerts(env: DeliveryEnv) -> None:
    _, conn = env.webhook("http://flaky.test/hook")
    calls = {"n": 0}

    def flaky(_: HttpRequest) -> SendResult:
        calls["n"] += 1
        return SendResult(status=500, message="boom") if calls["n"] <= 2 else SendResult(status=200)

    env.transport.behaviours["http://flaky.test/hook"] = flaky
    env.enqueue(conn, [1])
    env.run_until(env.sender(max_attempts=5), lambda: env.queue.count_by_status(conn.id)["done"] == 1)
    attempts = [s.at for s in env.transport.sent]
    assert len(attempts) == 3 and attempts[1] - attempts[0] >= 0.009  # backed off (base 20 ms, jitter)
    alerts = env.log.alerts(env.workspace.id, 0, int(time.time() * 1000) + 1000)
    assert [(a.error_type, a.count, a.last_message) for a in alerts] == [
        ("server_error", 2, "HTTP 500: boom")
    ]


def test_retry_after_pauses_the_connection(env: DeliveryEnv) -> None:
    _, conn = env.webhook("http://busy.test/hook")
    calls = {"n": 0}

    def limited(_: HttpRequest) -> SendResult:
        calls["n"] += 1
        return SendResult(status=429, retry_after_s=0.4) if calls["n"] == 1 else SendResult(status=200)

    env.transport.behaviours["http://busy.test/hook"] = limited
    env.enqueue(conn, [1])
    env.run_until(env.sender(), lambda: env.queue.count_by_status(conn.id)["done"] == 1)
    first, second = env.transport.sent[0].at, env.transport.sent[1].at
    assert second - first >= 0.38


def test_gives_up_after_max_attempts_then_replays_dead_letters(env: DeliveryEnv) -> None:
    _, conn = env.webhook("http://down.test/hook")
    env.transport.behaviours["http://down.test/hook"] = lambda _: SendResult(status=503)
    env.enqueue(conn, range(1, 4))
    env.run_until(env.sender(max_attempts=3), lambda: env.queue.count_by_status(conn.id)["dead"] == 3)
    dead = env.queue.dead_letters(conn.id)
    assert [(d.batch_id, d.attempts, d.error_type) for d in dead] == [
        (b, 3, "server_error") for b in (1, 2, 3)
    ]
    assert dead[0].last_error.startswith("gave up after 3 attempts")
    # The partner is back: replay the dead letters.
    del env.transport.behaviours["http://down.test/hook"]
    replay = ReplayService(env.outputs, env.routes(), env.queue, ConnectionHooks())
    job = replay.replay_dead_letters(env.workspace.id, conn.id)
    assert job.enqueued == 3
    env.run_until(env.sender(), lambda: replay.progress(env.workspace.id, job.id).done == 3)
    assert sorted(env.transport.delivered_ids()) == [1, 2, 3]
    assert env.queue.dead_letters(conn.id) == []


def test_permanent_errors_go_to_the_dead_letters_at_once(env: DeliveryEnv) -> None:
    _, conn = env.webhook("http://strict.test/hook")
    env.transport.behaviours["http://strict.test/hook"] = lambda _: SendResult(status=400, message="bad")
    env.enqueue(conn, [1])
    env.run_until(env.sender(max_attempts=10), lambda: env.queue.count_by_status(conn.id)["dead"] == 1)
    assert len(env.transport.sent) == 1
    assert env.queue.dead_letters(conn.id)[0].error_type == "bad_request"


def test_missing_stored_batch_is_a_dead_letter(env: DeliveryEnv) -> None:
    _, conn = env.webhook("http://a.test/hook")
    env.queue.enqueue(
        [
            QueueItem(
                connection_id=conn.id,
                workspace_id=env.workspace.id,
                batch_id=99,
                input_id=env.input.id,
                environment="production",
                mpid=1,
                received_ms=1,
                payload=None,
                summary=[],
            )
        ],
        int(time.time() * 1000),
        {},
    )
    env.run_until(env.sender(), lambda: env.queue.count_by_status(conn.id)["dead"] == 1)
    assert env.queue.dead_letters(conn.id)[0].error_type == "missing_batch"


def test_a_slow_partner_does_not_slow_the_others(env: DeliveryEnv) -> None:
    _, slow = env.webhook("http://slow.test/hook")
    _, fast = env.webhook("http://fast.test/hook")

    async def crawl(_: HttpRequest) -> SendResult:
        await asyncio.sleep(1.5)
        return SendResult(status=200)

    env.transport.behaviours["http://slow.test/hook"] = crawl
    env.enqueue(slow, range(1, 101))
    env.enqueue(fast, range(1, 101))
    taken = env.run_until(env.sender(), lambda: env.queue.count_by_status(fast.id)["done"] == 100)
    assert taken < 1.4  # the fast partner finished while the slow one's first requests were in flight
    assert env.queue.count_by_status(slow.id)["done"] == 0


def test_environments_are_mapped_separately(env: DeliveryEnv) -> None:
    _, conn = env.webhook("http://a.test/hook", batches_per_request=10)
    env.enqueue(conn, [1, 2], env="development")
    env.enqueue(conn, [3, 4], env="production")
    env.run_until(env.sender(), lambda: env.queue.count_by_status(conn.id)["done"] == 4)
    assert sorted(tuple(sorted(s.request.batch_ids)) for s in env.transport.sent) == [(1, 2), (3, 4)]


def test_a_failing_map_is_a_dead_letter(env: DeliveryEnv) -> None:
    _, conn = env.webhook("http://a.test/hook")

    def broken(*_: object) -> list[HttpRequest]:
        raise RuntimeError("bug")

    # Integration is frozen; swap its map for this test only.
    object.__setattr__(webhook.INTEGRATION, "map", broken)
    try:
        env.enqueue(conn, [1])
        env.run_until(env.sender(), lambda: env.queue.count_by_status(conn.id)["dead"] == 1)
    finally:
        object.__setattr__(webhook.INTEGRATION, "map", webhook.map_batches)
    dead = env.queue.dead_letters(conn.id)
    assert dead[0].error_type == "mapping_error" and "bug" in dead[0].last_error


def test_inactive_connections_wait(env: DeliveryEnv) -> None:
    _, conn = env.webhook("http://a.test/hook")
    env.edits.update_connection(env.workspace.id, conn.id, ConnectionChanges(status="inactive"))
    env.enqueue(conn, [1])
    env.run_until(env.sender(), lambda: False, timeout_s=0.4)
    assert env.transport.sent == [] and env.queue.count_by_status(conn.id)["pending"] == 1


def test_a_backlog_is_claimed_for_several_groups_each_at_most_the_batch_size(env: DeliveryEnv) -> None:
    _, conn = env.webhook("http://a.test/hook", batches_per_request=10)
    env.enqueue(conn, range(1, 41))
    claims: list[int] = []
    claim = env.queue.claim

    def counted(connection_id: int, limit: int, now_ms: int, lease_ms: int) -> list[ClaimedItem]:
        items = claim(connection_id, limit, now_ms, lease_ms)
        if items:
            claims.append(len(items))
        return items

    env.queue.claim = counted  # type: ignore[method-assign]
    env.run_until(env.sender(max_batch_size=5), lambda: env.queue.count_by_status(conn.id)["done"] == 40)
    assert sorted(env.transport.delivered_ids()) == list(range(1, 41))
    assert max(claims) > 5  # more than one group per claim
    assert max(len(s.request.batch_ids) for s in env.transport.sent) <= 5  # groups stay within the size


def test_forwarding_counts_sum_every_delivered_summary(env: DeliveryEnv) -> None:
    _, conn = env.webhook("http://a.test/hook")
    now = int(time.time() * 1000)
    summaries: list[list[tuple[str, str, int]]] = [
        [("custom_event", "A", 2)],
        [("custom_event", "A", 2)],
        [("custom_event", "A", 1), ("screen_view", "Home", 3)],
        [],
    ]
    env.queue.enqueue(
        [
            QueueItem(
                connection_id=conn.id,
                workspace_id=env.workspace.id,
                batch_id=b,
                input_id=env.input.id,
                environment="production",
                mpid=7,
                received_ms=now,
                payload=b'{"batch_id": %d}' % b,
                summary=summary,
            )
            for b, summary in enumerate(summaries, start=1)
        ],
        now,
        {},
    )
    env.run_until(env.sender(), lambda: env.queue.count_by_status(conn.id)["done"] == 4)
    counts = env.log.counts(env.workspace.id, now - 3_600_000, now + 3_600_000)
    assert sorted((c.message_type, c.event_name, c.count) for c in counts) == [
        ("custom_event", "A", 5),
        ("screen_view", "Home", 3),
    ]


def test_a_live_sender_renews_its_leases_so_a_slow_group_is_not_taken_over(env: DeliveryEnv) -> None:
    _, conn = env.webhook("http://slow.test/hook")

    async def crawl(_: HttpRequest) -> SendResult:
        await asyncio.sleep(1.2)
        return SendResult(status=200)

    env.transport.behaviours["http://slow.test/hook"] = crawl
    env.enqueue(conn, [1, 2])
    sender = env.sender(lease_s=0.3, renew_s=0.05)
    env.run_until(sender, lambda: env.queue.count_by_status(conn.id)["done"] == 2)
    # Had the lease run out during the 1.2 s request, its own lane would have claimed them again.
    assert sorted(env.transport.delivered_ids()) == [1, 2]
    assert env.queue.count_by_status(conn.id)["done"] == 2


def test_a_dead_senders_claims_are_taken_over_when_their_short_lease_ends(env: DeliveryEnv) -> None:
    _, conn = env.webhook("http://a.test/hook")
    env.enqueue(conn, [1, 2, 3])
    # A sender claimed them and died: nobody renews the lease.
    env.queue.claim(conn.id, 10, int(time.time() * 1000), 500)
    taken = env.run_until(env.sender(), lambda: env.queue.count_by_status(conn.id)["done"] == 3)
    assert sorted(env.transport.delivered_ids()) == [1, 2, 3] and taken >= 0.2


def test_a_probe_ends_a_long_backoff_once_the_partner_is_back(env: DeliveryEnv) -> None:
    _, conn = env.webhook("http://down.test/hook", batches_per_request=1)
    # Down for its first 8 requests (the 3 items' first tries, then probes), up after: counted, not
    # timed, so a slow machine cannot end the outage before any probe went.
    answered = itertools.count()
    env.transport.behaviours["http://down.test/hook"] = lambda _: SendResult(
        status=503 if next(answered) < 8 else 200
    )
    env.enqueue(conn, [1, 2, 3])
    sender = env.sender(max_attempts=3, probe_s=0.1)
    # A backoff of minutes: without probes nothing would be sent again during this test.
    sender._deps = dataclasses.replace(sender._deps, policy=RetryPolicy(max_attempts=3, base_s=300))
    env.run_until(sender, lambda: env.queue.count_by_status(conn.id)["done"] == 3, timeout_s=20)
    assert env.queue.count_by_status(conn.id) == {"pending": 0, "inflight": 0, "done": 3, "dead": 0}
    failed = [s for s in env.transport.sent if s.result.status == 503]
    assert len(failed) > 3  # probes went while paused...
    assert all(len(s.request.batch_ids) == 1 for s in failed[3:])  # ...one item each
    # A failed probe's attempt is not counted: the items were not exhausted (max 3 attempts).
