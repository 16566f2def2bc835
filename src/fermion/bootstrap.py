"""Wiring: builds stores, services and the ASGI app from Settings (the only place adapters are chosen)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from fermion.adapters.private_files import private_dir
from fermion.adapters.sql.audience_store import SqlAudienceStore
from fermion.adapters.sql.calculated_store import SqlCalculatedStore
from fermion.adapters.sql.catalog_store import SqlCatalogStore
from fermion.adapters.sql.config_store import SqlConfigStore
from fermion.adapters.sql.engine import make_engine, migrate
from fermion.adapters.sql.event_alias import SqlEventReattribution
from fermion.adapters.sql.event_store import SqlEventStore
from fermion.adapters.sql.identity_store import SqlIdentityStore
from fermion.adapters.sql.profile_store import SqlProfileStore
from fermion.adapters.sql.scaleout import AdvisoryLease
from fermion.api.ops import ops_app, serving
from fermion.bootstrap_delivery import (
    DeliveryStores,
    audience_sink,
    build_sender,
    forwarding_phase,
    open_delivery,
)
from fermion.delivery.filters import data_filter
from fermion.delivery.stages import ConnectionHooks
from fermion.integrations.commerce_expansion import commerce_expansion
from fermion.pipeline.normalize import normalize
from fermion.ports import IdentityLookup
from fermion.ports.calculated import CalculatedValues
from fermion.privacy.forwarding import ConsentRulesLoader, consent_forwarding
from fermion.scaleout import (
    archive_runner,
    check_database,
    delivery_gauges,
    inbound_details,
    open_inbound,
    start_inbound,
    store_outage,
)
from fermion.services.audience_admin import AudienceAdmin
from fermion.services.audience_engine import AudienceEngine
from fermion.services.audience_jobs import AudienceJobs
from fermion.services.audience_phase import AudiencePhase
from fermion.services.calculated_backfill import Backfill
from fermion.services.calculated_phase import CalculatedPhase
from fermion.services.calculated_values import CalculatedValuesService
from fermion.services.catalog import CountDataPoints, DataFilterLoader
from fermion.services.identity import IdentityService
from fermion.services.identity_phase import IdentityPhase
from fermion.services.metrics import MeteredInboundLog, Metrics
from fermion.services.processing import Phase, Processor, PureStages, StoreEvents
from fermion.services.profile_alias import CopyFirstSeen
from fermion.services.profile_phase import ProfilePhase
from fermion.services.worker import Worker
from fermion.settings import Settings


@dataclass
class Stores:
    engine: Engine
    config: SqlConfigStore
    events: SqlEventStore
    profiles: SqlProfileStore
    delivery: DeliveryStores
    catalog: SqlCatalogStore


def open_stores(settings: Settings, run_migrations: bool = True) -> Stores:
    private_dir(settings.data_dir)  # 0700: it holds the databases, keys and credentials
    engine = make_engine(settings.effective_database_url)
    if run_migrations:
        migrate(engine)
    return Stores(
        engine=engine,
        config=SqlConfigStore(engine),
        events=SqlEventStore(engine),
        profiles=SqlProfileStore(engine),
        delivery=open_delivery(settings, engine),
        catalog=SqlCatalogStore(engine),
    )


def identity_lookup(stores: Stores) -> IdentityLookup:
    """Organization-wide identities for the Profile and User Activity APIs (IDSync's store, which
    satisfies the IdentityLookup protocol structurally)."""
    return SqlIdentityStore(stores.engine)


def identity_service(stores: Stores, settings: Settings | None = None) -> IdentityService:
    """IDSync. Alias listeners (e.g. profiles copying first-seen dates) go on `.alias_listeners`."""
    ttl = settings.config_cache_ttl_s if settings is not None else 5.0
    service = IdentityService(
        SqlIdentityStore(stores.engine), stores.config, SqlEventReattribution(stores.engine), cache_ttl_s=ttl
    )
    service.alias_listeners.append(CopyFirstSeen(stores.profiles))
    return service


def processing_phases(stores: Stores, settings: Settings | None = None) -> list[Phase]:
    """The processing chain, in order (ARCHITECTURE.md "The flow")."""
    return [
        PureStages([normalize], name="normalize"),
        IdentityPhase(identity_service(stores, settings), SqlIdentityStore(stores.engine)),  # sets the MPID
        ProfilePhase(stores.profiles),  # after the MPID is set; before StoreEvents, which stores its events
        StoreEvents(stores.events),
        CountDataPoints(stores.catalog),  # counts only what StoreEvents stored for the first time
        CalculatedPhase(SqlCalculatedStore(stores.engine)),  # after StoreEvents, before forwarding
        AudiencePhase(audience_engine(stores), audience_sink(stores.config, stores.delivery)),  # after CAs
        forwarding_phase(stores.config, stores.delivery, connection_hooks(stores)),  # after StoreEvents
    ]


def calculated_values(stores: Stores) -> CalculatedValues:
    """Current CA values of users (for the Profile API, User Activity and audiences)."""
    return CalculatedValuesService(SqlCalculatedStore(stores.engine))


# A background job of the worker role: runs until `stop` is set (time-based re-evaluation, backfills).
WorkerJob = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def worker_jobs(settings: Settings, stores: Stores) -> list[WorkerJob]:
    """Background jobs every worker runs beside processing (one line per job; each must be safe to run
    in several workers at once, e.g. by claiming its work with a lease)."""
    jobs: list[WorkerJob] = [Backfill(SqlCalculatedStore(stores.engine)).run]  # CAs activated since
    if _singleton_worker(settings):
        # Windows expiring, audiences calculating over history.
        jobs.append(audience_jobs(stores, settings.audience_recheck_s).run)
    return jobs


def _singleton_worker(settings: Settings) -> bool:
    """Whether this worker runs the jobs one worker at a time must run: on PostgreSQL every worker may
    (an advisory lease picks one); embedded workers have no lease, so only the first lane's does."""
    return settings.scale_out or settings.worker_lane == 0


