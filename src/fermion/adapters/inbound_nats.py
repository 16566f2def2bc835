"""The scale-out inbound log: a NATS JetStream work-queue stream read by one shared durable pull consumer.

API processes publish each record and return once JetStream acknowledges it; any number of workers pull
with explicit acks. A record whose processing failed is handed back (nak) to be delivered again; once it
has been delivered `max_deliver` times it goes to the dead-letter stream (inbound_nats_dlq), also when
its workers died with it in hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
import nats
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import APIError

from fermion.adapters import inbound_nats_dlq as dlq
from fermion.adapters.inbound_nats_setup import ensure_consumer, ensure_stream
from fermion.model.records import InboundRecord
from fermion.ports.inbound import DeadLetterSummary, InboundDeadLetter, ProcessingFailure

log = logging.getLogger(__name__)

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(InboundRecord).decode
_STATUS = "Status"
_PUBLISH_ATTEMPTS = 3
_API_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class NatsOptions:
    url: str = "nats://127.0.0.1:4222"
    stream: str = "FERMION_INBOUND"  # the dead-letter stream is "<stream>_DLQ"
    consumer: str = "fermion-workers"
    ack_wait_s: float = 30.0  # redelivery after this long without an ack (or a progress signal)
    max_deliver: int = 5  # processing attempts before a record is dead-lettered
    retry_delay_s: float = 0.5  # a failed record is delivered again after this long
    # A record in hand is kept from redelivery (in-progress signals) for at most this long; after that
    # it counts as abandoned (a failed processing attempt). None: four times ack_wait.
    max_in_progress_s: float | None = None
    publish_timeout_s: float = 10.0
    replicas: int = 1
    stats_every_s: float = 2.0


@dataclass
class NatsStats:
    connected: bool = False
    pending: int = 0  # in the stream: not yet acknowledged (work-queue retention deletes acked ones)
    undelivered: int = 0  # not yet handed to any worker
    in_flight: int = 0  # delivered, waiting for an ack
    dead_letters: int = 0


class _Pull:
    """One pull request: done when JetStream ends it (status message) or `batch` messages arrived."""

    __slots__ = ("batch", "done", "received")

    def __init__(self, batch: int) -> None:
        self.batch = batch
        self.received = 0
        self.done = asyncio.Event()


class NatsInboundLog:
    """InboundLog over NATS JetStream; connects on first use (or `start`), from one event loop."""

    def __init__(self, options: NatsOptions) -> None:
        self.options = options
        self._subject = f"{options.stream}.in"
        self._dlq_stream = f"{options.stream}_DLQ"
        self._dlq_subject = f"{options.stream}.dlq"
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{options.stream}.{options.consumer}"
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._inbox = ""
        self._tokens = itertools.count(1)
        self._pulls: dict[str, _Pull] = {}
        self._ready: deque[Msg] = deque()  # delivered to this process, not yet handed out by fetch
        self._in_flight: dict[int, tuple[Msg, float]] = {}  # stream seq -> (message, handed out at)
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self.stats = NatsStats()

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and make sure the streams and the consumer exist (idempotent; safe from many processes)."""
        async with self._lock:
            if self._nc is not None:
                return
            if self._closed:
                raise RuntimeError("inbound log is closed")
            nc = await nats.connect(
                self.options.url,
                name="fermion",
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                connect_timeout=5,
            )
            js = nc.jetstream(timeout=_API_TIMEOUT_S)
            replicas = self.options.replicas
            stream = StreamConfig(name=self.options.stream, subjects=[self._subject])
            await ensure_stream(js, stream, work_queue=True, replicas=replicas)
            dead = StreamConfig(name=self._dlq_stream, subjects=[self._dlq_subject, f"{self._dlq_subject}.>"])
            await ensure_stream(js, dead, work_queue=False, replicas=replicas)
            await ensure_consumer(js, self.options.stream, self.options.consumer, self.options.ack_wait_s)
            self._inbox = nc.new_inbox()
            await nc.subscribe(f"{self._inbox}.*", cb=self._on_message)
            self._nc, self._js = nc, js
            self._tasks = [
                asyncio.create_task(self._refresh_stats()),
                asyncio.create_task(self._keep_in_progress()),
            ]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        nc = self._nc
        if nc is None:
            return
        # Hand back whatever this process holds unprocessed, so another worker gets it at once
        # instead of after ack_wait.
        for msg in [*(m for m, _ in self._in_flight.values()), *self._ready]:
            with contextlib.suppress(Exception):
                await msg.nak()
        self._in_flight.clear()
        self._ready.clear()
        with contextlib.suppress(Exception):
            await nc.flush(timeout=5)
        with contextlib.suppress(Exception):
            await nc.close()
        self.stats.connected = False

    async def _js_ready(self) -> JetStreamContext:
        if self._js is None:
            await self.start()
        assert self._js is not None
        return self._js

    # -- the port ------------------------------------------------------------------------------

    async def append(self, records: Sequence[InboundRecord]) -> None:
        """Publish concurrently; return once JetStream has stored every record (retries dedupe by id)."""
        if not records:
            return
        js = await self._js_ready()
        todo = list(records)
        for attempt in range(1, _PUBLISH_ATTEMPTS + 1):
            futures = [
                await js.publish_async(
                    self._subject, _encode(r), headers={"Nats-Msg-Id": str(r.batch_id)}, wait_stall=5.0
                )
                for r in todo
            ]
            done, pending = await asyncio.wait(futures, timeout=self.options.publish_timeout_s)
            for future in pending:
                future.cancel()  # releases its publish slot
            failed = [r for r, f in zip(todo, futures, strict=True) if f not in done or f.exception()]
            if not failed:
                return
            errors = [f.exception() for f in done if f.exception() is not None]
            if attempt == _PUBLISH_ATTEMPTS or any(isinstance(e, APIError) for e in errors):
                raise ConnectionError(
                    f"JetStream did not acknowledge {len(failed)} of {len(records)} records"
                    + (f": {errors[0]}" if errors else "")
                )
            todo = failed

    async def fetch(self, max_records: int, wait_s: float) -> list[InboundRecord]:
        await self._js_ready()
        if not self._ready:
            await self._pull(max_records, None)
        if not self._ready and wait_s > 0:
            # Wait for one record only, then take whatever else is there: a lingering request for
            # max_records would hold the first record until the batch fills or expires.
            await self._pull(1, wait_s)
            if self._ready and max_records > 1:
                await self._pull(max_records - 1, None)
        msgs = [self._ready.popleft() for _ in range(min(max_records, len(self._ready)))]
        return await self._accept(msgs)

    async def ack(self, records: Sequence[InboundRecord]) -> None:
        if not records or self._nc is None:
            return
        for record in records:
            held = self._in_flight.pop(record.seq, None)
            if held is not None:
                await held[0].ack()
        try:
            await self._nc.flush(timeout=int(_API_TIMEOUT_S))
        except Exception as exc:
            # The acks stay buffered until the client reconnects; any lost ones only mean a
            # redelivery, which processing dedupes.
            log.warning("acknowledgements not confirmed by NATS yet: %s", exc)

    async def failed(self, failures: Sequence[ProcessingFailure]) -> None:
        """Dead-letter each record delivered `max_deliver` times; hand the others back for redelivery."""
        for failure in failures:
            held = self._in_flight.pop(failure.record.seq, None)
            if held is None:
                continue  # abandoned meanwhile: JetStream redelivers it anyway
            msg = held[0]
            if msg.metadata.num_delivered >= self.options.max_deliver:
                await self._dead_letter(msg, failure.reason, failure.record.workspace_id)
            else:
                with contextlib.suppress(Exception):  # lost: redelivered after ack_wait instead
                    await msg.nak(delay=self.options.retry_delay_s)

    async def dead_letters(
        self, workspace_id: int | None = None, limit: int = 1000
    ) -> list[InboundDeadLetter]:
        js = await self._js_ready()
        return await dlq.dead_letters(js, self._dlq_stream, self._dlq_subject, workspace_id, limit)

    async def replay_dead_letters(self, workspace_id: int | None, ids: Sequence[int] | None = None) -> int:
        js = await self._js_ready()
        return await dlq.replay(js, self._dlq_stream, self._dlq_subject, self._subject, workspace_id, ids)

    async def dead_letter_summary(self, workspace_id: int | None = None) -> DeadLetterSummary:
        js = await self._js_ready()
        return await dlq.summary(js, self._dlq_stream, self._dlq_subject, workspace_id)

    def dead_letter_count(self) -> int:
        """As of the last refresh (raises while disconnected)."""
        if not self.stats.connected:
            raise ConnectionError(f"not connected to NATS at {self.options.url}")
        return self.stats.dead_letters

    def pending(self) -> int:
        """Records not yet acknowledged, as of the last refresh (raises while disconnected)."""
        if not self.stats.connected:
            raise ConnectionError(f"not connected to NATS at {self.options.url}")
        return self.stats.pending

    # -- internals -----------------------------------------------------------------------------

    async def _pull(self, batch: int, expires_s: float | None) -> None:
        nc = self._nc
        assert nc is not None
        token = str(next(self._tokens))
        pull = _Pull(batch)
        self._pulls[token] = pull
        request: dict[str, object] = {"batch": batch}
        if expires_s is None:
            request["no_wait"] = True
        else:
            request["expires"] = int(expires_s * 1e9)
        try:
            await nc.publish(self._next_subject, orjson.dumps(request), reply=f"{self._inbox}.{token}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(pull.done.wait(), (expires_s or 0) + 5.0)
        finally:
            del self._pulls[token]

    async def _on_message(self, msg: Msg) -> None:
        status = msg.headers.get(_STATUS) if msg.headers else None
        if status is not None and not msg.data:
            pull = self._pulls.get(msg.subject.rpartition(".")[2])
            if status != "100" and pull is not None:  # 100: idle heartbeat
                pull.done.set()
            return
        self._ready.append(msg)
        # Deliveries carry the stream's subject, not the request's, so count them against every
        # open request: a stray late delivery at worst ends a wait early.
        for pull in self._pulls.values():
            pull.received += 1
            if pull.received >= pull.batch:
                pull.done.set()

    async def _accept(self, msgs: list[Msg]) -> list[InboundRecord]:
        out: list[InboundRecord] = []
        now = time.monotonic()
        for msg in msgs:
            meta = msg.metadata
            try:
                record = _decode(msg.data)
            except msgspec.DecodeError:
                await self._dead_letter(msg, "undecodable", None)
                continue
            if meta.num_delivered > self.options.max_deliver:
                await self._dead_letter(msg, f"delivered {meta.num_delivered} times", record.workspace_id)
                continue
            seq = meta.sequence.stream
            self._in_flight[seq] = (msg, now)
            out.append(msgspec.structs.replace(record, seq=seq))
        return out

    async def _dead_letter(self, msg: Msg, reason: str, workspace_id: int | None) -> None:
        js = await self._js_ready()
        msg_id = (msg.headers or {}).get("Nats-Msg-Id", "")
        log.error(
            "dead-lettering inbound record %s (stream seq %s): %s",
            msg_id,
            msg.metadata.sequence.stream,
            reason,
        )
        await js.publish(
            self._dlq_subject if workspace_id is None else f"{self._dlq_subject}.{workspace_id}",
            msg.data,
            headers={
                # Per delivery: a batch dead-lettered again after a replay is kept again.
                "Nats-Msg-Id": f"dlq-{msg_id}-{msg.metadata.sequence.stream}",
                "Fermion-Reason": reason,
                "Fermion-Attempts": str(msg.metadata.num_delivered),
                "Fermion-Dead-Ms": str(int(time.time() * 1000)),
            },
        )
        await msg.ack()

    async def _keep_in_progress(self) -> None:
        """Tell JetStream that records in hand are still being processed, so a slow group is not
        redelivered to another worker; if this process dies, they are redelivered after ack_wait."""
        limit = self.options.max_in_progress_s
        if limit is None:
            limit = 4 * self.options.ack_wait_s
        while True:
            await asyncio.sleep(max(self.options.ack_wait_s / 3, 0.1))
            now = time.monotonic()
            for seq, (msg, since) in list(self._in_flight.items()):
                if now - since > limit:
                    del self._in_flight[seq]  # abandoned: JetStream redelivers it after ack_wait
                    continue
                with contextlib.suppress(Exception):
                    await msg.in_progress()

    async def _refresh_stats(self) -> None:
        js, nc = self._js, self._nc
        assert js is not None and nc is not None
        while True:
            try:
                info = await js.consumer_info(self.options.stream, self.options.consumer)
                stream = await js.stream_info(self.options.stream)
                dlq = await js.stream_info(self._dlq_stream)
                self.stats = NatsStats(
                    connected=nc.is_connected,
                    pending=stream.state.messages,
                    undelivered=info.num_pending or 0,
                    in_flight=info.num_ack_pending or 0,
                    dead_letters=dlq.state.messages,
                )
            except Exception as exc:  # NATS away: readiness reports it until the client reconnects
                log.warning("NATS stats unavailable: %s", exc)
                self.stats.connected = False
            await asyncio.sleep(self.options.stats_every_s)
