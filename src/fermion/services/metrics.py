"""Prometheus metrics of one process (any role): inbound throughput, backlog and lag, errors, queue depths.

One registry per process, created by the wiring and passed down (no module-level state).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from operator import attrgetter
from typing import Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from fermion.ports import (
    DeadLetterSummary,
    InboundDeadLetter,
    InboundDeadLetters,
    InboundLog,
    InboundRecord,
    ProcessingFailure,
)

_RECEIVED_MS = attrgetter("received_ms")

log = logging.getLogger(__name__)


class Metrics:
    def __init__(self, role: str, clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry()
        self._clock = clock
        self.accepted = Counter(
            "fermion_batches_accepted",
            "Batches durably appended to the inbound log (answered 202).",
            registry=self.registry,
        )
        self.processed = Counter(
            "fermion_batches_processed",
            "Batches processed and acknowledged by workers.",
            registry=self.registry,
        )
        self.errors = Counter("fermion_errors", "Errors, by kind.", ["kind"], registry=self.registry)
        self.lag = Gauge(
            "fermion_inbound_lag_seconds",
            "Receive-to-acknowledge time of the oldest batch in the last processed group.",
            registry=self.registry,
        )
        Gauge(
            "fermion_role", "The role this process runs (always 1).", ["role"], registry=self.registry
        ).labels(role).set(1)

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A gauge read at scrape time (NaN when reading fails, e.g. a store unreachable)."""

        def safe() -> float:
            try:
                return float(read())
            except Exception as exc:
                log.debug("metric %s unavailable: %s", name, exc)
                return math.nan

        Gauge(name, documentation, registry=self.registry).set_function(safe)

    def labelled_gauge(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str],
        read: Callable[[], Mapping[tuple[str, ...], float]],
    ) -> None:
        """A gauge family read at scrape time: label values -> value (empty when reading fails)."""
        self.registry.register(_ReadAtScrape(name, documentation, labels, read))

    def error(self, kind: str) -> None:
        self.errors.labels(kind).inc()

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def acked(self, records: Sequence[InboundRecord]) -> None:
        self.processed.inc(len(records))
        if records:
            oldest = min(map(_RECEIVED_MS, records))
            self.lag.set(max(self._clock() - oldest / 1000, 0.0))


class _ReadAtScrape(Collector):
    def __init__(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str],
        read: Callable[[], Mapping[tuple[str, ...], float]],
    ) -> None:
        self._name, self._doc, self._labels, self._read = name, documentation, list(labels), read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self._name, self._doc, labels=self._labels)
        try:
            values = self._read()
        except Exception as exc:
            log.debug("metric %s unavailable: %s", self._name, exc)
            values = {}
        for label_values, value in values.items():
            family.add_metric(list(label_values), value)
        yield family


class CountedLog(InboundLog, InboundDeadLetters, Protocol):
    def pending(self) -> int: ...


class MeteredInboundLog:
    """An InboundLog that counts what goes through it (accepted on append, processed on ack)."""

    def __init__(self, inner: CountedLog, metrics: Metrics) -> None:
        self.inner = inner
        self._metrics = metrics

    async def append(self, records: Sequence[InboundRecord]) -> None:
        try:
            await self.inner.append(records)
        except Exception:
            self._metrics.error("inbound_append")
            raise
        self._metrics.accepted.inc(len(records))

    async def fetch(self, max_records: int, wait_s: float) -> list[InboundRecord]:
        return await self.inner.fetch(max_records, wait_s)

    async def ack(self, records: Sequence[InboundRecord]) -> None:
        await self.inner.ack(records)
        self._metrics.acked(records)

    async def failed(self, failures: Sequence[ProcessingFailure]) -> None:
        await self.inner.failed(failures)

    async def dead_letters(
        self, workspace_id: int | None = None, limit: int = 1000
    ) -> list[InboundDeadLetter]:
        return await self.inner.dead_letters(workspace_id, limit)

    async def replay_dead_letters(self, workspace_id: int | None, ids: Sequence[int] | None = None) -> int:
        return await self.inner.replay_dead_letters(workspace_id, ids)

    async def dead_letter_summary(self, workspace_id: int | None = None) -> DeadLetterSummary:
        return await self.inner.dead_letter_summary(workspace_id)

    def dead_letter_count(self) -> int:
        return self.inner.dead_letter_count()

    def pending(self) -> int:
        return self.inner.pending()

    async def close(self) -> None:
        await self.inner.close()
