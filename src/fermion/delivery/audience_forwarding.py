"""Audience delivery: queues each membership change for every active connection of its audience, so
the sender's lanes deliver it like any batch (bulk window, retries with backoff, dead letters, replay
of dead letters, System Alerts, outbound Live Stream).

Idempotent: an item's batch id is the change's `change_id` and the queue keeps one item per
(connection, batch), so publishing the same change again (a re-evaluation after a crash) queues nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from fermion.delivery.forwarding import add_summary
from fermion.delivery.routing import Routes
from fermion.model.audiences import MembershipChange, encode_changes
from fermion.model.delivery import CountKey, QueueItem
from fermion.ports import DeliveryLog, DeliveryQueue

# The forwarding report's message type for membership changes (the event name is the audience name).
AUDIENCE_MEMBERSHIP = "audience_membership"


def queue_item(change: MembershipChange, connection_id: int) -> QueueItem:
    return QueueItem(
        connection_id=connection_id,
        workspace_id=change.workspace_id,
        batch_id=change.change_id,
        input_id=0,  # an audience connection has no input
        environment=change.environment,
        mpid=change.mpid,
        received_ms=change.changed_ms,
        payload=encode_changes(change),
        summary=[(AUDIENCE_MEMBERSHIP, change.audience_name, 1)],
    )


class AudienceDelivery:
    """The sink audience evaluation publishes its membership changes to."""

    def __init__(
        self,
        routes: Routes,
        queue: DeliveryQueue,
        log: DeliveryLog,
        on_enqueued: Callable[[], None] | None = None,
    ) -> None:
        self._routes = routes
        self._queue = queue
        self._log = log
        self.on_enqueued = on_enqueued  # wakes the senders of this process

    def publish(self, changes: Sequence[MembershipChange], now_ms: int) -> None:
        """Queue every change for each active connection of its audience (in one transaction), and
        count them into the forwarding report once: when published again they are not counted."""
        if not changes:
            return
        table = self._routes.current()
        if not table.by_audience:
            return
        queued: list[QueueItem] = []
        counts: Counter[CountKey] = Counter()
        for change in changes:
            for resolved in table.by_audience.get(change.audience_id, ()):
                conn = resolved.connection
                if conn.workspace_id != change.workspace_id or not conn.sends(change.environment):
                    continue
                item = queue_item(change, conn.id)
                add_summary(counts, item.summary, resolved, "in", now_ms)
                queued.append(item)
        if not queued:
            return
        added = self._queue.enqueue(queued, now_ms, {})
        if added == len(queued):
            self._log.add_counts(counts)
        # else: some were published before (all, after a crash; a mix only when connections changed
        # in between, and nothing tells which): count none rather than some twice.
        if added and self.on_enqueued is not None:
            self.on_enqueued()
