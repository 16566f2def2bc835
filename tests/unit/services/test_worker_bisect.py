"""The worker isolates failures by splitting failing groups (SPLIT_WAYS parts, down to single records),
on the real embedded inbound log: k bad batches among n cost O(k log n) processing calls, every good
batch is processed exactly once, each bad one is dead-lettered after its maximum attempts (one call per
attempt after the first); a store outage is retried without counting attempts."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

from fermion.adapters.inbound_sqlite import SqliteInboundLog
from fermion.model.records import InboundRecord
from fermion.services.processing import ProcessingReport, Processor, WorkItem
from fermion.services.worker import SPLIT_WAYS, Worker

MAX_ATTEMPTS = 3


def record(batch_id: int) -> InboundRecord:
    return InboundRecord(
        batch_id=batch_id,
        workspace_id=1 + batch_id % 2,
        input_id=1,
        environment="development",
        received_ms=1_700_000_000_000,
        source_ip="",
        request_id=f"r{batch_id}",
        historical=False,
        payload=b'{"events":[]}',
    )


class Poisoned:
    """Fails any group holding a poisoned batch (as a store rejecting one row fails the transaction)."""

    name = "poisoned"

    def __init__(self, poison: set[int]) -> None:
        self.poison = poison
        self.calls = 0
        self.processed: list[int] = []

    def run(self, items: list[WorkItem], now_ms: int, report: ProcessingReport) -> list[WorkItem]:
        self.calls += 1
        if any(i.record.batch_id in self.poison for i in items):
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        self.processed += [i.record.batch_id for i in items]
        return items


def levels(n: int) -> int:
    """Splits from a group of n down to single records."""
    count, size = 0, 1
    while size < n:
        size, count = size * SPLIT_WAYS, count + 1
    return count


def drain(log: SqliteInboundLog, worker: Worker) -> None:
    async def run() -> None:
        while await worker.run_once() or log.pending():
            pass

    asyncio.run(run())


def test_a_failing_group_is_bisected_down_to_its_bad_batches(tmp_path: Path) -> None:
    n, poison = 1_000, {17, 18, 400, 701, 999}
    log = SqliteInboundLog(tmp_path / "inbound.db", max_attempts=MAX_ATTEMPTS)
    asyncio.run(log.append([record(i) for i in range(n)]))
    phase = Poisoned(poison)
    errors: list[str] = []
    worker = Worker(log, Processor([phase]), fetch_size=n, linger_s=0, on_error=errors.append)
    drain(log, worker)

    assert sorted(phase.processed) == sorted(set(range(n)) - poison)  # each good batch exactly once
    assert worker.processed == n - len(poison) and log.pending() == 0
    letters = asyncio.run(log.dead_letters())
    assert sorted(d.record.batch_id for d in letters) == sorted(poison)
    assert {d.attempts for d in letters} == {MAX_ATTEMPTS}
    assert {d.reason for d in letters} == {"OverflowError: Python int too large to convert to SQLite INTEGER"}
    assert log.dead_letter_count() == len(poison) and errors == ["processing"] * len(poison) * MAX_ATTEMPTS
    # The first attempt splits: at most 1 + k*w*log_w(n) calls (the old batch-by-batch retry: n + 1); the
    # worker then knows the culprits and tries each alone: one call per further attempt.
    bound = 1 + len(poison) * SPLIT_WAYS * levels(n) + (MAX_ATTEMPTS - 1) * len(poison)
    assert phase.calls <= bound < n
    asyncio.run(log.close())


def test_a_bad_batch_coming_back_among_new_ones_costs_no_new_bisection(tmp_path: Path) -> None:
    """Each further attempt of a known culprit is one call beside its new group, not a bisection of it."""
    n, size = 400, 100
    log = SqliteInboundLog(tmp_path / "inbound.db", max_attempts=MAX_ATTEMPTS)
    asyncio.run(log.append([record(i) for i in range(n)]))
    phase = Poisoned({50})
    worker = Worker(log, Processor([phase]), fetch_size=size, linger_s=0)
    drain(log, worker)
    assert sorted(phase.processed) == sorted(set(range(n)) - {50})
    groups = math.ceil(n / size) + 1
    assert phase.calls <= 1 + SPLIT_WAYS * levels(size) + (MAX_ATTEMPTS - 1) + groups
    assert [d.record.batch_id for d in asyncio.run(log.dead_letters())] == [50]
    asyncio.run(log.close())


def test_a_dead_letter_replayed_is_processed_once_it_can_be(tmp_path: Path) -> None:
    log = SqliteInboundLog(tmp_path / "inbound.db", max_attempts=MAX_ATTEMPTS)
    asyncio.run(log.append([record(i) for i in range(10)]))
    phase = Poisoned({4})
    worker = Worker(log, Processor([phase]), fetch_size=10, linger_s=0)
    drain(log, worker)
    assert [d.record.batch_id for d in asyncio.run(log.dead_letters())] == [4]
    phase.poison = set()  # e.g. the bug fixed
    assert asyncio.run(log.replay_dead_letters(record(4).workspace_id)) == 1
    drain(log, worker)
    assert sorted(phase.processed) == list(range(10)) and log.dead_letter_count() == 0
    asyncio.run(log.close())


class Outage:
    """The store is away for the first `down` calls."""

    name = "outage"

    def __init__(self, down: int) -> None:
        self.down = down
        self.processed: list[int] = []

    def run(self, items: list[WorkItem], now_ms: int, report: ProcessingReport) -> list[WorkItem]:
        if self.down > 0:
            self.down -= 1
            raise ConnectionError("store unreachable")
        self.processed += [i.record.batch_id for i in items]
        return items


def test_a_store_outage_is_retried_without_counting_attempts(tmp_path: Path) -> None:
    log = SqliteInboundLog(tmp_path / "inbound.db", max_attempts=1)
    asyncio.run(log.append([record(i) for i in range(20)]))
    phase = Outage(down=2)
    worker = Worker(
        log,
        Processor([phase]),
        fetch_size=20,
        linger_s=0,
        store_outage=lambda e: isinstance(e, ConnectionError),
    )
    drain(log, worker)
    assert phase.processed == list(range(20))  # whole, once, after the store came back
    assert log.dead_letter_count() == 0 and log.pending() == 0
    asyncio.run(log.close())
