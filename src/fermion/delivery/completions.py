"""Group commit for delivered items: lanes' completions that arrive while one is being written are
written together, in one transaction, as soon as it is done.

Each caller still returns only once its own items are written (or with the write's error), so a lane
sees the same outcome as calling `DeliveryQueue.complete` itself; under load (many groups in flight
across lanes) the queue pays one transaction and one commit for many groups instead of one each.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence

from fermion.model.delivery import ClaimedItem, CountKey
from fermion.ports import DeliveryQueue

_Waiting = tuple[Sequence[ClaimedItem], int, Mapping[CountKey, int], "asyncio.Future[None]"]


class Completions:
    def __init__(self, queue: DeliveryQueue) -> None:
        self._queue = queue
        self._waiting: list[_Waiting] = []
        self._writing = False
        self._task: asyncio.Task[None] | None = None  # kept: the loop holds tasks only weakly

    async def complete(
        self, items: Sequence[ClaimedItem], now_ms: int, counts: Mapping[CountKey, int]
    ) -> None:
        """Mark the items delivered and add their report counts; returns once they are written."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((items, now_ms, counts, done))
        if not self._writing:
            self._writing = True
            self._task = asyncio.create_task(self._write_all())
        await done

    async def _write_all(self) -> None:
        taken: list[_Waiting] = []
        try:
            while self._waiting:
                taken, self._waiting = self._waiting, []
                items: list[ClaimedItem] = []
                counts: Counter[CountKey] = Counter()
                for group, _, group_counts, _ in taken:
                    items.extend(group)
                    counts.update(group_counts)
                # The latest settle time for all: finished_ms only dates the purge of done items.
                now_ms = max(now for _, now, _, _ in taken)
                try:
                    await asyncio.to_thread(self._queue.complete, items, now_ms, counts)
                except Exception as exc:  # every caller of this write sees its failure
                    for *_, done in taken:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                for *_, done in taken:
                    if not done.done():
                        done.set_result(None)
        except BaseException:  # cancelled (the loop is closing): nobody waits for a write forever
            for *_, done in (*taken, *self._waiting):
                done.cancel()
            self._waiting = []
            raise
        finally:
            self._writing = False
