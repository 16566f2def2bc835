"""Wiring of the delivery area (called from bootstrap): stores, services, the forwarding phase, the
sender and the API bundle, all from Settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from fermion.adapters.fernet_cipher import FernetCipher
from fermion.adapters.sql.audience_store import SqlAudienceStore
from fermion.adapters.sql.delivery_log import SqlDeliveryLog
from fermion.adapters.sql.delivery_store import SqlDeliveryQueue
from fermion.adapters.sql.output_store import SqlOutputStore
from fermion.delivery.audience_forwarding import AudienceDelivery
from fermion.delivery.forwarding import ForwardingPhase
from fermion.delivery.outputs import OutputsService
from fermion.delivery.replay import ReplayService
from fermion.delivery.retry import RetryPolicy
from fermion.delivery.routing import Routes
from fermion.delivery.sender import Sender, SenderOptions
from fermion.delivery.stages import ConnectionHooks
from fermion.ports import ConfigStore
from fermion.scaleout import secrets_key
from fermion.settings import Settings

SECRET_KEY_FILE = "secret.key"


@dataclass
class DeliveryStores:
    outputs: SqlOutputStore
    queue: SqlDeliveryQueue
    log: SqlDeliveryLog
    cipher: FernetCipher
    settings: Settings
    # Senders in this process: told when the forwarding phase or a replay queues something.
    listeners: list[Callable[[], None]] = field(default_factory=list)

    def notify(self) -> None:
        for listener in self.listeners:
            listener()


def open_delivery(settings: Settings, engine: Engine) -> DeliveryStores:
    key = settings.delivery.secret_key or secrets_key(settings, engine, settings.data_dir / SECRET_KEY_FILE)
    return DeliveryStores(
        outputs=SqlOutputStore(engine),
        queue=SqlDeliveryQueue(engine),
        log=SqlDeliveryLog(engine),
        cipher=FernetCipher(key),
        settings=settings,
    )


def outputs_service(config: ConfigStore, stores: DeliveryStores) -> OutputsService:
    return OutputsService(config, stores.outputs, stores.cipher)


def routes(config: ConfigStore, stores: DeliveryStores, hooks: ConnectionHooks) -> Routes:
    return Routes(outputs_service(config, stores), hooks.loaders, stores.settings.config_cache_ttl_s)


def forwarding_phase(config: ConfigStore, stores: DeliveryStores, hooks: ConnectionHooks) -> ForwardingPhase:
    return ForwardingPhase(
        routes(config, stores, hooks), stores.queue, hooks, on_enqueued=stores.notify, alerts=stores.log
    )


def audience_sink(config: ConfigStore, stores: DeliveryStores) -> AudienceDelivery:
    """Where audience evaluation publishes membership changes: queued for each audience connection."""
    ttl = stores.settings.config_cache_ttl_s
    return AudienceDelivery(
        Routes(outputs_service(config, stores), (), ttl), stores.queue, stores.log, on_enqueued=stores.notify
    )


def audience_workspace(engine: Engine) -> Callable[[int], int | None]:
    """The workspace of an audience (None: no such audience, or deleted): checked when connecting."""
    store = SqlAudienceStore(engine)

    def lookup(audience_id: int) -> int | None:
        found = store.get(audience_id)
        return None if found is None else found.workspace_id

    return lookup


def replay_service(config: ConfigStore, stores: DeliveryStores, hooks: ConnectionHooks) -> ReplayService:
    return ReplayService(
        outputs_service(config, stores),
        routes(config, stores, hooks),
        stores.queue,
        hooks,
        on_enqueued=stores.notify,
    )


def build_sender(config: ConfigStore, stores: DeliveryStores, hooks: ConnectionHooks) -> Sender:
    d = stores.settings.delivery
    policy = RetryPolicy(
        max_attempts=d.max_attempts,
        base_s=d.backoff_base_s,
        max_s=d.backoff_max_s,
        max_retry_after_s=d.max_retry_after_s,
    )
    options = SenderOptions(
        poll_s=d.poll_s,
        idle_poll_s=d.idle_poll_s,
        max_batch_size=d.max_batch_size or None,
        done_retention_s=d.done_retention_s,
        live_per_s=d.live_per_s,
    )
    # aiohttp and boto3: imported by the process that sends, not by every command that opens the stores.
    from fermion.adapters.delivery import AwsTransport, HttpTransport, RoutingTransport

    transport = RoutingTransport(HttpTransport(), AwsTransport(d.aws_endpoint_url or None))
    sender = Sender(routes(config, stores, hooks), stores.queue, stores.log, transport, policy, options)
    stores.listeners.append(sender.notify)
    return sender
