"""Processing: decode inbound records, then run them through an ordered list of phases.

A phase is the imperative shell around one part of the pure core: it loads what its stages need for
the whole group of batches in bulk, runs the pure code, saves what changed. Phases must be
idempotent: after a crash the same records are processed again (the inbound log redelivers
everything not acknowledged), so writes dedupe by batch/event id or merge by timestamp.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fermion.model.batch import Batch
from fermion.model.codec import BatchError, decode_batch, decode_plain_batch
from fermion.model.records import InboundRecord
from fermion.pipeline.stage import Drop, Stage, StageContext, run_chain
from fermion.pipeline.store_rows import to_processed
from fermion.ports import EventStore
from fermion.profiles.state import Profile

log = logging.getLogger(__name__)


@dataclass
class WorkItem:
    """One batch on its way through the phases; `notes` carries what a phase tells later ones."""

    record: InboundRecord
    batch: Batch
    notes: dict[str, Any] = field(default_factory=dict)
    # The user as this group left them, for forwarding to enrich outgoing batches with: their IDSync
    # identities (type -> values, oldest first; set by the identity phase) and profile (profile phase).
    identities: Mapping[str, Sequence[str]] | None = None
    profile: Profile | None = None


@dataclass
class ProcessingReport:
    stored: int = 0
    duplicates: int = 0
    dropped: int = 0
    drop_reasons: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str) -> None:
        self.dropped += 1
        self.drop_reasons[reason] = self.drop_reasons.get(reason, 0) + 1


class Phase(Protocol):
    name: str

    def run(self, items: list[WorkItem], now_ms: int, report: ProcessingReport) -> list[WorkItem]:
        """Process the group; return the items that go on (record each one left out on the report)."""


class PureStages:
    """Runs pure stages `(batch, context) -> batch | Drop` on each item (normalize, rules, ...)."""

    def __init__(self, stages: Sequence[Stage], name: str = "stages") -> None:
        self.name = name
        self._stages = stages

    def run(self, items: list[WorkItem], now_ms: int, report: ProcessingReport) -> list[WorkItem]:
        kept: list[WorkItem] = []
        for item in items:
            result = run_chain(self._stages, item.batch, StageContext(record=item.record, now_ms=now_ms))
            if isinstance(result, Drop):
                report.drop(result.reason)
                continue
            item.batch = result
            kept.append(item)
        return kept


class StoreEvents:
    """Stores processed batches and their events (dedupe by batch id, source_request_id, event id)."""

    name = "store"

    def __init__(self, events: EventStore) -> None:
        self._events = events

    def run(self, items: list[WorkItem], now_ms: int, report: ProcessingReport) -> list[WorkItem]:
        if items:
            new_ids = set(self._events.save([to_processed(i.batch, i.record) for i in items]))
            report.stored += len(new_ids)
            report.duplicates += len(items) - len(new_ids)
            for item in items:
                item.notes["new"] = item.record.batch_id in new_ids
        return items


class Processor:
    def __init__(self, phases: Sequence[Phase], clock: Callable[[], float] = time.time) -> None:
        self._phases = phases
        self._clock = clock

    def process(self, records: Sequence[InboundRecord]) -> ProcessingReport:
        """Process records; safe to call again with the same records."""
        now_ms = int(self._clock() * 1000)
        report = ProcessingReport()
        items: list[WorkItem] = []
        for record in records:
            try:
                decode = decode_plain_batch if record.plain else decode_batch  # plain: as ingest found it
                items.append(WorkItem(record=record, batch=decode(record.payload)))
            except BatchError as exc:
                # Ingest validated this payload; failing now means a model change broke it.
                log.error("inbound batch %s no longer decodes: %s", record.batch_id, exc)
                report.drop("undecodable")
        for phase in self._phases:
            items = phase.run(items, now_ms, report)
        return report
