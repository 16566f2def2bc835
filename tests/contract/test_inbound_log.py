"""Contract for the InboundLog port: durable append, ordered fetch, ack, redelivery after reopening.

Runs against every InboundLog adapter: the embedded SQLite log and NATS JetStream (a fresh stream per
test; skipped when NATS is unreachable, unless CI=true).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest

from fermion.adapters.inbound_nats import NatsInboundLog, NatsOptions
from fermion.adapters.inbound_sqlite import SqliteInboundLog
from fermion.ports import InboundLog, InboundRecord
from support.scaleout import NATS_URL, delete_stream, new_stream_name, require_nats

LogFactory = Callable[[], InboundLog]


@pytest.fixture(params=["sqlite", "nats"])
def open_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LogFactory]:
    if request.param == "sqlite":
        yield lambda: SqliteInboundLog(tmp_path / "inbound.db")
        return
    require_nats()
    stream = new_stream_name()
    yield lambda: NatsInboundLog(NatsOptions(url=NATS_URL, stream=stream))
    delete_stream(stream)


def record(i: int, payload: bytes = b'{"events":[]}') -> InboundRecord:
    return InboundRecord(
        batch_id=10_000 + i,
        workspace_id=1,
        input_id=2,
        environment="development",
        received_ms=1_700_000_000_000 + i,
        source_ip="127.0.0.1",
        request_id=f"r{i}",
        historical=i % 2 == 0,
        payload=payload,
        plain=i % 3 == 0,
    )


def test_append_fetch_ack_in_order(open_log: LogFactory) -> None:
    async def scenario() -> None:
        log = open_log()
        await log.append([record(i) for i in range(5)])
        got = await log.fetch(3, 0)
        assert [r.batch_id for r in got] == [10_000, 10_001, 10_002]
        assert got[0].payload == b'{"events":[]}' and got[0].historical and not got[1].historical
        assert got[0].seq < got[1].seq < got[2].seq
        assert [r.plain for r in got] == [True, False, False]  # kept: the worker decodes plain ones faster
        rest = await log.fetch(10, 0)
        assert [r.batch_id for r in rest] == [10_003, 10_004]
        assert await log.fetch(10, 0) == []
        await log.ack(got + rest)
        await log.close()

    asyncio.run(scenario())


def test_unacked_records_are_delivered_again_after_reopening(open_log: LogFactory) -> None:
    async def first() -> None:
        log = open_log()
        await log.append([record(i) for i in range(4)])
        got = await log.fetch(10, 0)
        await log.ack(got[:2])
        await log.close()  # a crash after processing only two

    async def second() -> list[int]:
        log = open_log()
        got = await log.fetch(10, 0)
        await log.close()
        return [r.batch_id for r in got]

    asyncio.run(first())
    assert asyncio.run(second()) == [10_002, 10_003]


def test_concurrent_appends_are_all_stored(open_log: LogFactory) -> None:
    async def scenario() -> int:
        log = open_log()
        await asyncio.gather(*(log.append([record(i), record(1000 + i)]) for i in range(200)))
        got: list[InboundRecord] = []
        while batch := await log.fetch(150, 0):
            got += batch
        await log.close()
        return len({r.batch_id for r in got})

    assert asyncio.run(scenario()) == 400


def test_fetch_waits_for_new_records(open_log: LogFactory) -> None:
    async def scenario() -> list[int]:
        log = open_log()

        async def later() -> None:
            await asyncio.sleep(0.1)
            await log.append([record(7)])

        task = asyncio.create_task(later())
        got = await log.fetch(10, 5.0)
        await task
        await log.close()
        return [r.batch_id for r in got]

    assert asyncio.run(scenario()) == [10_007]


def test_sqlite_lanes_split_the_log_by_sender(tmp_path: Path) -> None:
    """Embedded workers i of n each fetch only records whose lane % n == i, in log order."""

    def laned(i: int) -> InboundRecord:
        return msgspec.structs.replace(record(i), lane=1_000 + i)

    async def scenario() -> None:
        writer = SqliteInboundLog(tmp_path / "inbound.db")
        await writer.append([laned(i) for i in range(9)])
        readers = [SqliteInboundLog(tmp_path / "inbound.db", lane=(i, 3)) for i in range(3)]
        got = [await r.fetch(100, 0) for r in readers]
        for index, records in enumerate(got):
            assert [r.lane % 3 for r in records] == [index] * 3
            assert [r.seq for r in records] == sorted(r.seq for r in records)
        assert sorted(r.batch_id for records in got for r in records) == [10_000 + i for i in range(9)]
        await readers[0].ack(got[0])
        assert writer.pending() == 6
        for log in (writer, *readers):
            await log.close()
        with pytest.raises(ValueError):
            SqliteInboundLog(tmp_path / "inbound.db", lane=(3, 3))

    asyncio.run(scenario())


def test_sqlite_log_written_before_lanes_gains_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "inbound.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE inbound (seq INTEGER PRIMARY KEY AUTOINCREMENT, batch_id INTEGER NOT NULL,"
            " workspace_id INTEGER NOT NULL, input_id INTEGER NOT NULL, environment TEXT NOT NULL,"
            " received_ms INTEGER NOT NULL, source_ip TEXT NOT NULL, request_id TEXT NOT NULL,"
            " historical INTEGER NOT NULL, payload BLOB NOT NULL)"
        )
        db.execute("INSERT INTO inbound VALUES (1, 7, 1, 2, 'production', 5, '::1', 'r', 0, x'7b7d')")
    db.close()

    async def scenario() -> list[InboundRecord]:
        log = SqliteInboundLog(path, lane=(0, 2))
        got = await log.fetch(10, 0)
        await log.close()
        return got

    assert [(r.batch_id, r.lane, r.plain) for r in asyncio.run(scenario())] == [(7, 0, False)]