# The audience job's lease: next to the archive lease ("fermion" + 2).
_AUDIENCE_LEASE = 0x6665726D696F6E + 7


def audience_engine(stores: Stores) -> AudienceEngine:
    return AudienceEngine(
        SqlAudienceStore(stores.engine),
        stores.config,
        stores.profiles,
        identity_lookup(stores),
        calculated_values(stores),
    )


def audience_admin(stores: Stores) -> AudienceAdmin:
    engine = audience_engine(stores)
    return AudienceAdmin(engine.store, engine, audience_sink(stores.config, stores.delivery))


def audience_jobs(stores: Stores, interval_s: float) -> AudienceJobs:
    """Re-checks expiring windows and runs calculations every `interval_s` (settings), in one
    worker at a time (a PostgreSQL advisory lease; embedded, the first lane's worker)."""
    return AudienceJobs(
        audience_engine(stores),
        stores.events,
        audience_sink(stores.config, stores.delivery),
        AdvisoryLease(stores.engine, _AUDIENCE_LEASE),
        interval_s=interval_s,
    )


def connected_outputs(stores: Stores) -> Callable[[int], list[str]]:
    """The outputs an audience is connected to (audience connections of the delivery area)."""

    def lookup(audience_id: int) -> list[str]:
        found = stores.delivery.outputs.list_connections(audience_id=audience_id)
        outputs = {c.output_id: stores.delivery.outputs.get_output(c.output_id) for c in found}
        return sorted(o.name or o.integration_id for o in outputs.values() if o is not None)

    return lookup


def connection_hooks(stores: Stores) -> ConnectionHooks:
    """Per-connection hooks run before a batch is queued for an output, in order: data filter, consent
    forwarding rule, commerce expansion (fermion.delivery.stages)."""
    return ConnectionHooks(
        stages=[data_filter, consent_forwarding, commerce_expansion],
        loaders=[DataFilterLoader(stores.catalog), ConsentRulesLoader()],
    )


