"""One connection's lane: claim a group, map it, send its requests, record the outcome.

Up to `max_concurrency` groups and requests are in flight per lane. After a retryable failure the lane
pauses (exponential backoff, at least the partner's Retry-After) so a partner that is down is not
hammered. While paused it sends one probe (a single item) every few seconds; a success ends the pause
and makes the items waiting for a later retry due at once, so a partner back from an outage gets its
backlog within seconds, not at the end of a long backoff.

Claims are leased for a short while and the sender renews the leases of the claims its lanes still
work on: the claims of a sender that died run out, and another sender takes them over, within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter

from fermion.delivery.completions import Completions
from fermion.delivery.forwarding import add_summary
from fermion.delivery.outputs import Resolved
from fermion.delivery.recorder import BODY_EXCERPT, Recorder, describe
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
from fermion.integrations.spec import OutboundRequest, OutgoingBatch
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
    lease_s: float  # a claim's lease (renewed while its groups are in flight)
    probe_s: float  # a paused lane sends one probe this often
    max_batch_size: int | None
    shutdown_grace_s: float


def group_key(batch_ids: Sequence[int]) -> str:
    digest = hashlib.blake2b(",".join(map(str, sorted(batch_ids))).encode(), digest_size=10)
    return digest.hexdigest()


@dataclass(frozen=True)
class _Claim:
    items: list[ClaimedItem]
    wait_s: float  # how long to wait when there are none
    size: int  # items per group
    until_ms: int  # the lease's end
    probe: bool = False


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
        self.probe_at = 0.0  # while paused: when the next probe goes
        self._probing = False
        self._leases: dict[int, list[int]] = {}  # claim token -> [lease end ms, groups in flight]
        self._closed = False
        self.task = asyncio.create_task(self._run())

    def close(self) -> None:
        self._closed = True
        self.wake.set()

    # -- the loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        idle = self._deps.poll_s
        # A new lane (a sender started again, a connection turned on) knows no pause: items waiting
        # for a later retry are tried now, so probing starts at once if the partner is still down.
        try:
            now_ms = int(self._deps.clock() * 1000)
            await asyncio.to_thread(self._deps.queue.resume, self.resolved.connection.id, now_ms)
        except Exception:
            log.exception("connection %s: could not resume its queue", self.resolved.connection.id)
        while not self._closed:
            await self._groups.acquire()
            # Group slots free right now: a backlog is claimed for several groups at once (one claim
            # transaction and one thread hop for them all), each group delivered on its own.
            slots, most = 1, max(1, min(_GROUPS_PER_CLAIM, _CLAIM_ITEMS // max(1, self._group_size())))
            while slots < most and not self._groups.locked():
                await self._groups.acquire()  # free: returns at once
                slots += 1
            try:
                claim = await self._claim(slots)
            except Exception:
                log.exception("connection %s: claim failed", self.resolved.connection.id)
                claim = _Claim([], self._deps.idle_poll_s, 1, 0)
            items, size = claim.items, claim.size
            groups = [items[start : start + size] for start in range(0, len(items), size)]
            for _ in range(slots - len(groups)):
                self._groups.release()
            if groups:  # the sender renews the lease until every group of the claim is settled
                self._leases[items[0].token] = [claim.until_ms, len(groups)]
            for group in groups:
                task = asyncio.create_task(self._deliver(group, claim.probe))
                self._inflight.add(task)
                task.add_done_callback(self._group_done)
            if groups:
                idle = self._deps.poll_s
                continue
            wait_s = claim.wait_s
            await self._sleep(min(wait_s, idle) if wait_s > 0 else idle)
            idle = min(idle * 2, self._deps.idle_poll_s)
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=self._deps.shutdown_grace_s)

    def _group_done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._groups.release()

    def expiring(self, now_ms: int, within_ms: int) -> list[int]:
        """Tokens of this lane's live claims whose lease ends within `within_ms`."""
        return [token for token, (until, _) in self._leases.items() if until - now_ms < within_ms]

    def renewed(self, tokens: list[int], until_ms: int) -> None:
        for token in tokens:
            lease = self._leases.get(token)
            if lease is not None:
                lease[0] = until_ms

    def _settled(self, token: int) -> None:
        lease = self._leases.get(token)
        if lease is not None:
            lease[1] -= 1
            if lease[1] <= 0:
                del self._leases[token]

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

    async def _claim(self, groups: int) -> _Claim:
        """Items for up to `groups` groups (or a probe while paused)."""
        deps = self._deps
        opts = self.resolved.integration.options_for(self.resolved.connection_settings)
        limit = self._group_size()
        now = deps.clock()
        now_ms = int(now * 1000)
        lease_ms = int(deps.lease_s * 1000)
        if now < self.paused_until:
            return await self._probe(now, lease_ms, limit)
        self.wake.clear()  # before looking, so a notify during the claim is not lost
        connection_id = self.resolved.connection.id
        if opts.batch_window_ms > 0:
            count, oldest, _ = await asyncio.to_thread(deps.queue.due, connection_id, now_ms)
            if count == 0:
                return _Claim([], 0.0, limit, 0)
            if count < limit and oldest is not None and oldest + opts.batch_window_ms > now_ms:
                return _Claim([], (oldest + opts.batch_window_ms - now_ms) / 1000, limit, 0)
        items = await asyncio.to_thread(deps.queue.claim, connection_id, limit * groups, now_ms, lease_ms)
        return _Claim(items, 0.0, limit, now_ms + lease_ms)

    async def _probe(self, now: float, lease_ms: int, limit: int) -> _Claim:
        """While paused: one item, sent on its own, every probe_s (never sooner than a Retry-After)."""
        if self._probing or now < self.probe_at:
            until = self.paused_until if self._probing else min(self.paused_until, self.probe_at)
            return _Claim([], until - now, limit, 0)
        self.probe_at = now + self._deps.probe_s
        now_ms = int(now * 1000)
        connection_id = self.resolved.connection.id
        items = await asyncio.to_thread(self._deps.queue.claim_probe, connection_id, now_ms, lease_ms)
        self._probing = bool(items)
        return _Claim(items, self._deps.probe_s, 1, now_ms + lease_ms, probe=True)

    # -- one group -----------------------------------------------------------------------------

    async def _deliver(self, items: list[ClaimedItem], probe: bool) -> None:
        by_env: dict[str, list[ClaimedItem]] = {}
        for item in items:
            by_env.setdefault(item.environment, []).append(item)
        try:
            await asyncio.gather(*(self._deliver_env(env, group, probe) for env, group in by_env.items()))
        except Exception:  # the items stay claimed; they are retried when their lease expires
            log.exception("connection %s: delivering a group failed", self.resolved.connection.id)
        finally:
            self._settled(items[0].token)
            if probe:
                self._probing = False

    async def _deliver_env(self, environment: str, items: list[ClaimedItem], probe: bool) -> None:
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
        settings = r.map_settings(now_ms, group_key([b.batch_id for b in batches]))
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
        await self._settle(items, outcomes, probe)

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

    async def _settle(self, items: list[ClaimedItem], outcomes: dict[int, Outcome], probe: bool) -> None:
        deps, r = self._deps, self.resolved
        now = deps.clock()
        now_ms = int(now * 1000)
        delivered = [i for i in items if outcomes[i.batch_id].verdict is Verdict.DELIVERED]
        if delivered:
            await deps.completions.complete(delivered, now_ms, self._counts(delivered, now_ms))
            if len(delivered) == len(items):
                if probe or self.failures:  # back: what waits for a later retry is due now
                    await asyncio.to_thread(deps.queue.resume, r.connection.id, now_ms)
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
                # A failed probe's attempt is refunded: it never exhausts an item.
                if not probe and deps.policy.exhausted(item.attempts, r.integration.options.max_attempts):
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
            await self._back_off(retry, retry_after, now, probe)

    def _counts(self, delivered: list[ClaimedItem], now_ms: int) -> Counter[CountKey]:
        """The outbound report counts of delivered items."""
        events: Counter[tuple[str, str]] = Counter()  # summed first: one CountKey per event name
        # Claimed items with the same summary share one list: each list is summed once, times the
        # number of items carrying it (counted at C speed).
        summaries = list(map(_SUMMARY, delivered))
        by_id = dict(zip(map(id, summaries), summaries, strict=True))
        for summary_id, carried in Counter(map(id, summaries)).items():
            for event_type, name, n in by_id[summary_id]:
                events[event_type, name] += n * carried
        counts: Counter[CountKey] = Counter()
        add_summary(counts, [(t, name, n) for (t, name), n in events.items()], self.resolved, "out", now_ms)
        return counts

    async def _back_off(
        self,
        retry: dict[tuple[str, str], list[ClaimedItem]],
        retry_after: float | None,
        now: float,
        probe: bool,
    ) -> None:
        """Pause the lane and put the items back for later: after the backoff, or (a failed probe)
        when the current pause ends, without counting the attempt."""
        deps = self._deps
        honoured = min(retry_after, deps.policy.max_retry_after_s) if retry_after is not None else 0.0
        if probe:
            self.paused_until = max(self.paused_until, now + honoured)
        else:
            self.failures += 1
            attempts = max(i.attempts for group in retry.values() for i in group)
            delay = deps.policy.delay_s(max(self.failures, attempts), retry_after, deps.rand())
            self.paused_until = max(self.paused_until, now + delay)
        self.probe_at = now + max(deps.probe_s, honoured)
        next_at_ms = int(self.paused_until * 1000)
        for (error_type, message), group in retry.items():
            await asyncio.to_thread(deps.queue.retry, group, next_at_ms, error_type, message, probe)
