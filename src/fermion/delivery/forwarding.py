"""The forwarding phase: queues each processed batch for every active connection of its input and
environment, after the connection hooks (data filter, consent rule, expansion, accepted event types,
the integration's own skips).

Runs after StoreEvents. The hooks see the batch enriched with the user's current identities, user
attributes and consent (fermion.profiles.enrich, from what the identity and profile phases left on
the item); the stored batch keeps what was received. A batch that enrichment and the hooks leave
unchanged is queued by reference to the stored batch (no second copy). A batch the integration skips
(e.g. no identity to send it under) is counted in the forwarding report and System Alerts. Historical
batches are never forwarded. Idempotent: the queue keeps one item per (connection, batch), so
processing the same records again queues nothing new (and counts nothing again).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from fermion.delivery.outputs import Resolved
from fermion.delivery.routing import Routes, RouteTable
from fermion.delivery.stages import ConnectionContext, ConnectionHooks, Skipped, run_connection_chain
from fermion.model.batch import Batch
from fermion.model.codec import encode_batch, event_name_of
from fermion.model.delivery import AlertRecord, CountKey, QueueItem
from fermion.model.records import InboundRecord
from fermion.pipeline.stage import Drop
from fermion.ports import DeliveryLog, DeliveryQueue
from fermion.profiles.enrich import enrich
from fermion.services.processing import ProcessingReport, WorkItem

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
SKIPPED = "skp"  # forwarding-report direction of events an output skipped (the column holds 3 characters)
Summary = list[tuple[str, str, int]]


class Encoded:
    """One outgoing batch's JSON, shared by the connections of a stored batch that leave the enriched
    batch as it is (encoded once, not once per connection)."""

    __slots__ = ("batch", "payload")

    def __init__(self) -> None:
        self.batch: Batch | None = None
        self.payload = b""

    def of(self, batch: Batch) -> bytes:
        if batch is not self.batch:
            self.batch, self.payload = batch, encode_batch(batch)
        return self.payload


def event_summary(batch: Batch) -> Summary:
    """[(event_type, event_name, count)] of the batch's events (what the forwarding report counts)."""
    events = batch.events
    if len(events) == 1:  # the common case: no counting needed
        return [(events[0].event_type, event_name_of(events[0]), 1)]
    counts: dict[tuple[str, str], int] = {}
    for event in events:
        key = (event.event_type, event_name_of(event))
        counts[key] = counts.get(key, 0) + 1
    return [(t, n, c) for (t, n), c in counts.items()]


def add_summary(
    counts: Counter[CountKey], summary: Summary, resolved: Resolved, direction: str, now_ms: int
) -> None:
    conn = resolved.connection
    hour = now_ms - now_ms % HOUR_MS
    for event_type, name, n in summary:
        key = CountKey(
            workspace_id=conn.workspace_id,
            connection_id=conn.id,
            output_id=conn.output_id,
            hour_ms=hour,
            direction=direction,
            message_type=event_type,
            event_name=name,
        )
        counts[key] += n


class Forwarder:
    """Runs the hooks for one batch and one connection (shared by the phase and replay)."""

    def __init__(self, hooks: ConnectionHooks) -> None:
        self._chain = hooks.chain()

    def route(
        self,
        batch: Batch,
        record: InboundRecord,
        resolved: Resolved,
        table: RouteTable,
        now_ms: int,
        replay_job_id: int | None = None,
        summary: Summary | None = None,
        stored: Batch | None = None,
        encoded: Encoded | None = None,
    ) -> QueueItem | Drop:
        """`summary`: the batch's event_summary when the caller has it (reused if the events stay).
        `stored`: the batch as stored, when `batch` is an enriched copy of it (default: `batch`); a
        result that is the stored batch is queued by reference. `encoded`: shares the JSON of one
        outgoing batch between connections."""
        ctx = ConnectionContext(
            record=record,
            now_ms=now_ms,
            connection=resolved.connection,
            integration=resolved.integration,
            output_settings=resolved.output_settings,
            connection_settings=resolved.connection_settings,
            extras=table.extras.get(resolved.connection.id, {}),
            replay=replay_job_id is not None,
        )
        try:
            result = run_connection_chain(self._chain, batch, ctx)
        except Exception:  # a hook bug must not stop processing (or the other connections)
            log.exception("connection %s: a hook failed on batch %s", resolved.connection.id, record.batch_id)
            return Drop("hook_error")
        if isinstance(result, Drop):
            return result
        if result is (batch if stored is None else stored) and replay_job_id is None:
            payload = None
        else:
            payload = encoded.of(result) if encoded is not None else encode_batch(result)
        return QueueItem(
            connection_id=resolved.connection.id,
            workspace_id=record.workspace_id,
            batch_id=record.batch_id,
            input_id=record.input_id,
            environment=record.environment,
            mpid=result.mpid or 0,
            received_ms=record.received_ms,
            payload=payload,
            summary=summary
            if summary is not None and result.events is batch.events
            else event_summary(result),
            replay_job_id=replay_job_id,
        )


