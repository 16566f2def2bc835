"""One connection's lane: claim a group, map it, send its requests, record the outcome.

Up to `max_concurrency` groups and requests are in flight per lane. After a retryable failure the lane
pauses (exponential backoff, at least the partner's Retry-After) so a partner that is down is not
hammered; a success ends the pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from fermion.delivery.completions import Completions
from fermion.delivery.forwarding import add_summary
from fermion.delivery.outputs import Resolved
from fermion.delivery.recorder import BODY_EXCERPT, Recorder
from fermion.delivery.retry import (
    DELIVERED,
    MAPPING_ERROR,
    MISSING_BATCH,
    Outcome,
    RetryPolicy,
    Verdict,
    classify,
)
from fermion.delivery.throttle import Buckets
from fermion.integrations.spec import FirehoseRecord, HttpRequest, MapSettings, OutboundRequest, OutgoingBatch
from fermion.model.delivery import AlertRecord, ClaimedItem, CountKey, OutboundEntry
from fermion.ports import DeliveryQueue, SendResult, Transport

log = logging.getLogger(__name__)

_GROUPS_PER_CLAIM = 4  # at most this many groups' items are claimed at once...
_CLAIM_ITEMS = 2000  # ...and no more items than this (a claim holds SQLite's write lock meanwhile)
_SUMMARY = attrgetter("summary")


@dataclass(frozen=True)
class LaneDeps:
    queue: DeliveryQueue
    transport: Transport
    recorder: Recorder
    completions: Completions
    buckets: Buckets
    policy: RetryPolicy
    clock: Callable[[], float]
    rand: Callable[[], float]
    poll_s: float
    idle_poll_s: float
    lease_min_s: float
    max_batch_size: int | None
    shutdown_grace_s: float


def group_key(batch_ids: Sequence[int]) -> str:
    digest = hashlib.blake2b(",".join(map(str, sorted(batch_ids))).encode(), digest_size=10)
    return digest.hexdigest()


def describe(request: OutboundRequest) -> tuple[str, str, bytes]:
    """(kind, target, body) as the outbound Live Stream shows a request."""
    if isinstance(request, HttpRequest):
        return "http", f"{request.method} {request.url}", request.body
    if isinstance(request, FirehoseRecord):
        return "firehose", f"firehose://{request.region}/{request.stream}", request.data
    return "s3", f"s3://{request.bucket}/{request.key}", request.body


class Lane:
    def __init__(self, deps: LaneDeps, resolved: Resolved) -> None:
        self._deps = deps
        self.resolved = resolved
        concurrency = max(1, resolved.integration.options.max_concurrency)
        self._groups = asyncio.Semaphore(concurrency)
        self._requests = asyncio.Semaphore(concurrency)
        self._inflight: set[asyncio.Task[None]] = set()
        self.wake = asyncio.Event()
        self.paused_until = 0.0
        self.failures = 0  # consecutive groups with retryable failures
        self._closed = False
        self.task = asyncio.create_task(self._run())

    def close(self) -> None:
        self._closed = True
        self.wake.set()

    # -- the loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        idle = self._deps.poll_s
        while not self._closed:
            await self._groups.acquire()
            # Group slots free right now: a backlog is claimed for several groups at once (one claim
            # transaction and one thread hop for them all), each group delivered on its own.
            slots, most = 1, max(1, min(_GROUPS_PER_CLAIM, _CLAIM_ITEMS // max(1, self._group_size())))
            while slots < most and not self._groups.locked():
                await self._groups.acquire()  # free: returns at once
                slots += 1
            try:
                items, wait_s, size = await self._claim(slots)
            except Exception:
                log.exception("connection %s: claim failed", self.resolved.connection.id)
                items, wait_s, size = [], self._deps.idle_poll_s, 1
            groups = [items[start : start + size] for start in range(0, len(items), size)]
            for _ in range(slots - len(groups)):
                self._groups.release()
            for group in groups:
                task = asyncio.create_task(self._deliver(group))
                self._inflight.add(task)
                task.add_done_callback(self._group_done)
            if groups:
                idle = self._deps.poll_s
                continue
            await self._sleep(min(wait_s, idle) if wait_s > 0 else idle)
            idle = min(idle * 2, self._deps.idle_poll_s)
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=self._deps.shutdown_grace_s)

    def _group_done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._groups.release()

    async def _sleep(self, seconds: float) -> None:
        paused_for = self.paused_until - self._deps.clock()
        if paused_for > 0:  # new items do not cut a backoff short
            await asyncio.sleep(min(paused_for, 0.5))
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)

    def _group_size(self) -> int:
        opts = self.resolved.integration.options_for(self.resolved.connection_settings)
        return self._deps.max_batch_size or opts.max_batch_size

    async def _claim(self, groups: int) -> tuple[list[ClaimedItem], float, int]:
        """(items for up to `groups` groups, how long to wait when there are none, the group size)."""
        deps = self._deps
        opts = self.resolved.integration.options_for(self.resolved.connection_settings)
        limit = self._group_size()
        now = deps.clock()
        if now < self.paused_until:
            return [], self.paused_until - now, limit
        self.wake.clear()  # before looking, so a notify during the claim is not lost
        now_ms = int(now * 1000)
        connection_id = self.resolved.connection.id
        if opts.batch_window_ms > 0:
            count, oldest, _ = await asyncio.to_thread(deps.queue.due, connection_id, now_ms)
            if count == 0:
                return [], 0.0, limit
            if count < limit and oldest is not None and oldest + opts.batch_window_ms > now_ms:
                return [], (oldest + opts.batch_window_ms - now_ms) / 1000, limit
        # The lease covers every group of the claim: they share the lane's request concurrency.
        rounds = math.ceil(limit * groups / max(1, opts.max_concurrency)) + 2
        lease_ms = int(max(deps.lease_min_s, opts.timeout_s * rounds) * 1000)
        items = await asyncio.to_thread(deps.queue.claim, connection_id, limit * groups, now_ms, lease_ms)
        return items, 0.0, limit

    # -- one group -----------------------------------------------------------------------------

    async def _deliver(self, items: list[ClaimedItem]) -> None:
        by_env: dict[str, list[ClaimedItem]] = {}
        for item in items:
            by_env.setdefault(item.environment, []).append(item)
        try:
            await asyncio.gather(*(self._deliver_env(env, group) for env, group in by_env.items()))
        except Exception:  # the items stay claimed; they are retried when their lease expires
            log.exception("connection %s: delivering a group failed", self.resolved.connection.id)

    async def _deliver_env(self, environment: str, items: list[ClaimedItem]) -> None:
        deps, r = self._deps, self.resolved
        now_ms = int(deps.clock() * 1000)
        missing = [i for i in items if not i.payload]
        if missing:
            await self._bury(missing, Outcome(Verdict.FAIL, MISSING_BATCH, "the batch is no longer stored"))
            items = [i for i in items if i.payload]
            if not items:
                return
        batches = [
            OutgoingBatch(
                batch_id=i.batch_id,
                workspace_id=i.workspace_id,
                input_id=i.input_id,
                environment=i.environment,
                mpid=i.mpid,
                received_ms=i.received_ms,
                payload=i.payload,
            )
            for i in items
        ]
        settings: MapSettings[Any, Any] = MapSettings(
            output=r.output_settings,
            connection=r.connection_settings,
            workspace_id=r.connection.workspace_id,
            output_id=r.output.id,
            connection_id=r.connection.id,
            now_ms=now_ms,
            group_key=group_key([b.batch_id for b in batches]),
        )
        try:
            requests = r.integration.map(batches, settings)
        except Exception as exc:
            log.exception("connection %s: %s map failed", r.connection.id, r.integration.id)
            await self._bury(items, Outcome(Verdict.FAIL, MAPPING_ERROR, f"{type(exc).__name__}: {exc}"))
            return
        results = await asyncio.gather(*(self._send(req) for req in requests))
        outcomes: dict[int, Outcome] = {i.batch_id: DELIVERED for i in items}
        attempt = max(i.attempts for i in items)
        for request, result in zip(requests, results, strict=True):
            outcome = classify(result)
            for batch_id in request.batch_ids or outcomes.keys():
                if batch_id in outcomes:
                    outcomes[batch_id] = outcomes[batch_id].worse(outcome)
            self._report(request, result, outcome, environment, attempt)
        await self._settle(items, outcomes)

    async def _send(self, request: OutboundRequest) -> SendResult:
        r = self.resolved
        async with self._requests:
            await self._deps.buckets.get(r.output.id, r.integration.options.rate_limit_per_s).take()
            try:
                return await self._deps.transport.send(request, r.integration.options.timeout_s)
            except Exception as exc:  # a transport bug: treat like a connection failure (retried)
                log.exception("connection %s: transport failed", r.connection.id)
                return SendResult(failure="connection_error", message=f"{type(exc).__name__}: {exc}")

    def _report(
        self, request: OutboundRequest, result: SendResult, outcome: Outcome, environment: str, attempt: int
    ) -> None:
        conn = self.resolved.connection
        now_ms = int(self._deps.clock() * 1000)
        kind, target, body = describe(request)
        self._deps.recorder.outbound(
            OutboundEntry(
                workspace_id=conn.workspace_id,
                connection_id=conn.id,
                created_ms=now_ms,
                environment=environment,
                kind=kind,
                target=target,
                status=result.status,
                outcome=outcome.verdict.value,
                error_type=outcome.error_type,
                error=outcome.message,
                latency_ms=result.latency_ms,
                attempt=attempt,
                batch_ids=list(request.batch_ids),
                body=body[:BODY_EXCERPT],
            )
        )
        if outcome.verdict is not Verdict.DELIVERED:
            self._alert(environment, outcome, now_ms)

    def _alert(self, environment: str, outcome: Outcome, now_ms: int) -> None:
        conn = self.resolved.connection
        self._deps.recorder.alert(
            AlertRecord(
                workspace_id=conn.workspace_id,
                connection_id=conn.id,
                environment=environment,
                error_type=outcome.error_type,
                message=outcome.message,
                at_ms=now_ms,
            )
        )

    async def _bury(self, items: list[ClaimedItem], outcome: Outcome) -> None:
        now_ms = int(self._deps.clock() * 1000)
        for environment in {i.environment for i in items}:
            self._alert(environment, outcome, now_ms)
        await asyncio.to_thread(self._deps.queue.bury, items, outcome.error_type, outcome.message, now_ms)

    async def _settle(self, items: list[ClaimedItem], outcomes: dict[int, Outcome]) -> None:
        deps, r = self._deps, self.resolved
        now = deps.clock()
        now_ms = int(now * 1000)
        delivered = [i for i in items if outcomes[i.batch_id].verdict is Verdict.DELIVERED]
        if delivered:
            events: Counter[tuple[str, str]] = Counter()  # summed first: one CountKey per event name
            # Claimed items with the same summary share one list: each list is summed once, times
            # the number of items carrying it (counted at C speed).
            summaries = list(map(_SUMMARY, delivered))
            by_id = dict(zip(map(id, summaries), summaries, strict=True))
            for summary_id, carried in Counter(map(id, summaries)).items():
                for event_type, name, n in by_id[summary_id]:
                    events[event_type, name] += n * carried
            counts: Counter[CountKey] = Counter()
            add_summary(counts, [(t, name, n) for (t, name), n in events.items()], r, "out", now_ms)
            await deps.completions.complete(delivered, now_ms, counts)
            if len(delivered) == len(items):
                self.failures, self.paused_until = 0, 0.0
                return
        failed: dict[tuple[str, str], list[ClaimedItem]] = {}
        retry: dict[tuple[str, str], list[ClaimedItem]] = {}
        retry_after: float | None = None
        for item in items:
            outcome = outcomes[item.batch_id]
            key = (outcome.error_type, outcome.message)
            if outcome.verdict is Verdict.FAIL:
                failed.setdefault(key, []).append(item)
            elif outcome.verdict is Verdict.RETRY:
                if deps.policy.exhausted(item.attempts, r.integration.options.max_attempts):
                    failed.setdefault(
                        (key[0], f"gave up after {item.attempts} attempts: {key[1]}"), []
                    ).append(item)
                else:
                    retry.setdefault(key, []).append(item)
                    if outcome.retry_after_s is not None:
                        retry_after = max(retry_after or 0.0, outcome.retry_after_s)
        for (error_type, message), group in failed.items():
            await asyncio.to_thread(deps.queue.bury, group, error_type, message, now_ms)
        if retry:
            self.failures += 1
            attempts = max(i.attempts for group in retry.values() for i in group)
            delay = deps.policy.delay_s(max(self.failures, attempts), retry_after, deps.rand())
            self.paused_until = max(self.paused_until, now + delay)
            next_at_ms = now_ms + int(delay * 1000)
            for (error_type, message), group in retry.items():
                await asyncio.to_thread(deps.queue.retry, group, next_at_ms, error_type, message)
