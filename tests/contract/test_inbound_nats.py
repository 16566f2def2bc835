"""NATS JetStream inbound log specifics: shared consumer, redelivery after ack_wait, dead letters, dedupe."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from test_inbound_log import record

from fermion.adapters.inbound_nats import NatsInboundLog, NatsOptions
from support.scaleout import NATS_URL, delete_stream, new_stream_name, require_nats


@pytest.fixture
def stream() -> Iterator[str]:
    require_nats()
    name = new_stream_name()
    yield name
    delete_stream(name)


async def crash(log: NatsInboundLog) -> None:
    """Drop the connection without handing anything back (what SIGKILL does)."""
    for task in log._tasks:
        task.cancel()
    assert log._nc is not None
    await log._nc.close()
    log._closed = True


def test_workers_share_the_consumer_and_each_record_goes_to_one(stream: str) -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        api, a, b = (NatsInboundLog(NatsOptions(url=NATS_URL, stream=stream)) for _ in range(3))
        await api.append([record(i) for i in range(40)])
        got_a = await a.fetch(15, 1.0)
        got_b = await b.fetch(100, 1.0)
        await a.ack(got_a)
        await b.ack(got_b)
        for log in (api, a, b):
            await log.close()
        return [r.batch_id for r in got_a], [r.batch_id for r in got_b]

    got_a, got_b = asyncio.run(scenario())
    assert len(got_a) == 15 and len(got_b) == 25
    assert sorted(got_a + got_b) == [10_000 + i for i in range(40)]


def test_a_crashed_workers_records_are_redelivered_after_ack_wait(stream: str) -> None:
    async def scenario() -> list[int]:
        options = NatsOptions(url=NATS_URL, stream=stream, ack_wait_s=1.0)
        first = NatsInboundLog(options)
        await first.append([record(1), record(2)])
        assert len(await first.fetch(10, 1.0)) == 2
        await crash(first)
        second = NatsInboundLog(options)
        assert await second.fetch(10, 0) == []  # still held by the dead worker
        got = await second.fetch(10, 3.0)
        await second.ack(got)
        await second.close()
        return sorted(r.batch_id for r in got)

    assert asyncio.run(scenario()) == [10_001, 10_002]


def test_a_record_failing_max_deliver_times_goes_to_the_dead_letter_stream(stream: str) -> None:
    async def scenario() -> tuple[int, int, int]:
        options = NatsOptions(
            url=NATS_URL, stream=stream, ack_wait_s=0.3, max_deliver=2, max_in_progress_s=0, stats_every_s=0.1
        )
        log = NatsInboundLog(options)
        await log.append([record(1)])
        deliveries = 0
        for _ in range(6):  # never acked: every attempt "fails"
            deliveries += len(await log.fetch(10, 1.0))
        await asyncio.sleep(0.3)
        stats = log.stats
        await log.close()
        return deliveries, stats.dead_letters, stats.pending

    deliveries, dead, pending = asyncio.run(scenario())
    assert (deliveries, dead, pending) == (2, 1, 0)


def test_a_retried_publish_of_the_same_batch_is_stored_once(stream: str) -> None:
    async def scenario() -> list[int]:
        log = NatsInboundLog(NatsOptions(url=NATS_URL, stream=stream))
        await log.append([record(1), record(2)])
        await log.append([record(1)])
        got = await log.fetch(10, 0.5)
        await log.ack(got)
        await log.close()
        return [r.batch_id for r in got]

    assert asyncio.run(scenario()) == [10_001, 10_002]
