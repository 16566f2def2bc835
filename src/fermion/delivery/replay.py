"""Replay: send a connection's dead letters again, or any time window of stored history.

History goes through the same connection hooks as live data (filters and consent rules still apply;
historical batches are still never forwarded) and is stamped with `source_info.replay_job_id`.
Progress is the job's items by status (pending, inflight, done, dead).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from msgspec import structs

from fermion.delivery.forwarding import Forwarder
from fermion.delivery.outputs import DeliveryError, OutputsService
from fermion.delivery.routing import Routes
from fermion.delivery.stages import ConnectionHooks
from fermion.model.batch import SourceInfo
from fermion.model.codec import BatchError, decode_batch
from fermion.model.delivery import QueueItem, ReplayJob, ReplayProgress
from fermion.model.records import InboundRecord
from fermion.pipeline.stage import Drop
from fermion.ports import DeliveryQueue

log = logging.getLogger(__name__)

DEAD_LETTERS = "dead_letters"
WINDOW = "window"


class ReplayService:
    def __init__(
        self,
        outputs: OutputsService,
        routes: Routes,
        queue: DeliveryQueue,
        hooks: ConnectionHooks,
        clock: Callable[[], float] = time.time,
        page_size: int = 500,
        on_enqueued: Callable[[], None] | None = None,
    ) -> None:
        self._outputs = outputs
        self._routes = routes
        self._queue = queue
        self._forwarder = Forwarder(hooks)
        self._clock = clock
        self._page_size = page_size
        self.on_enqueued = on_enqueued

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def replay_dead_letters(self, workspace_id: int, connection_id: int) -> ReplayJob:
        """Dead letters back in the queue, at once (one UPDATE)."""
        self._outputs.changeable_connection(workspace_id, connection_id)
        now_ms = self._now_ms()
        job = self._queue.create_replay_job(workspace_id, connection_id, DEAD_LETTERS, None, None, now_ms)
        count = self._queue.requeue_dead(connection_id, job.id, now_ms)
        self._queue.update_replay_job(job.id, "enqueued", count)
        self._notify()
        return structs.replace(job, state="enqueued", enqueued=count)

    def create_window_job(
        self, workspace_id: int, connection_id: int, since_ms: int, until_ms: int
    ) -> ReplayJob:
        """A job for stored batches received in [since_ms, until_ms); run it with run_window_job."""
        conn = self._outputs.changeable_connection(workspace_id, connection_id)
        if conn.input_id is None:  # membership changes are not kept as history: nothing to resend
            raise DeliveryError.one(
                "since_ms",
                "window replay is for input connections only; an audience connection can replay its "
                "dead letters (dead_letters: true)",
            )
        if since_ms < 0:
            raise DeliveryError.one("since_ms", "must be >= 0")
        if until_ms <= since_ms:
            raise DeliveryError.one("until_ms", "must be after since_ms")
        return self._queue.create_replay_job(
            workspace_id, connection_id, WINDOW, since_ms, until_ms, self._now_ms()
        )

    def run_window_job(self, job: ReplayJob) -> int:
        """Queue the window's batches page by page (progress visible as it goes); return how many."""
        total = 0
        try:
            total = self._enqueue_window(job)
        except Exception as exc:
            log.exception("replay job %s failed", job.id)
            self._queue.update_replay_job(job.id, "failed", total, f"{type(exc).__name__}: {exc}")
            raise
        self._queue.update_replay_job(job.id, "enqueued", total)
        return total

    def _enqueue_window(self, job: ReplayJob) -> int:
        table = self._routes.current()
        resolved = table.by_id.get(job.connection_id)
        if resolved is None:
            raise LookupError(f"connection {job.connection_id} has no known integration")
        conn = resolved.connection
        if conn.input_id is None:
            raise LookupError(f"connection {job.connection_id} is an audience connection")
        since, until = job.since_ms or 0, job.until_ms or 0
        after_seq, total = 0, 0
        while True:
            rows = self._queue.history(
                job.workspace_id, conn.input_id, since, until, after_seq, self._page_size
            )
            if not rows:
                return total
            now_ms = self._now_ms()
            items: list[QueueItem] = []
            for row in rows:
                after_seq = row.seq
                wanted = conn.send_development if row.environment == "development" else conn.send_production
                if row.historical or not wanted:
                    continue
                try:
                    batch = decode_batch(row.payload)
                except BatchError:
                    log.error("replay job %s: stored batch %s no longer decodes", job.id, row.batch_id)
                    continue
                source = structs.replace(batch.source_info or SourceInfo(), replay_job_id=str(job.id))
                record = InboundRecord(
                    batch_id=row.batch_id,
                    workspace_id=row.workspace_id,
                    input_id=row.input_id,
                    environment=row.environment,
                    received_ms=row.received_ms,
                    source_ip="",
                    request_id="",
                    historical=row.historical,
                    payload=row.payload,
                    seq=row.seq,
                )
                batch = structs.replace(batch, source_info=source)
                result = self._forwarder.route(batch, record, resolved, table, now_ms, replay_job_id=job.id)
                if not isinstance(result, Drop):
                    items.append(result)
            if items:
                self._queue.requeue(items, now_ms)
                total += len(items)
                self._queue.update_replay_job(job.id, "enqueuing", total)
                self._notify()

    def progress(self, workspace_id: int, job_id: int) -> ReplayProgress:
        found = self._queue.replay_progress(job_id)
        if found is None or found.job.workspace_id != workspace_id:
            raise DeliveryError.one("job_id", f"no replay job {job_id}", 404)
        return found

    def _notify(self) -> None:
        if self.on_enqueued is not None:
            self.on_enqueued()
