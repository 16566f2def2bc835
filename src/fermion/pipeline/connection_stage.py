"""Connection stages: pure per-connection hooks run on a batch before it is queued for an output.

Order (fermion.delivery.stages assembles it): data filter → consent forwarding rule → commerce
expansion → the integration's accepted event types → the integration's own skips. Each is `(batch,
ConnectionContext) -> Batch | Drop`; what a stage needs from storage is loaded in bulk beforehand into
`ctx.extras`. The batch they see is already enriched with the user's profile (fermion.profiles.enrich).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from msgspec import structs

from fermion.integrations.spec import Integration, SettingsModel
from fermion.model.batch import Batch
from fermion.model.delivery import Connection
from fermion.model.records import InboundRecord
from fermion.pipeline.stage import Drop


class ConnectionContext(msgspec.Struct, frozen=True, kw_only=True):
    """What a connection stage may know besides the batch (a Struct: built per batch and connection, and
    a frozen dataclass costs ~20x more to construct)."""

    record: InboundRecord
    now_ms: int
    connection: Connection
    integration: Integration[Any, Any]
    output_settings: SettingsModel
    connection_settings: SettingsModel
    # What each ConnectionLoader loaded for this connection, by loader name (data filters, rules...).
    extras: Mapping[str, Any]
    replay: bool = False  # a replay of stored history or dead letters


ConnectionStage = Callable[[Batch, ConnectionContext], "Batch | Drop"]


@dataclass(frozen=True)
class Skipped(Drop):
    """A batch the output cannot take (not one the user's filters or rules hold back): the forwarding
    phase counts it in the forwarding report and shows `message` in System Alerts (type `reason`)."""

    message: str = ""


def run_connection_chain(
    stages: Sequence[ConnectionStage], batch: Batch, ctx: ConnectionContext
) -> Batch | Drop:
    for stage in stages:
        result = stage(batch, ctx)
        if isinstance(result, Drop):
            return result
        batch = result
    return batch


def accepted_event_types(batch: Batch, ctx: ConnectionContext) -> Batch | Drop:
    """Removes events of types the integration does not take; drops a batch left without events
    unless the integration forwards batches without events."""
    accepted = ctx.integration.event_types
    events = batch.events
    if any(e.event_type not in accepted for e in events):
        kept = [e for e in events if e.event_type in accepted]
        if not kept:
            return Drop("unsupported_event_types")
        batch = structs.replace(batch, events=kept)
    if not batch.events and not ctx.integration.options.send_batches_without_events:
        return Drop("no_events")
    return batch


def integration_skip(batch: Batch, ctx: ConnectionContext) -> Batch | Skipped:
    """The integration's own refusals (Integration.skip), e.g. Heap in Customer ID mode and a user
    without a customer id."""
    skip = ctx.integration.skip
    if skip is None:
        return batch
    found = skip(batch, ctx.output_settings, ctx.connection_settings)
    return batch if found is None else Skipped(found.reason, found.message)
