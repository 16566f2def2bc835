"""The processing worker loop: fetch from the inbound log, process, acknowledge, archive."""

from __future__ import annotations

import asyncio
import logging
import time

from fermion.ports import InboundLog
from fermion.services.archive import Archiver
from fermion.services.processing import Processor

log = logging.getLogger(__name__)


class Worker:
    def __init__(
        self,
        inbound: InboundLog,
        processor: Processor,
        archiver: Archiver | None = None,
        fetch_size: int = 500,
        archive_every_s: float = 1.0,
    ) -> None:
        self._inbound = inbound
        self._processor = processor
        self._archiver = archiver
        self._fetch_size = fetch_size
        self._archive_every_s = archive_every_s
        self._archived_at = 0.0
        self.processed = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, finishing the round in hand (nothing is acked unprocessed)."""
        while not stop.is_set():
            await self.run_once(wait_s=0.25)

    async def run_once(self, wait_s: float = 0.0) -> int:
        records = await self._inbound.fetch(self._fetch_size, wait_s)
        if records:
            await asyncio.to_thread(self._processor.process, records)
            await self._inbound.ack(records)
            self.processed += len(records)
        await self.archive(force=False)
        return len(records)

    async def archive(self, force: bool = True) -> None:
        # Archiving fsyncs files, so it runs on a timer rather than after every round.
        now = time.monotonic()
        if self._archiver is not None and (force or now - self._archived_at >= self._archive_every_s):
            self._archived_at = now
            await asyncio.to_thread(self._archiver.run_once)
