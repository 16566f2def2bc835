"""Wiring: builds stores, services and the ASGI app from Settings (the only place adapters are chosen)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from fermion.adapters.sql.audience_store import SqlAudienceStore
from fermion.adapters.sql.calculated_store import SqlCalculatedStore
from fermion.adapters.sql.catalog_store import SqlCatalogStore
from fermion.adapters.sql.config_store import SqlConfigStore
from fermion.adapters.sql.engine import make_engine, migrate
from fermion.adapters.sql.event_alias import SqlEventReattribution
from fermion.adapters.sql.event_store import SqlEventStore
from fermion.adapters.sql.event_timeline import SqlEventTimeline
from fermion.adapters.sql.identity_store import SqlIdentityStore
from fermion.adapters.sql.profile_store import SqlProfileStore
from fermion.adapters.sql.scaleout import AdvisoryLease
from fermion.api.activity import activity_router
from fermion.api.admin import admin_router
from fermion.api.audience_connections import audience_connections_router
from fermion.api.audiences import audiences_router
from fermion.api.audiences_platform import audiences_platform_router
from fermion.api.calculated import calculated_router
from fermion.api.calculated_seeding import seeding_router
from fermion.api.catalog import catalog_router
from fermion.api.delivery import delivery_router
from fermion.api.errors import install_error_handlers
from fermion.api.events import EventsApp
from fermion.api.health import health_routes
from fermion.api.identity import identity_router
from fermion.api.identity_admin import identity_admin_router
from fermion.api.oauth import oauth_router
from fermion.api.ops import metrics_route, ops_app, serving
from fermion.api.profile_api import profile_router
from fermion.api.websdk import WebSdkApp
from fermion.bootstrap_delivery import (
    DeliveryStores,
    audience_sink,
    audience_workspace,
    build_sender,
    delivery_api,
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
    node_id,
    open_inbound,
    start_inbound,
)
from fermion.services.admin_auth import AdminAuth
from fermion.services.audience_admin import AudienceAdmin
from fermion.services.audience_engine import AudienceEngine
from fermion.services.audience_jobs import AudienceJobs
from fermion.services.audience_phase import AudiencePhase
from fermion.services.auth_cache import InputAuthenticator
from fermion.services.bearer_auth import BearerAuth
from fermion.services.calculated_admin import CalculatedAdmin, CalculatedSettings
from fermion.services.calculated_backfill import Backfill
from fermion.services.calculated_phase import CalculatedPhase
from fermion.services.calculated_seeding import SeedingService
from fermion.services.calculated_values import CalculatedValuesService
from fermion.services.catalog import CatalogService, CountDataPoints, DataFilterLoader
from fermion.services.identity import IdentityService
from fermion.services.identity_auth import IdentityAuth
from fermion.services.identity_phase import IdentityPhase
from fermion.services.ingest import IngestService
from fermion.services.livestream import LiveStream
from fermion.services.metrics import MeteredInboundLog, Metrics
from fermion.services.oauth import OAuthService
from fermion.services.processing import Phase, Processor, PureStages, StoreEvents
from fermion.services.profile_alias import CopyFirstSeen
from fermion.services.profile_edits import ProfileEditor
from fermion.services.profile_phase import ProfilePhase
from fermion.services.profile_queries import ProfileQueries
from fermion.services.rate_limit import RateLimiter
from fermion.services.tenancy import TenancyService
from fermion.services.websdk import KeyLookup, WebSdkService
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
    settings.data_dir.mkdir(parents=True, exist_ok=True)
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


def create_app(settings: Settings, stores: Stores, metrics: Metrics | None = None) -> EventsApp:
    """The API process's app: Events API, admin API, Live Stream, health, metrics."""
    metrics = metrics or Metrics("api")
    delivery_gauges(metrics, stores.delivery.outputs, stores.delivery.queue)
    inbound = open_inbound(settings, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await start_inbound(inbound)
        yield
        await inbound.close()

    app = FastAPI(title="Fermion", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    ingest = IngestService(
        inbound,
        InputAuthenticator(stores.config, settings.config_cache_ttl_s),
        RateLimiter(),
        settings.limits,
        node_id=node_id(settings, stores.engine),
    )

    def readiness() -> dict[str, object]:
        check_database(stores.engine)
        return inbound_details(inbound)

    app.router.routes.extend([*health_routes(readiness), metrics_route(metrics.render)])
    bearer = BearerAuth(AdminAuth(stores.config), OAuthService(stores.config), stores.config)
    app.include_router(
        admin_router(
            bearer,
            TenancyService(stores.config, stores.delivery.cipher),
            stores.events,
            LiveStream(stores.events),
        )
    )
    identities = identity_lookup(stores)
    calculated = SqlCalculatedStore(stores.engine)
    queries = ProfileQueries(
        stores.config,
        stores.profiles,
        identities,
        SqlEventTimeline(stores.engine),
        CalculatedValuesService(calculated),
    )
    editor = ProfileEditor(stores.config, stores.profiles, identities, ingest)
    app.include_router(oauth_router(bearer.oauth))
    delivery = delivery_api(stores.config, stores.delivery, connection_hooks(stores))
    app.include_router(delivery_router(bearer, delivery))
    app.include_router(audience_connections_router(bearer, delivery, audience_workspace(stores.engine)))
    app.include_router(
        catalog_router(bearer, CatalogService(stores.catalog, stores.catalog), connection_workspace(stores))
    )
    app.include_router(profile_router(bearer, queries, settings.profile_api_requests_per_s))
    idsync = identity_service(stores, settings)
    authenticator = InputAuthenticator(stores.config, settings.config_cache_ttl_s)
    app.include_router(
        identity_router(
            idsync,
            IdentityAuth(stores.config, authenticator, stores.delivery.cipher, settings.config_cache_ttl_s),
        )
    )
    app.include_router(identity_admin_router(bearer, idsync))
    app.include_router(activity_router(bearer, queries, editor))
    app.include_router(calculated_router(bearer, CalculatedAdmin(calculated, CalculatedSettings.from_env())))
    app.include_router(
        seeding_router(
            SeedingService(
                authenticator.authenticate,
                authenticator.workspace,
                calculated,
                identities,
                ingest.ingest_as,
                ingest.take_rate,
            )
        )
    )
    audiences = audience_admin(stores)
    app.include_router(audiences_router(bearer, audiences))
    app.include_router(audiences_platform_router(bearer, audiences, connected_outputs(stores)))
    web_sdk = WebSdkService(ingest, KeyLookup(stores.config, settings.config_cache_ttl_s))
    browser_app = WebSdkApp(web_sdk, settings.limits.max_request_bytes, app)
    return EventsApp(ingest, settings.limits.max_request_bytes, browser_app)


def connection_workspace(stores: Stores) -> Callable[[int], int | None]:
    def lookup(connection_id: int) -> int | None:
        found = stores.delivery.outputs.get_connection(connection_id)
        return None if found is None else found.workspace_id

    return lookup


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
        jobs.append(audience_jobs(stores).run)  # windows expiring, audiences calculating over history
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


def audience_jobs(stores: Stores) -> AudienceJobs:
    """Re-checks expiring windows and runs calculations every FERMION_AUDIENCE_RECHECK_S (30 s), in one
    worker at a time (a PostgreSQL advisory lease; embedded, the first lane's worker)."""
    return AudienceJobs(
        audience_engine(stores),
        stores.events,
        audience_sink(stores.config, stores.delivery),
        AdvisoryLease(stores.engine, _AUDIENCE_LEASE),
        interval_s=float(os.environ.get("FERMION_AUDIENCE_RECHECK_S", "30")),
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
