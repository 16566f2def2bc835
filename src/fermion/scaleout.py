"""Wiring that differs between the embedded and scale-out modes: the inbound log (SQLite or NATS JetStream),
API node ids, the archive (one process at a time) and the metrics every role exports."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy.exc
from cryptography.fernet import Fernet
from sqlalchemy import Engine, text

from fermion.adapters.archive_fs import FileArchive
from fermion.adapters.fernet_cipher import load_or_create_key
from fermion.adapters.inbound_sqlite import SqliteInboundLog
from fermion.adapters.sql.config_store import SqlConfigStore
from fermion.adapters.sql.delivery_store import SqlDeliveryQueue
from fermion.adapters.sql.event_store import SqlEventStore
from fermion.adapters.sql.output_store import SqlOutputStore
from fermion.adapters.sql.scaleout import AdvisoryLease, allocate_node_id, shared_value
from fermion.services.archive import Archiver
from fermion.services.archive_leader import LeaderArchiver
from fermion.services.metrics import CountedLog, MeteredInboundLog, Metrics
from fermion.services.worker import ArchiveRunner
from fermion.settings import Settings

if TYPE_CHECKING:
    from fermion.adapters.inbound_nats import NatsInboundLog

# The archive lease: next to event_store's save lock and the migration lock ("fermion" + 2).
_ARCHIVE_LEASE = 0x6665726D696F6E + 2


def open_inbound(settings: Settings, metrics: Metrics) -> MeteredInboundLog:
    """The inbound log of this mode, counted into `metrics` (its gauges included)."""
    inner: CountedLog
    if settings.scale_out:
        # nats-py (and the aiohttp it brings) only in scale-out mode: embedded commands start faster.
        from fermion.adapters.inbound_nats import NatsInboundLog, NatsOptions

        nats_log = NatsInboundLog(
            NatsOptions(
                url=settings.nats_url,
                stream=settings.nats_stream,
                ack_wait_s=settings.nats_ack_wait_s,
                max_deliver=settings.nats_max_deliver,
            )
        )
        metrics.gauge(
            "fermion_inbound_undelivered",
            "Inbound batches not yet handed to a worker.",
            lambda: nats_log.stats.undelivered,
        )
        metrics.gauge(
            "fermion_inbound_in_flight",
            "Inbound batches handed to workers, not yet acknowledged.",
            lambda: nats_log.stats.in_flight,
        )
        inner = nats_log
    else:
        # nats_max_deliver is the processing attempts of a batch in either mode.
        inner = SqliteInboundLog(
            settings.inbound_path,
            lane=(settings.worker_lane, settings.workers),
            max_attempts=settings.nats_max_deliver,
        )
    inbound = MeteredInboundLog(inner, metrics)
    metrics.gauge(
        "fermion_inbound_pending", "Inbound batches not yet processed (queue depth).", inbound.pending
    )
    metrics.gauge(
        "fermion_inbound_dead_letters",
        "Inbound batches moved to the dead-letter store after failing processing (replay them).",
        inbound.dead_letter_count,
    )
    return inbound


def _nats(inbound: MeteredInboundLog) -> NatsInboundLog | None:
    """The NATS log inside `inbound`, if it is one (its module is loaded only in scale-out mode)."""
    module = sys.modules.get("fermion.adapters.inbound_nats")
    inner = inbound.inner
    if module is not None and isinstance(inner, module.NatsInboundLog):
        found: NatsInboundLog = inner
        return found
    return None


async def start_inbound(inbound: MeteredInboundLog) -> None:
    """Connect now rather than on the first request (NATS), so readiness reflects the connection."""
    nats_log = _nats(inbound)
    if nats_log is not None:
        await nats_log.start()


def inbound_details(inbound: MeteredInboundLog) -> dict[str, object]:
    """What /readyz shows about the inbound log (raises while it is unreachable)."""
    details: dict[str, object] = {
        "inbound_pending": inbound.pending(),
        "inbound_dead_letters": inbound.dead_letter_count(),
    }
    nats_log = _nats(inbound)
    if nats_log is not None:
        details.update(inbound_in_flight=nats_log.stats.in_flight)
    return details


def store_outage(exc: BaseException) -> bool:
    """Whether a processing error means a store is unavailable (the worker retries the batches) rather
    than that a batch cannot be processed (isolated and counted as a failed attempt)."""
    return isinstance(
        exc,
        sqlalchemy.exc.OperationalError
        | sqlalchemy.exc.InterfaceError
        | sqlalchemy.exc.TimeoutError
        | sqlalchemy.exc.DisconnectionError
        | sqlite3.OperationalError
        | ConnectionError
        | TimeoutError,
    )


def check_database(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def node_id(settings: Settings, engine: Engine) -> int:
    """This API process's batch-id node id: 0 embedded (one API process), else drawn from PostgreSQL."""
    return allocate_node_id(engine) if settings.scale_out else 0


def archive_runner(
    settings: Settings, engine: Engine, config: SqlConfigStore, events: SqlEventStore
) -> ArchiveRunner:
    """The daily archive. Scale-out: only the worker holding a PostgreSQL advisory lock archives, into
    its data_dir/archive (share that directory between machines, or it follows the lock holder)."""
    if engine.dialect.name != "postgresql":
        return Archiver(config, events, FileArchive(settings.archive_dir))
    return LeaderArchiver(
        config, events, lambda: FileArchive(settings.archive_dir), AdvisoryLease(engine, _ARCHIVE_LEASE)
    )


def secrets_key(settings: Settings, engine: Engine, path: Path) -> bytes:
    """The key encrypting secrets at rest when FERMION_SECRET_KEY is not set. Every process must use the
    same one: embedded, a file in the data directory; scale-out (processes on several machines), a value
    in PostgreSQL created by the first process (set FERMION_SECRET_KEY to keep it out of the database)."""
    if settings.scale_out:
        return shared_value(engine, "secrets.key", lambda: Fernet.generate_key().decode()).encode()
    return load_or_create_key(path)


def delivery_gauges(metrics: Metrics, outputs: SqlOutputStore, queue: SqlDeliveryQueue) -> None:
    """Delivery queue depth per connection and status (pending, inflight, done, dead), read at scrape."""

    def read() -> dict[tuple[str, ...], float]:
        return {
            (str(c.id), status): float(n)
            for c in outputs.list_connections()
            for status, n in queue.count_by_status(c.id).items()
            if status != "done"
        }

    metrics.labelled_gauge(
        "fermion_delivery_queue",
        "Queued batches per connection and status.",
        ["connection_id", "status"],
        read,
    )
