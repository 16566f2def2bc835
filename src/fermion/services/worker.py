"""The processing worker loop: fetch from the inbound log, process (isolating failures), acknowledge."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from fermion.ports import InboundLog, InboundRecord, ProcessingFailure
from fermion.services.processing import Processor

log = logging.getLogger(__name__)
_FAILED_GROUP_PAUSE_S = 1.0
_MAX_REASON = 1_000
_MAX_SUSPECTS = 10_000
# A failing group is split this many ways, each failing part again, down to the bad records: a wider
# split wastes less work (a part's processing is lost when it fails: about n*w/(w-1) per bad record
# beyond the first try, 2n for halves) for a few more calls (w*log_w(n) per bad record).
SPLIT_WAYS = 8
_EXTRA_GROUP_POLL_S = 0.02  # how soon an idle extra group notices a backlog
# Under a backlog a group fills up to this: per-group costs (queries, commits, index pages written to the
# WAL) spread over more batches (bench/worker_phases.py: ~20% less CPU per batch at 2,000 than at 500);
# under light load a fetch returns what is there, so latency stays low.
DEFAULT_FETCH_SIZE = 2_000
# A group that comes back short waits this long once for more records before processing: at a steady
# rate the groups grow (per-group costs spread wider) for at most this much added latency.
DEFAULT_LINGER_S = 0.05


def _settle_gc() -> None:
    """Everything allocated at startup lives as long as the process: freezing it keeps the cyclic GC's
    passes short, and a higher first threshold makes them rare (together ~20% of processing CPU)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:_MAX_REASON]


def _never(exc: BaseException) -> bool:
    return False


@dataclass
class _Outcome:
    done: list[InboundRecord] = field(default_factory=list)
    failed: list[ProcessingFailure] = field(default_factory=list)
    unresolved: list[InboundRecord] = field(default_factory=list)  # not tried: the store is unavailable


class ArchiveRunner(Protocol):
    def run_once(self) -> int: ...


class Worker:
    def __init__(
        self,
        inbound: InboundLog,
        processor: Processor,
        archiver: ArchiveRunner | None = None,
        fetch_size: int = DEFAULT_FETCH_SIZE,
        archive_every_s: float = 1.0,
        on_error: Callable[[str], None] | None = None,
        groups_in_flight: int = 1,
        linger_s: float = DEFAULT_LINGER_S,
        store_outage: Callable[[BaseException], bool] = _never,
    ) -> None:
        """`groups_in_flight` > 1 processes up to that many groups at once (each fetched, processed and
        acked on its own), overlapping one group's database waits with another's work, for inbound logs
        that hand records to concurrent readers (NATS). The extra groups start only while there is a
        backlog (the last fetch came back full): under light load a user's batches stay in log order.
        `store_outage` tells an error of an unavailable store (retried, no attempt counted) from one of
        the batch (isolated and reported to the log as a failed attempt)."""
        self._inbound = inbound
        self._processor = processor
        self._archiver = archiver
        self._fetch_size = fetch_size
        self._archive_every_s = archive_every_s
        self._archived_at = 0.0
        self._archiving = False
        self._groups_in_flight = max(1, groups_in_flight)
        self._linger_s = linger_s
        self._backlog = False  # the last fetch returned a full group
        self._on_error = on_error or (lambda kind: None)
        self._store_outage = store_outage
        self._suspects: dict[int, None] = {}  # batch ids that failed alone, oldest first
        self._stop = asyncio.Event()  # run() replaces it with the one that stops the worker
        self.processed = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, finishing the round in hand (nothing is acked unprocessed)."""
        _settle_gc()
        self._stop = stop

        async def loop(extra: bool) -> None:
            while not stop.is_set():
                if extra and not self._backlog:
                    await asyncio.sleep(_EXTRA_GROUP_POLL_S)
                    continue
                await self.run_once(wait_s=0.25)

        await asyncio.gather(*(loop(extra=n > 0) for n in range(self._groups_in_flight)))

    async def run_once(self, wait_s: float = 0.0) -> int:
        records = await self._inbound.fetch(self._fetch_size, wait_s)
        if 0 < len(records) < self._fetch_size and self._linger_s > 0:
            await asyncio.sleep(self._linger_s)
            records = [*records, *await self._inbound.fetch(self._fetch_size - len(records), 0.0)]
        self._backlog = len(records) >= self._fetch_size
        if records:
            await self._process(records)
        await self.archive(force=False)
        return len(records)

    async def _process(self, records: Sequence[InboundRecord]) -> None:
        """Process the group, isolating what fails: processed records are acknowledged, each record that
        fails alone is reported to the log once per attempt (which dead-letters it after its maximum).
        While the store is unavailable the records in hand are retried here, every second, until it is
        back or the worker stops (then they stay unacknowledged, for the log to deliver again)."""
        todo = list(records)
        while todo:
            outcome = await self._isolate(todo)
            if outcome.done:
                await self._inbound.ack(outcome.done)
                self.processed += len(outcome.done)
            if outcome.failed:
                await self._inbound.failed(outcome.failed)
            todo = outcome.unresolved
            if todo:
                await asyncio.sleep(_FAILED_GROUP_PAUSE_S)  # a store outage: do not spin
                if self._stop.is_set():
                    return

    async def _isolate(self, records: list[InboundRecord]) -> _Outcome:
        """Process `records`; a failing group is split (SPLIT_WAYS parts) until each failure is down to one
        record, so k bad records among n cost O(k log n) processing calls and every good one is processed
        once.
        A record that failed alone before (in this process) is tried alone at once: its next attempts
        cost one call each, not another bisection of the group it comes back in."""
        outcome = _Outcome()
        fresh = [r for r in records if r.batch_id not in self._suspects]
        stack = [[r] for r in reversed(records) if r.batch_id in self._suspects]
        if fresh:
            stack.append(fresh)  # first
        while stack:
            group = stack.pop()
            try:
                await asyncio.to_thread(self._processor.process, group)
            except Exception as exc:
                if self._store_outage(exc):
                    log.warning("processing %d batches failed, store unavailable: %s", len(group), exc)
                    self._on_error("processing")
                    outcome.unresolved = [r for g in (group, *reversed(stack)) for r in g]
                    break
                if len(group) > 1:
                    log.warning("processing a group of %d batches failed (%s); splitting it", len(group), exc)
                    step = -(-len(group) // SPLIT_WAYS)
                    stack += [group[i : i + step] for i in reversed(range(0, len(group), step))]  # log order
                    continue
                log.exception("processing batch %s failed", group[0].batch_id)
                self._on_error("processing")
                outcome.failed.append(ProcessingFailure(record=group[0], reason=_reason(exc)))
                self._suspects[group[0].batch_id] = None
                while len(self._suspects) > _MAX_SUSPECTS:  # the oldest go (dead-lettered by now)
                    del self._suspects[next(iter(self._suspects))]
                continue
            outcome.done += group
            if len(group) == 1:
                self._suspects.pop(group[0].batch_id, None)
        return outcome

    async def archive(self, force: bool = True) -> None:
        # Archiving fsyncs files, so it runs on a timer rather than after every round.
        now = time.monotonic()
        due = force or now - self._archived_at >= self._archive_every_s
        if self._archiver is not None and due and not self._archiving:
            self._archived_at = now
            self._archiving = True  # one archiving run at a time, however many groups are in flight
            try:
                await asyncio.to_thread(self._archiver.run_once)
            except Exception:
                log.exception("archiving failed")
                self._on_error("archive")
            finally:
                self._archiving = False