class ForwardingPhase:
    name = "forwarding"

    def __init__(
        self,
        routes: Routes,
        queue: DeliveryQueue,
        hooks: ConnectionHooks,
        on_enqueued: Callable[[], None] | None = None,
        alerts: DeliveryLog | None = None,
    ) -> None:
        """`alerts`: where skipped batches are reported (System Alerts); None: counted only."""
        self._routes = routes
        self._queue = queue
        self._forwarder = Forwarder(hooks)
        self._alerts = alerts
        self.on_enqueued = on_enqueued  # set by whoever runs a sender in this process
        self.drops: Counter[str] = Counter()

    def run(self, items: list[WorkItem], now_ms: int, report: ProcessingReport) -> list[WorkItem]:
        table = self._routes.current()
        if not table.by_input:
            return items
        # A batch stored before (a crash between storing and queueing) is queued now; a duplicate of
        # another batch (same source_request_id, not stored itself) is not.
        again = [i.record.batch_id for i in items if not i.notes.get("new", True)]
        stored_before = self._queue.stored_batch_ids(again) if again else set()
        queued: list[QueueItem] = []
        inbound_counts: Counter[tuple[int, str, str]] = Counter()  # (connection id, type, name) -> events
        skipped: list[tuple[Resolved, Summary, Skipped, str]] = []
        for item in items:
            record = item.record
            connections = table.by_input.get(record.input_id)
            if not connections or record.historical:
                continue
            new = item.notes.get("new", True)
            if not new and record.batch_id not in stored_before:
                continue
            inbound: Summary | None = None
            outgoing = item.batch
            encoded: Encoded | None = None
            for resolved in connections:
                if not resolved.connection.sends(record.environment):
                    continue
                if inbound is None:  # once per batch, when some connection takes it
                    inbound = event_summary(item.batch)
                    outgoing = enrich(item.batch, item.identities, item.profile)
                    encoded = Encoded()
                if new:  # counted once, when first processed
                    cid = resolved.connection.id
                    for event_type, name, n in inbound:
                        inbound_counts[cid, event_type, name] += n
                result = self._forwarder.route(
                    outgoing,
                    record,
                    resolved,
                    table,
                    now_ms,
                    summary=inbound,
                    stored=item.batch,
                    encoded=encoded,
                )
                if isinstance(result, Drop):
                    self.drops[result.reason] += 1
                    if isinstance(result, Skipped) and new:
                        skipped.append((resolved, inbound, result, record.environment))
                else:
                    queued.append(result)
        counts: Counter[CountKey] = Counter()
        for (cid, event_type, name), n in inbound_counts.items():
            add_summary(counts, [(event_type, name, n)], table.by_id[cid], "in", now_ms)
        for resolved, summary, _, _ in skipped:
            accepted = resolved.integration.event_types
            add_summary(counts, [s for s in summary if s[0] in accepted], resolved, SKIPPED, now_ms)
        if queued or counts:
            self._queue.enqueue(queued, now_ms, counts)
        if skipped and self._alerts is not None:
            self._alerts.record_alerts([_alert(r, skip, env, now_ms) for r, _, skip, env in skipped])
        if queued and self.on_enqueued is not None:
            self.on_enqueued()
        return items


def _alert(resolved: Resolved, skip: Skipped, environment: str, now_ms: int) -> AlertRecord:
    return AlertRecord(
        workspace_id=resolved.connection.workspace_id,
        connection_id=resolved.connection.id,
        environment=environment,
        error_type=skip.reason,
        message=skip.message,
        at_ms=now_ms,
    )
