"""Wiring of the API process's app (Events API, admin, Platform and Profile APIs, IDSync, Web SDK):
apart from `fermion.bootstrap` so that workers, senders and CLI commands do not import the web stack."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from fermion.adapters.sql.audience_store import SqlAudienceStore
from fermion.adapters.sql.calculated_store import SqlCalculatedStore
from fermion.adapters.sql.event_timeline import SqlEventTimeline
from fermion.api.activity import activity_router
from fermion.api.admin import admin_router
from fermion.api.audience_connections import audience_connections_router
from fermion.api.audiences import audiences_router
from fermion.api.audiences_platform import audiences_platform_router
from fermion.api.calculated import calculated_router
from fermion.api.calculated_seeding import seeding_router
from fermion.api.catalog import catalog_router
from fermion.api.credentials import credentials_router
from fermion.api.delivery import DeliveryApi, delivery_router
from fermion.api.errors import install_error_handlers
from fermion.api.events import EventsApp
from fermion.api.health import health_routes
from fermion.api.identity import identity_router
from fermion.api.identity_admin import identity_admin_router
from fermion.api.inbound_dead_letters import inbound_dead_letters_router
from fermion.api.limits import HttpGuard
from fermion.api.oauth import oauth_router
from fermion.api.openapi_wire import with_wire_routes
from fermion.api.ops import metrics_route
from fermion.api.profile_api import profile_router
from fermion.api.request_log import AccessLog
from fermion.api.websdk import WebSdkApp
from fermion.bootstrap import (
    Stores,
    audience_admin,
    connected_outputs,
    connection_hooks,
    identity_lookup,
    identity_service,
)
from fermion.bootstrap_delivery import (
    DeliveryStores,
    audience_workspace,
    outputs_service,
    replay_service,
)
from fermion.delivery.reports import OutboundLiveStream, ReportsService
from fermion.delivery.reseal import seal_plain_secrets
from fermion.delivery.stages import ConnectionHooks
from fermion.ports import ConfigStore
from fermion.scaleout import (
    check_database,
    delivery_gauges,
    inbound_details,
    node_id,
    open_inbound,
    start_inbound,
)
from fermion.services.admin_auth import AdminAuth
from fermion.services.bearer_auth import BearerAuth
from fermion.services.calculated_admin import CalculatedAdmin, CalculatedSettings
from fermion.services.calculated_seeding import SeedingService
from fermion.services.calculated_values import CalculatedValuesService
from fermion.services.catalog import CatalogService
from fermion.services.credential_directory import CredentialDirectory
from fermion.services.identity_auth import IdentityAuth
from fermion.services.ingest import IngestService
from fermion.services.livestream import LiveStream
from fermion.services.metrics import Metrics
from fermion.services.oauth import OAuthService
from fermion.services.profile_edits import ProfileEditor
from fermion.services.profile_queries import ProfileQueries
from fermion.services.rate_limit import RateLimiter
from fermion.services.tenancy import TenancyService
from fermion.services.websdk import WebSdkService
from fermion.settings import Settings


def create_app(settings: Settings, stores: Stores, metrics: Metrics | None = None) -> HttpGuard:
    """The API process's app: Events API, admin API, Live Stream, health, metrics."""
    metrics = metrics or Metrics("api")
    delivery_gauges(metrics, stores.delivery.outputs, stores.delivery.queue)
    seal_plain_secrets(outputs_service(stores.config, stores.delivery))  # left in clear by older versions
    inbound = open_inbound(settings, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await start_inbound(inbound)
        yield
        await inbound.close()

    # /docs and /redoc with their assets served by Fermion itself (no CDN: installs may be offline).
    app = FastAPIOffline(title="Fermion", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    with_wire_routes(app)
    # The only place the API process keeps credentials (entries expire after config_cache_ttl_s).
    directory = CredentialDirectory(stores.config, stores.delivery.cipher, settings.config_cache_ttl_s)
    ingest = IngestService(
        inbound,
        directory,
        RateLimiter(),
        settings.limits,
        node_id=node_id(settings, stores.engine),
    )

    def readiness() -> dict[str, object]:
        check_database(stores.engine)
        return inbound_details(inbound)

    app.router.routes.extend([*health_routes(readiness), metrics_route(metrics.render)])
    bearer = BearerAuth(
        AdminAuth(stores.config, directory), OAuthService(stores.config, directory), stores.config
    )
    app.include_router(
        admin_router(
            bearer,
            TenancyService(stores.config, stores.delivery.cipher, directory),
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
        SqlAudienceStore(stores.engine),
    )
    editor = ProfileEditor(stores.config, stores.profiles, identities, ingest)
    app.include_router(oauth_router(bearer.oauth))
    app.include_router(credentials_router(bearer))
    delivery = delivery_api(stores.config, stores.delivery, connection_hooks(stores))
    app.include_router(delivery_router(bearer, delivery, inbound))
    app.include_router(inbound_dead_letters_router(bearer, inbound))
    app.include_router(audience_connections_router(bearer, delivery, audience_workspace(stores.engine)))
    app.include_router(
        catalog_router(bearer, CatalogService(stores.catalog, stores.catalog), connection_workspace(stores))
    )
    app.include_router(profile_router(bearer, queries, settings.profile_api_requests_per_s))
    idsync = identity_service(stores, settings)
    app.include_router(identity_router(idsync, IdentityAuth(directory)))
    app.include_router(identity_admin_router(bearer, idsync, queries.in_workspace))
    app.include_router(activity_router(bearer, queries, editor))
    app.include_router(
        calculated_router(
            bearer, CalculatedAdmin(calculated, CalculatedSettings(settings.calculated_max_active))
        )
    )
    app.include_router(
        seeding_router(
            SeedingService(
                directory.authenticate,
                directory.workspace,
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
    web_sdk = WebSdkService(ingest, directory)
    browser_app = WebSdkApp(web_sdk, settings.limits.max_request_bytes, app)
    events_app = EventsApp(ingest, settings.limits.max_request_bytes, browser_app)
    # Outermost: bodies are capped before any route reads them; one access-log line per request.
    access_log = AccessLog() if settings.http.access_log else None
    return HttpGuard(events_app, settings.limits.max_request_bytes, settings.http.max_body_bytes, access_log)


def connection_workspace(stores: Stores) -> Callable[[int], int | None]:
    def lookup(connection_id: int) -> int | None:
        found = stores.delivery.outputs.get_connection(connection_id)
        return None if found is None else found.workspace_id

    return lookup


def delivery_api(config: ConfigStore, stores: DeliveryStores, hooks: ConnectionHooks) -> DeliveryApi:
    outputs = outputs_service(config, stores)
    return DeliveryApi(
        outputs=outputs,
        queue=stores.queue,
        replay=replay_service(config, stores, hooks),
        reports=ReportsService(outputs, stores.log),
        live=OutboundLiveStream(stores.log),
    )
