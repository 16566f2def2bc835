"""Audience background work (a worker job under a lease): time-based re-evaluation of users whose
windows expire, and calculations over stored history (activating real-time audiences, standard ones).

Calculations start within `poll_s` of an activation: the job looks for calculating audiences that
often (one small indexed query, in whichever process activated them: API, CLI or another worker),
while the re-check runs every `interval_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from fermion.audiences.evaluate import (
    CompiledAudience,
    apply_events,
    build_workspace,
    compile_audience,
    prune_state,
)
from fermion.audiences.events import facts_of
from fermion.audiences.records import Audience, Kind, Status, UserState
from fermion.model.codec import BatchError, decode_batch
from fermion.ports import BatchFilter, EventStore
from fermion.ports.audiences import MembershipSink, StaleState
from fermion.ports.coordination import Lease
from fermion.services.audience_engine import AudienceEngine

log = logging.getLogger(__name__)

SCAN_CHUNK = 500  # stored batches per transaction of a calculation
EVAL_CHUNK = 500  # users per evaluation round
_RETRIES = 5


def _now_ms() -> int:
    return int(time.time() * 1000)


class AudienceJobs:
    def __init__(
        self,
        engine: AudienceEngine,
        events: EventStore,
        sink: MembershipSink,
        lease: Lease,
        interval_s: float = 30.0,
        clock: Callable[[], int] = _now_ms,
        poll_s: float = 0.5,
    ) -> None:
        self._engine = engine
        self._store = engine.store
        self._events = events
        self._sink = sink
        self._lease = lease
        self._interval_s = interval_s
        self._poll_s = min(poll_s, interval_s)
        self._clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        """Until stopped, while this worker holds the lease: every poll, run the calculations of
        audiences activated since; every interval, the re-check too."""
        rechecked = float("-inf")
        try:
            while not stop.is_set():
                try:
                    if await asyncio.to_thread(self._lease.hold):
                        await asyncio.to_thread(self.calculate_pending)
                        if time.monotonic() - rechecked >= self._interval_s:
                            rechecked = time.monotonic()
                            await asyncio.to_thread(self.recheck_due)
                except Exception:  # a database hiccup must not end the job; the next poll retries
                    log.exception("audience job failed")
                with_timeout = asyncio.wait_for(stop.wait(), timeout=self._poll_s)
                with contextlib.suppress(TimeoutError):
                    await with_timeout
        finally:
            await asyncio.to_thread(self._lease.release)

    def tick(self) -> None:
        self.calculate_pending()
        self.recheck_due()

    def calculate_pending(self) -> None:
        for audience in self._store.list_audiences(status=Status.CALCULATING):
            self.calculate(audience)

    def recheck_due(self) -> None:
        while self.recheck(self._clock()) == EVAL_CHUNK:
            pass

    def recheck(self, now_ms: int) -> int:
        """Re-evaluate users whose re-check time has come; returns how many were due."""
        due = self._store.due(now_ms, EVAL_CHUNK)
        by_workspace: dict[int, dict[int, int]] = {}
        for workspace_id, mpid, check_ms in due:
            by_workspace.setdefault(workspace_id, {})[mpid] = check_ms
        for workspace_id, versions in by_workspace.items():
            ws = self._engine.workspace(workspace_id)
            users = self._store.load_users(workspace_id, list(versions))
            for state in users.values():
                prune_state(ws, state.events, now_ms)
            decided = self._engine.decide(workspace_id, ws.evaluated, users, versions, now_ms, versions)
            if decided.changes:
                self._sink.publish(decided.changes, now_ms)
            self._store.save(workspace_id, users, decided.memberships, decided.history, now_ms=now_ms)
        return len(due)

    def calculate(self, audience: Audience) -> None:
        """Count the stored history up to the audience's boundary into user state (resumable, chunk by
        chunk with progress), then evaluate every user with state and mark the audience active."""
        compiled = compile_audience(audience)
        if compiled is None:
            log.error("audience %s: criteria no longer compile; left calculating", audience.id)
            return
        workspace_id = audience.workspace_id
        single = build_workspace([], [audience])
        keys = set(single.windows)
        progress = audience.progress_seq
        while progress < audience.boundary_seq:
            # Historical batches (/v2/bulkevents/historical) never change audiences (spec 1.1).
            rows = self._events.batches(
                BatchFilter(workspace_id=workspace_id, after_seq=progress, historical=False, limit=SCAN_CHUNK)
            )
            rows = [r for r in rows if r.seq <= audience.boundary_seq]
            if not rows:
                break
            now_ms = self._clock()
            users = self._store.load_users(workspace_id, sorted({r.mpid for r in rows}))
            for row in rows:
                state = users.setdefault(row.mpid, UserState())
                if not keys:
                    continue
                try:
                    batch = decode_batch(row.payload)
                except BatchError:
                    continue
                apply_events(single, state.events, facts_of(batch, row.received_ms), keys)
            for state in users.values():
                prune_state(single, state.events, now_ms)
            progress = rows[-1].seq
            self._store.save(workspace_id, users, [], [], now_ms=now_ms, progress=(audience.id, progress))
        self._finish(audience)

    def _finish(self, audience: Audience) -> None:
        now_ms = self._clock()
        current = self._store.get(audience.id)
        if (
            current is None
            or current.status != Status.CALCULATING
            or current.activated_ms != audience.activated_ms
        ):
            return  # deleted or re-activated meanwhile
        current.status = Status.ACTIVE
        current.calculated_ms = now_ms
        current.progress_seq = current.boundary_seq
        self._store.update(current)
        self._engine.invalidate(audience.workspace_id)
        compiled = compile_audience(current)
        assert compiled is not None
        after: int | None = None
        while True:
            mpids = self._store.mpids_with_state(current.workspace_id, after, EVAL_CHUNK)
            if not mpids:
                break
            after = mpids[-1]
            for attempt in range(_RETRIES):
                try:
                    self._evaluate_chunk(current, compiled, mpids, now_ms)
                    break
                except StaleState:  # processing saved one of these users meanwhile: read them again
                    if attempt == _RETRIES - 1:
                        raise

    def _evaluate_chunk(
        self, audience: Audience, compiled: CompiledAudience, mpids: list[int], now_ms: int
    ) -> None:
        users = self._store.load_users(audience.workspace_id, mpids)
        versions = dict.fromkeys(mpids, audience.boundary_seq)
        decided = self._engine.decide(
            audience.workspace_id,
            [compiled],
            users,
            mpids,
            now_ms,
            versions,
            publish=audience.kind == Kind.REAL_TIME,  # standard audiences are sent on request
            all_audiences=False,
        )
        if decided.changes:
            self._sink.publish(decided.changes, now_ms)
        self._store.save(audience.workspace_id, users, decided.memberships, decided.history, now_ms=now_ms)
