"""Live Stream (inbound): the latest processed batches of a workspace, and a follow-along feed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from msgspec import structs

from fermion.ports import BatchFilter, BatchRow, EventStore

POLL_S = 0.5


class LiveStream:
    def __init__(self, events: EventStore) -> None:
        self._events = events

    def latest(self, flt: BatchFilter) -> list[BatchRow]:
        """The newest batches matching the filter, newest first."""
        return self._events.batches(structs.replace(flt, newest_first=True))

    async def follow(self, flt: BatchFilter, stop: asyncio.Event) -> AsyncIterator[BatchRow]:
        """Yield the recent matching batches oldest first, then each new one as it is stored."""
        recent = await asyncio.to_thread(self.latest, flt)
        after = flt.after_seq
        for row in reversed(recent):
            after = max(after, row.seq)
            yield row
        if not recent:
            latest_any = await asyncio.to_thread(
                self._events.batches, BatchFilter(workspace_id=flt.workspace_id, limit=1, newest_first=True)
            )
            after = max(after, latest_any[0].seq if latest_any else 0)
        while not stop.is_set():
            rows = await asyncio.to_thread(
                self._events.batches, structs.replace(flt, after_seq=after, newest_first=False)
            )
            for row in rows:
                after = row.seq
                yield row
            if not rows:
                await asyncio.sleep(POLL_S)
