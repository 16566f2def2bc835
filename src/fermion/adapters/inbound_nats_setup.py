"""Creating (or bringing up to date) the JetStream streams and the durable consumer the NATS inbound
log uses; every process runs this at start, so each step tolerates another process doing it too."""

from __future__ import annotations

import contextlib
import logging

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError

log = logging.getLogger(__name__)


async def ensure_stream(js: JetStreamContext, config: StreamConfig, work_queue: bool, replicas: int) -> None:
    config.retention = RetentionPolicy.WORK_QUEUE if work_queue else RetentionPolicy.LIMITS
    config.storage = StorageType.FILE
    config.num_replicas = replicas
    config.duplicate_window = 120.0  # a retried publish of the same batch id is stored once
    try:
        info = await js.stream_info(config.name or "")
    except NotFoundError:
        info = None
    if info is not None:
        missing = [s for s in config.subjects or [] if s not in (info.config.subjects or [])]
        if missing:  # made by an older version (the DLQ had no per-workspace subjects)
            info.config.subjects = [*(info.config.subjects or []), *missing]
            with contextlib.suppress(APIError):  # updated meanwhile by another process
                await js.update_stream(info.config)
        return
    try:
        await js.add_stream(config)
    except APIError as exc:
        if exc.err_code != 10058:  # created meanwhile by another process
            raise


async def ensure_consumer(js: JetStreamContext, stream: str, consumer: str, ack_wait_s: float) -> None:
    config = ConsumerConfig(
        durable_name=consumer,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait_s,
        # Unlimited here: fetch dead-letters a record itself once it exceeds max_deliver, so a
        # worker dying mid-way never leaves a record stuck undeliverable in the stream.
        max_deliver=-1,
        max_ack_pending=50_000,
    )
    try:
        await js.add_consumer(stream, config)
    except APIError as exc:
        log.warning("keeping the existing consumer %s: %s", consumer, exc.description)