def build_worker(
    settings: Settings, stores: Stores, metrics: Metrics | None = None
) -> tuple[Worker, MeteredInboundLog]:
    metrics = metrics or Metrics("worker")
    inbound = open_inbound(settings, metrics)
    archiver = (
        archive_runner(settings, stores.engine, stores.config, stores.events)
        if _singleton_worker(settings)
        else None
    )
    worker = Worker(
        inbound,
        Processor(processing_phases(stores, settings)),
        archiver,
        on_error=metrics.error,
        groups_in_flight=2 if settings.scale_out else 1,  # NATS: overlap one group's PostgreSQL waits
        store_outage=store_outage,
    )
    return worker, inbound


async def run_worker(
    settings: Settings,
    stores: Stores,
    stop: asyncio.Event,
    parent_pid: int | None,
    metrics: Metrics | None = None,
    ops_port: int | None = None,
    sender_pid: int | None = None,
) -> None:
    """Process until stopped (or until the parent process is gone, when started by `serve`); with
    ops_port, serve /healthz, /readyz and /metrics there; with sender_pid, wake that sender process
    (SIGUSR1) whenever something was queued for delivery."""
    metrics = metrics or Metrics("worker")
    if sender_pid is not None:
        stores.delivery.listeners.append(lambda: _wake_process(sender_pid))
    worker, inbound = build_worker(settings, stores, metrics)
    await start_inbound(inbound)

    def readiness() -> dict[str, object]:
        check_database(stores.engine)
        return {**inbound_details(inbound), "processed": worker.processed}

    watcher = asyncio.create_task(_watch_parent(stop, parent_pid))
    jobs = [asyncio.create_task(job(stop)) for job in worker_jobs(settings, stores)]
    sender = None
    if settings.delivery.sender_in_worker:  # `serve --role all`: deliver from this process too
        sender = asyncio.create_task(
            build_sender(stores.config, stores.delivery, connection_hooks(stores)).run(stop)
        )
    try:
        async with serving(ops_app(readiness, metrics.render), settings.host, ops_port):
            await worker.run(stop)  # finishes and acks the group in hand once stop is set
            await worker.archive()
    finally:
        watcher.cancel()
        stop.set()
        await asyncio.gather(*jobs, return_exceptions=True)
        if sender is not None:
            await sender
        await inbound.close()


async def run_sender(
    settings: Settings,
    stores: Stores,
    stop: asyncio.Event,
    ops_port: int | None = None,
    parent_pid: int | None = None,
) -> None:
    """The sender role: delivers what workers queued for outputs, until stopped or the parent process
    is gone (run workers with FERMION_DELIVERY_SENDER_IN_WORKER=0 when senders run on their own).
    SIGUSR1 makes its lanes look for new items at once."""
    metrics = Metrics("sender")
    delivery_gauges(metrics, stores.delivery.outputs, stores.delivery.queue)

    def readiness() -> dict[str, object]:
        check_database(stores.engine)
        return {}

    sender = build_sender(stores.config, stores.delivery, connection_hooks(stores))
    # As workers do: full GC passes over the startup heap cost the sender ~7 us CPU per batch.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, sender.notify)
    watcher = asyncio.create_task(_watch_parent(stop, parent_pid))
    try:
        async with serving(ops_app(readiness, metrics.render), settings.host, ops_port):
            await sender.run(stop)
    finally:
        watcher.cancel()
        loop.remove_signal_handler(signal.SIGUSR1)


async def _watch_parent(stop: asyncio.Event, parent_pid: int | None) -> None:
    """Sets `stop` once the process that started this one (`serve --role all`) is gone."""
    while not stop.is_set():
        if parent_pid is not None and os.getppid() != parent_pid:
            stop.set()
        await asyncio.sleep(0.2)


def _wake_process(pid: int) -> None:
    """SIGUSR1 to the sender started beside this worker, only while it still is our sibling (were it
    gone, its pid could be reused by another process; the lanes of a new sender poll on their own)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # Fields after the parenthesised command name: state, ppid, ...
            parent = int(stat.read().rsplit(b")", 1)[1].split()[1])
    except FileNotFoundError:
        return  # gone
    except OSError:
        parent = os.getppid()  # no /proc here: trust the pid
    if parent == os.getppid():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGUSR1)
