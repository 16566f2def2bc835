"""The sender: one lane per active connection claims queued batches, groups them (batching window, max
batch size), maps them with the integration's pure `map`, sends with the connection's concurrency and
the output's rate limit, and records the outcome (delivered, retry with backoff, dead letter).

Lanes are independent: a failing or slow partner pauses and occupies only its own lane, so other
connections keep their latency. Runs in the worker process (`serve --role all`) or on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from fermion.delivery.completions import Completions
from fermion.delivery.lane import Lane, LaneDeps
from fermion.delivery.recorder import Recorder
from fermion.delivery.retry import RetryPolicy
from fermion.delivery.routing import Routes, RouteTable
from fermion.delivery.throttle import Buckets
from fermion.model.delivery import ConnectionStatus
from fermion.ports import DeliveryLog, DeliveryQueue, Transport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SenderOptions:
    poll_s: float = 0.05  # a busy lane looks for new items at least this often...
    idle_poll_s: float = 1.0  # ...backing off to this when its queue stays empty
    refresh_s: float = 1.0  # how often the set of connections is re-read (and on every notify)
    # A claim's lease, renewed every renew_s while its groups are in flight: a dead sender's claims
    # are taken over when it runs out.
    lease_s: float = 15.0
    renew_s: float = 1.0
    probe_s: float = 5.0  # a lane backing off after failures sends one probe this often
    max_batch_size: int | None = None  # overrides every integration's max batch size
    done_retention_s: float = 3600.0  # delivered items are remembered this long (dedupe window)
    live_per_s: int = 20  # outbound Live Stream sample per connection
    keep_outbound: int = 1000  # outbound Live Stream entries kept per connection
    maintenance_every_s: float = 30.0
    shutdown_grace_s: float = 10.0


class Sender:
    def __init__(
        self,
        routes: Routes,
        queue: DeliveryQueue,
        log_store: DeliveryLog,
        transport: Transport,
        policy: RetryPolicy | None = None,
        options: SenderOptions | None = None,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._routes = routes
        self._queue = queue
        self._log = log_store
        self._options = options or SenderOptions()
        self._recorder = Recorder(log_store, self._options.live_per_s)
        self._deps = LaneDeps(
            queue=queue,
            transport=transport,
            recorder=self._recorder,
            completions=Completions(queue),
            buckets=Buckets(),
            policy=policy or RetryPolicy(),
            clock=clock,
            rand=rand,
            poll_s=self._options.poll_s,
            idle_poll_s=self._options.idle_poll_s,
            lease_s=self._options.lease_s,
            probe_s=self._options.probe_s,
            max_batch_size=self._options.max_batch_size,
            shutdown_grace_s=self._options.shutdown_grace_s,
        )
        self._clock = clock
        self._transport = transport
        self._lanes: dict[int, Lane] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    def notify(self) -> None:
        """New items were queued (callable from any thread): lanes look at once instead of polling."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._wake_all)

    def _wake_all(self) -> None:
        for lane in self._lanes.values():
            lane.wake.set()
        if self._wake is not None:
            self._wake.set()

    @property
    def lanes(self) -> dict[int, Lane]:
        return self._lanes

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        lanes_done = asyncio.Event()  # leases are renewed until the lanes' last groups are settled
        helpers = [
            asyncio.create_task(self._recorder.run(stop)),
            asyncio.create_task(self._maintain(stop)),
            asyncio.create_task(self._renew(lanes_done)),
        ]
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    table = await asyncio.to_thread(self._routes.current)
                    self._sync_lanes(table)
                    if any(r.connection.status is ConnectionStatus.DELETING for r in table.by_id.values()):
                        # Deleted with their queue kept: they go once it is sent (checked each round).
                        await asyncio.to_thread(self._routes.finish_deletions)
                except Exception:
                    log.exception("could not read the connections; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(stop, self._wake), self._options.refresh_s)
        finally:
            for lane in self._lanes.values():
                lane.close()
            await asyncio.gather(*(lane.task for lane in self._lanes.values()), return_exceptions=True)
            self._lanes.clear()
            lanes_done.set()
            await asyncio.gather(*helpers, return_exceptions=True)
            await asyncio.to_thread(self._recorder.flush)
            await self._transport.close()
            self._loop = None

    def _sync_lanes(self, table: RouteTable) -> None:
        for connection_id, resolved in table.by_id.items():
            lane = self._lanes.get(connection_id)
            if resolved.connection.status is ConnectionStatus.INACTIVE:
                if lane is not None:
                    lane.close()
                    del self._lanes[connection_id]
                continue
            if lane is None:
                self._lanes[connection_id] = Lane(self._deps, resolved)
            else:
                lane.resolved = resolved
        for connection_id in [c for c in self._lanes if c not in table.by_id]:
            self._lanes.pop(connection_id).close()

    async def _renew(self, done: asyncio.Event) -> None:
        """Extend the leases of live claims that would end within half a lease."""
        lease_ms = int(self._options.lease_s * 1000)
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), self._options.renew_s)
            now_ms = int(self._clock() * 1000)
            due = [(lane, lane.expiring(now_ms, lease_ms // 2)) for lane in self._lanes.values()]
            claims = [(lane.resolved.connection.id, token) for lane, tokens in due for token in tokens]
            if not claims:
                continue
            try:
                await asyncio.to_thread(self._queue.extend, claims, now_ms + lease_ms)
            except Exception:  # tried again next round, while the leases still run
                log.exception("could not renew %d claims", len(claims))
                continue
            for lane, tokens in due:
                lane.renewed(tokens, now_ms + lease_ms)

    async def _maintain(self, stop: asyncio.Event) -> None:
        opts = self._options
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), opts.maintenance_every_s)
            if stop.is_set():
                return
            try:
                cutoff = int((self._clock() - opts.done_retention_s) * 1000)
                await asyncio.to_thread(self._queue.purge_done, cutoff)
                await asyncio.to_thread(self._log.trim_outbound, opts.keep_outbound)
            except Exception:
                log.exception("delivery maintenance failed; will try again")


async def _first(*events: asyncio.Event) -> None:
    """Return when any of the events is set."""
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
