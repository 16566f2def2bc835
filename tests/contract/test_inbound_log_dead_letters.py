"""Contract for the inbound dead letters (ports.inbound), on every InboundLog adapter: a record failing its
maximum attempts leaves the log for the dead letters (attempts survive reopening the log); the others come
back; dead letters are listed and summed by workspace and replayed (all or by id) into the log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import nats
import pytest
from nats.js.api import StreamConfig
from test_inbound_log import record

from fermion.adapters.inbound_nats import NatsInboundLog, NatsOptions
from fermion.adapters.inbound_sqlite import SqliteInboundLog
from fermion.ports import InboundRecord, ProcessingFailure
from fermion.services.metrics import CountedLog
from support.scaleout import NATS_URL, delete_stream, new_stream_name, require_nats

MAX_ATTEMPTS = 3
LogFactory = Callable[[], CountedLog]


@pytest.fixture(params=["sqlite", "nats"])
def open_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LogFactory]:
    if request.param == "sqlite":
        yield lambda: SqliteInboundLog(tmp_path / "inbound.db", max_attempts=MAX_ATTEMPTS)
        return
    require_nats()
    stream = new_stream_name()
    yield lambda: NatsInboundLog(
        NatsOptions(url=NATS_URL, stream=stream, max_deliver=MAX_ATTEMPTS, retry_delay_s=0.05)
    )
    delete_stream(stream)


def in_workspace(i: int, workspace_id: int) -> InboundRecord:
    return msgspec.structs.replace(record(i), workspace_id=workspace_id)


async def fetch_all(log: CountedLog, expected: int) -> list[InboundRecord]:
    """Fetch until `expected` records came (a failed NATS record comes back after a short delay)."""
    got: list[InboundRecord] = []
    for _ in range(50):
        got += await log.fetch(100, 0.5)
        if len(got) >= expected:
            break
    return got


async def fail(log: CountedLog, records: list[InboundRecord], reason: str = "boom") -> None:
    await log.failed([ProcessingFailure(record=r, reason=reason) for r in records])


def test_a_record_failing_its_maximum_attempts_becomes_a_dead_letter(open_log: LogFactory) -> None:
    async def scenario() -> None:
        log = open_log()
        await log.append([in_workspace(0, 1), in_workspace(1, 1), in_workspace(2, 2)])
        got = await fetch_all(log, 3)
        bad = [r for r in got if r.batch_id == 10_001]
        await log.ack([r for r in got if r.batch_id != 10_001])
        for attempt in range(1, MAX_ATTEMPTS + 1):
            assert [r.batch_id for r in bad] == [10_001], attempt
            await fail(log, bad, f"ValueError: attempt {attempt}")
            bad = await fetch_all(log, 1) if attempt < MAX_ATTEMPTS else []
        assert await log.fetch(10, 0.5) == []  # gone from the log
        letters = await log.dead_letters()
        assert [(d.record.batch_id, d.reason) for d in letters] == [
            (10_001, f"ValueError: attempt {MAX_ATTEMPTS}")
        ]
        assert letters[0].attempts == MAX_ATTEMPTS and letters[0].dead_ms > 0
        assert letters[0].record.payload == record(1).payload and letters[0].record.request_id == "r1"
        assert await log.dead_letters(workspace_id=2) == []
        summary = await log.dead_letter_summary(1)
        assert (summary.count, summary.last_reason) == (1, f"ValueError: attempt {MAX_ATTEMPTS}")
        assert (await log.dead_letter_summary(2)).count == 0
        await log.close()

    asyncio.run(scenario())


def test_failed_attempts_survive_reopening_the_log(open_log: LogFactory) -> None:
    async def scenario() -> None:
        log = open_log()
        await log.append([in_workspace(0, 1)])
        await fail(log, await fetch_all(log, 1))
        await log.close()
        for _ in range(MAX_ATTEMPTS - 1):  # a restart between each attempt
            log = open_log()
            await fail(log, await fetch_all(log, 1))
            await log.close()
        log = open_log()
        assert await log.fetch(10, 0.5) == []
        assert [d.record.batch_id for d in await log.dead_letters()] == [10_000]
        await log.close()

    asyncio.run(scenario())


def test_dead_letters_are_replayed_by_workspace_and_id(open_log: LogFactory) -> None:
    async def scenario() -> None:
        log = open_log()
        await log.append([in_workspace(0, 1), in_workspace(1, 1), in_workspace(2, 2)])
        for _ in range(MAX_ATTEMPTS):
            await fail(log, await fetch_all(log, 3))
        letters = await log.dead_letters()
        assert sorted(d.record.batch_id for d in letters) == [10_000, 10_001, 10_002]
        first = next(d for d in letters if d.record.batch_id == 10_000)
        assert await log.replay_dead_letters(2, [first.id]) == 0  # not that workspace's
        assert await log.replay_dead_letters(1, [first.id]) == 1
        again = await fetch_all(log, 1)
        assert [r.batch_id for r in again] == [10_000]
        await log.ack(again)
        assert sorted(d.record.batch_id for d in await log.dead_letters()) == [10_001, 10_002]
        assert await log.replay_dead_letters(None) == 2
        assert await log.dead_letters() == []
        rest = await fetch_all(log, 2)
        assert sorted(r.batch_id for r in rest) == [10_001, 10_002]
        # Replayed, a batch has its attempts again: one failure does not dead-letter it.
        await fail(log, [r for r in rest if r.batch_id == 10_001])
        await log.ack([r for r in rest if r.batch_id == 10_002])
        assert [r.batch_id for r in await fetch_all(log, 1)] == [10_001]
        assert await log.dead_letters() == []
        await log.close()

    asyncio.run(scenario())


def test_a_nats_dead_letter_stream_of_an_older_version_gains_the_workspace_subjects() -> None:
    """Before per-workspace subjects the DLQ took `<stream>.dlq` only: its letters stay listed (all)."""
    require_nats()
    stream = new_stream_name()

    async def scenario() -> None:
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name=f"{stream}_DLQ", subjects=[f"{stream}.dlq"]))
        legacy = msgspec.msgpack.encode(in_workspace(5, 1))
        await js.publish(f"{stream}.dlq", legacy, headers={"Fermion-Reason": "delivered 6 times"})
        await nc.close()
        log = NatsInboundLog(NatsOptions(url=NATS_URL, stream=stream, max_deliver=1))
        await log.append([in_workspace(0, 1)])
        await fail(log, await fetch_all(log, 1))
        assert [d.record.batch_id for d in await log.dead_letters(workspace_id=1)] == [10_000]
        assert [d.record.batch_id for d in await log.dead_letters()] == [10_005, 10_000]
        assert (await log.dead_letter_summary()).count == 2
        assert (await log.dead_letter_summary(1)).count == 1
        await log.close()

    try:
        asyncio.run(scenario())
    finally:
        delete_stream(stream)
