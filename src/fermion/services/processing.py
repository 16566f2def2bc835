"""Processing: decode inbound records, run the stage chain, store the results in one transaction."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fermion.model.codec import BatchError, decode_batch
from fermion.model.records import InboundRecord, ProcessedBatch
from fermion.pipeline.identity_stub import assign_mpid
from fermion.pipeline.normalize import normalize
from fermion.pipeline.stage import Drop, Stage, StageContext, run_chain
from fermion.pipeline.store_rows import to_processed
from fermion.ports import EventStore

log = logging.getLogger(__name__)

DEFAULT_STAGES: tuple[Stage, ...] = (normalize, assign_mpid)


@dataclass
class ProcessingReport:
    stored: int = 0
    duplicates: int = 0
    dropped: int = 0


class Processor:
    def __init__(
        self,
        events: EventStore,
        stages: Sequence[Stage] = DEFAULT_STAGES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._events = events
        self._stages = stages
        self._clock = clock

    def process(self, records: Sequence[InboundRecord]) -> ProcessingReport:
        """Process and store records; safe to call again with the same records (dedupe by id)."""
        now_ms = int(self._clock() * 1000)
        report = ProcessingReport()
        processed: list[ProcessedBatch] = []
        for record in records:
            try:
                batch = decode_batch(record.payload)
            except BatchError as exc:
                # Ingest validated this payload; failing now means a model change broke it. Keep the
                # record visible in the log rather than dropping it silently.
                log.error("inbound batch %s no longer decodes: %s", record.batch_id, exc)
                report.dropped += 1
                continue
            result = run_chain(self._stages, batch, StageContext(record=record, now_ms=now_ms))
            if isinstance(result, Drop):
                report.dropped += 1
                continue
            processed.append(to_processed(result, record))
        if processed:
            new_ids = self._events.save(processed)
            report.stored = len(new_ids)
            report.duplicates = len(processed) - len(new_ids)
        return report
