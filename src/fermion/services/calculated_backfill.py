"""Backfill of newly activated CAs from stored history, as a worker job.

A worker leases the calculating CAs of one workspace, scans the stored batches up to each CA's
boundary seq once for all of them, and saves the states in large batched statements with its
progress; a crashed worker's lease expires and another resumes from the saved progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable

from fermion.calculated.catalog import CompiledCache
from fermion.calculated.compiled import CompiledCa
from fermion.calculated.extract import BatchView, decode_stored
from fermion.calculated.records import CaRecord, StateWrite
from fermion.calculated.state import CaState, Entry, encode_doc
from fermion.model.codec import BatchError
from fermion.ports.calculated import CalculatedStore

log = logging.getLogger(__name__)

LEASE_MS = 60_000
FLUSH_USERS = 200_000  # users whose states are held before they are written out
FLUSH_SECONDS = 300.0  # at most this much work is redone after a crash
RENEW_SECONDS = 15.0  # the lease is renewed this often between writes
# Redelivery comes within minutes (ack wait x max deliver); marks are kept far longer than that.
APPLIED_KEPT_MS = 2 * 86_400_000
PRUNE_EVERY_S = 600.0


class Backfill:
    def __init__(
        self,
        store: CalculatedStore,
        owner: str | None = None,
        page: int = 2000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._owner = owner or f"backfill-{uuid.uuid4().hex[:12]}"
        self._page = page
        self._clock = clock
        self._cache = CompiledCache()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def run_once(self, now_ms: int | None = None) -> bool:
        """Backfills one workspace's calculating CAs to completion (or until the lease is lost);
        False when there was nothing to do."""
        started = self._now_ms() if now_ms is None else now_ms
        claimed = self._store.claim_backfill(self._owner, started, LEASE_MS)
        if not claimed:
            return False
        workspace_id = claimed[0].workspace_id
        cas = [(r, c) for r, c in self._cache.all(claimed)]
        if len(cas) < len(claimed):  # an active definition that no longer compiles: nothing to compute
            broken = [r for r in claimed if r.id not in {c.id for c, _ in cas}]
            self._store.save_backfill(
                self._owner,
                workspace_id,
                [],
                {r.id: (r.boundary_seq, r.total_batches) for r in broken},
                started,
                LEASE_MS,
                True,
            )
        if cas:
            self._scan(workspace_id, cas, started)
        return True

    def _scan(self, workspace_id: int, cas: list[tuple[CaRecord, CompiledCa]], now_ms: int) -> None:
        progress = {r.id: (r.progress_seq, r.done_batches) for r, _ in cas}
        after = min(r.progress_seq for r, _ in cas)
        end = max(r.boundary_seq for r, _ in cas)
        working: dict[int, dict[int, Entry]] = {}
        flushed_at = renewed_at = time.monotonic()
        while True:
            rows = self._store.scan(workspace_id, after, end, self._page) if after < end else []
            for seq, mpid, received_ms, payload in rows:
                try:
                    view = BatchView(decode_stored(payload), received_ms)
                except BatchError as exc:
                    log.error("stored batch seq %s no longer decodes: %s", seq, exc)
                    continue
                user = working.get(mpid)
                for record, compiled in cas:
                    seq_done, done = progress[record.id]
                    if seq <= seq_done or seq > record.boundary_seq:
                        continue
                    observations = compiled.observe(view)
                    if observations:
                        if user is None:
                            user = working[mpid] = {}
                        entry = user.get(record.id)
                        if entry is None:
                            entry = user[record.id] = Entry(record.generation, CaState())
                        compiled.fold_observations(entry.s, observations, now_ms)
                    progress[record.id] = (seq, done + 1)
            if rows:
                after = rows[-1][0]
            finished = not rows or after >= end
            if finished:
                progress = {r.id: (r.boundary_seq, progress[r.id][1]) for r, _ in cas}
            clock = time.monotonic()
            due = len(working) >= FLUSH_USERS or clock - flushed_at > FLUSH_SECONDS
            if not (finished or due) and clock - renewed_at > RENEW_SECONDS:
                if not self._store.renew_backfill(self._owner, list(progress), self._now_ms(), LEASE_MS):
                    log.warning(
                        "backfill lease of workspace %s lost; another worker resumes it", workspace_id
                    )
                    return
                renewed_at = clock
            if finished or due:
                if not self._flush(workspace_id, working, progress, finished):
                    log.warning(
                        "backfill lease of workspace %s lost; another worker resumes it", workspace_id
                    )
                    return
                working = {}
                flushed_at = renewed_at = time.monotonic()
            if finished:
                return

    def _flush(
        self,
        workspace_id: int,
        working: dict[int, dict[int, Entry]],
        progress: dict[int, tuple[int, int]],
        finished: bool,
    ) -> bool:
        writes = [StateWrite(mpid=mpid, doc=encode_doc(doc)) for mpid, doc in working.items()]
        return self._store.save_backfill(
            self._owner, workspace_id, writes, progress, self._now_ms(), LEASE_MS, finished
        )

    async def run(self, stop: asyncio.Event, idle_s: float = 0.5) -> None:
        """The worker job: backfill whatever is calculating, until stopped; now and then, forget the
        live phase's applied-batch marks that are long past any redelivery. Idle, it looks for new
        activations every `idle_s` (a claim that finds nothing writes nothing), so a calculation
        starts within a second of its activation, whichever process activated it."""
        pruned_at = 0.0
        while not stop.is_set():
            try:
                busy = await asyncio.to_thread(self.run_once)
                if time.monotonic() - pruned_at > PRUNE_EVERY_S:
                    await asyncio.to_thread(self._store.prune_applied, self._now_ms() - APPLIED_KEPT_MS)
                    pruned_at = time.monotonic()
            except Exception:
                log.exception("calculated attribute backfill failed; retrying")
                busy = False
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=idle_s)
