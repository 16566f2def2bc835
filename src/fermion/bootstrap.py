"""Wiring: builds stores, services and the ASGI app from Settings (the only place adapters are chosen)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import Engine

from fermion.adapters.archive_fs import FileArchive
from fermion.adapters.inbound_sqlite import SqliteInboundLog
from fermion.adapters.sql.config_store import SqlConfigStore
from fermion.adapters.sql.engine import make_engine, migrate
from fermion.adapters.sql.event_store import SqlEventStore
from fermion.api.admin import admin_router
from fermion.api.errors import install_error_handlers
from fermion.api.events import EventsApp
from fermion.api.health import health_routes
from fermion.pipeline.identity_stub import assign_mpid
from fermion.pipeline.normalize import normalize
from fermion.services.admin_auth import AdminAuth
from fermion.services.archive import Archiver
from fermion.services.auth_cache import InputAuthenticator
from fermion.services.ingest import IngestService
from fermion.services.livestream import LiveStream
from fermion.services.processing import Phase, Processor, PureStages, StoreEvents
from fermion.services.rate_limit import RateLimiter
from fermion.services.tenancy import TenancyService
from fermion.services.worker import Worker
from fermion.settings import Settings


@dataclass
class Stores:
    engine: Engine
    config: SqlConfigStore
    events: SqlEventStore


def open_stores(settings: Settings, run_migrations: bool = True) -> Stores:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url)
    if run_migrations:
        migrate(engine)
    return Stores(engine=engine, config=SqlConfigStore(engine), events=SqlEventStore(engine))


def create_app(settings: Settings, stores: Stores) -> EventsApp:
    """The API process's app: Events API, admin API, Live Stream, health."""
    inbound = SqliteInboundLog(settings.inbound_path)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await inbound.close()

    app = FastAPI(title="Fermion", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    ingest = IngestService(
        inbound,
        InputAuthenticator(stores.config, settings.config_cache_ttl_s),
        RateLimiter(),
        settings.limits,
    )

    def readiness() -> dict[str, object]:
        with stores.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"inbound_pending": inbound.pending()}

    app.router.routes.extend(health_routes(readiness))
    app.include_router(
        admin_router(
            AdminAuth(stores.config), TenancyService(stores.config), stores.events, LiveStream(stores.events)
        )
    )
    return EventsApp(ingest, settings.limits.max_request_bytes, app)


def processing_phases(stores: Stores) -> list[Phase]:
    """The processing chain, in order (ARCHITECTURE.md "The flow")."""
    return [
        PureStages([normalize, assign_mpid], name="normalize"),
        StoreEvents(stores.events),
    ]


def build_worker(settings: Settings, stores: Stores) -> tuple[Worker, SqliteInboundLog]:
    inbound = SqliteInboundLog(settings.inbound_path)
    archiver = Archiver(stores.config, stores.events, FileArchive(settings.archive_dir))
    return Worker(inbound, Processor(processing_phases(stores)), archiver), inbound


async def run_worker(settings: Settings, stores: Stores, stop: asyncio.Event, parent_pid: int | None) -> None:
    """Process until stopped (or until the parent process is gone, when started by `serve`)."""
    worker, inbound = build_worker(settings, stores)

    async def watch_parent() -> None:
        while not stop.is_set():
            if parent_pid is not None and os.getppid() != parent_pid:
                stop.set()
            await asyncio.sleep(0.2)

    watcher = asyncio.create_task(watch_parent())
    try:
        await worker.run(stop)
        await worker.archive()
    finally:
        watcher.cancel()
        await inbound.close()
