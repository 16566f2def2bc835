"""The worker: a failed group is split until the failing batch is alone; only the batches that succeed are
acknowledged, the failing one is reported to the log as a failed attempt."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

from fermion.model.records import InboundRecord
from fermion.ports import ProcessingFailure
from fermion.services.processing import ProcessingReport, Processor, WorkItem
from fermion.services.worker import Worker


class FakeLog:
    def __init__(self, records: list[InboundRecord]) -> None:
        self.records = records
        self.acked: list[int] = []
        self.failed_ids: list[int] = []

    async def append(self, records: Sequence[InboundRecord]) -> None:
        raise NotImplementedError

    async def fetch(self, max_records: int, wait_s: float) -> list[InboundRecord]:
        out, self.records = self.records[:max_records], self.records[max_records:]
        if not out:
            await asyncio.sleep(min(wait_s, 0.01))  # an empty log waits, like the real ones
        return out

    async def ack(self, records: Sequence[InboundRecord]) -> None:
        self.acked += [r.batch_id for r in records]

    async def failed(self, failures: Sequence[ProcessingFailure]) -> None:
        self.failed_ids += [f.record.batch_id for f in failures]

    async def close(self) -> None:
        pass


class FailOn:
    name = "fail-on"

    def __init__(self, batch_id: int) -> None:
        self.batch_id = batch_id
        self.seen: list[int] = []

    def run(self, items: list[WorkItem], now_ms: int, report: ProcessingReport) -> list[WorkItem]:
        if any(i.record.batch_id == self.batch_id for i in items):
            raise RuntimeError("poison")
        self.seen += [i.record.batch_id for i in items]
        return items


def record(batch_id: int) -> InboundRecord:
    return InboundRecord(
        batch_id=batch_id,
        workspace_id=1,
        input_id=1,
        environment="development",
        received_ms=1_700_000_000_000,
        source_ip="",
        request_id="r",
        historical=False,
        payload=b'{"events":[]}',
        seq=batch_id,
    )


def test_a_poison_batch_holds_back_only_itself() -> None:
    log = FakeLog([record(i) for i in range(1, 6)])
    phase = FailOn(3)
    errors: list[str] = []
    worker = Worker(log, Processor([phase]), on_error=errors.append)
    assert asyncio.run(worker.run_once()) == 5
    assert log.acked == [1, 2, 4, 5] and phase.seen == [1, 2, 4, 5] and log.failed_ids == [3]
    assert worker.processed == 4 and errors == ["processing"]


class Overlap:
    """Records how many groups were inside the phase at once (each waits briefly for company)."""

    name = "overlap"

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.seen: list[int] = []
        self.together = threading.Barrier(2, timeout=5)

    def run(self, items: list[WorkItem], now_ms: int, report: ProcessingReport) -> list[WorkItem]:
        self.inside += 1
        self.most = max(self.most, self.inside)
        if len(self.seen) < 2:  # the first two groups meet: proof that they were in flight together
            self.together.wait()
        self.seen += [i.record.batch_id for i in items]
        self.inside -= 1
        return items


def test_groups_in_flight_process_concurrently_and_ack_each_record_once() -> None:
    log = FakeLog([record(i) for i in range(1, 21)])
    phase = Overlap()
    worker = Worker(log, Processor([phase]), fetch_size=5, groups_in_flight=2)
    stop = asyncio.Event()

    async def run() -> None:
        task = asyncio.create_task(worker.run(stop))
        while worker.processed < 20:
            await asyncio.sleep(0.01)
        stop.set()
        await task

    asyncio.run(run())
    assert phase.most == 2
    assert sorted(log.acked) == list(range(1, 21)) and sorted(phase.seen) == list(range(1, 21))


class Trickle(FakeLog):
    """Records arrive one at a time: no fetch ever comes back full."""

    async def fetch(self, max_records: int, wait_s: float) -> list[InboundRecord]:
        return await super().fetch(1, wait_s)


class Slow(Overlap):
    def run(self, items: list[WorkItem], now_ms: int, report: ProcessingReport) -> list[WorkItem]:
        self.inside += 1
        self.most = max(self.most, self.inside)
        time.sleep(0.03)  # long enough for an extra group to start, were it allowed to
        self.seen += [i.record.batch_id for i in items]
        self.inside -= 1
        return items


def test_without_a_backlog_groups_stay_one_at_a_time_in_log_order() -> None:
    log = Trickle([record(i) for i in range(1, 6)])
    phase = Slow()
    worker = Worker(log, Processor([phase]), fetch_size=5, groups_in_flight=2)
    stop = asyncio.Event()

    async def run() -> None:
        task = asyncio.create_task(worker.run(stop))
        while worker.processed < 5:
            await asyncio.sleep(0.01)
        stop.set()
        await task

    asyncio.run(run())
    assert phase.most == 1 and phase.seen == [1, 2, 3, 4, 5] and log.acked == [1, 2, 3, 4, 5]


class Arriving(FakeLog):
    """Hands out what has "arrived": one more record every time the worker looks again."""

    def __init__(self, records: list[InboundRecord], first: int) -> None:
        super().__init__(records)
        self.shown = first

    async def fetch(self, max_records: int, wait_s: float) -> list[InboundRecord]:
        out, self.records = (
            self.records[: min(max_records, self.shown)],
            self.records[min(max_records, self.shown) :],
        )
        self.shown = 1
        return out


def test_a_short_group_lingers_once_for_more_records() -> None:
    phase = FailOn(-1)
    worker = Worker(Arriving([record(i) for i in range(1, 6)], first=3), Processor([phase]), linger_s=0.01)
    assert asyncio.run(worker.run_once()) == 4  # 3 at first, 1 more after the linger, in one group
    assert phase.seen == [1, 2, 3, 4]
    full = Worker(Arriving([record(i) for i in range(1, 6)], first=5), Processor([FailOn(-1)]), fetch_size=5)
    started = time.monotonic()
    assert asyncio.run(full.run_once()) == 5  # a full group does not wait
    assert time.monotonic() - started < 0.04
