"""System Alerts (failed deliveries, and batches an output skipped, per connection by type), the Event
Forwarding report (events into, out of and skipped by each connection per day or hour, by message type
and event name) and the outbound Live Stream (a sample of the latest outbound requests per connection).

Inbound minus outbound is what the connection's filters and rules held back, plus what is still on its
way; `skipped` counts the events of batches the output itself could not take (e.g. Heap in Customer ID
mode and a user without one), whose reason System Alerts shows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fermion.delivery.forwarding import SKIPPED
from fermion.delivery.outputs import OutputsService
from fermion.model.delivery import OutboundEntry
from fermion.ports import DeliveryLog

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
ALERTS_WINDOW_MS = 12 * HOUR_MS  # System Alerts' default range: the last 12 hours
POLL_S = 0.5
# Stored count directions (forwarding.add_summary) as the report names them.
_DIRECTIONS = {"in": "inbound", "out": "outbound", SKIPPED: "skipped"}


class ReportsService:
    def __init__(
        self, outputs: OutputsService, log: DeliveryLog, clock: Callable[[], float] = time.time
    ) -> None:
        self._outputs = outputs
        self._log = log
        self._clock = clock

    def _connection_names(self, workspace_id: int) -> dict[int, dict[str, Any]]:
        outputs = {o.id: o for o, _ in self._outputs.list_outputs(workspace_id)}
        names: dict[int, dict[str, Any]] = {}
        for conn, _ in self._outputs.list_connections(workspace_id):
            out = outputs.get(conn.output_id)
            names[conn.id] = {
                "connection_id": conn.id,
                "input_id": conn.input_id,
                "output_id": conn.output_id,
                "integration_id": conn.integration_id,
                "output_name": out.name if out else "",
                "status": conn.status.value,
            }
        return names

    def alerts(
        self,
        workspace_id: int,
        since_ms: int | None = None,
        until_ms: int | None = None,
        environment: str | None = None,
        connection_id: int | None = None,
    ) -> dict[str, Any]:
        """Connections by alert volume (high to low), each with its alerts by type and environment."""
        until = until_ms if until_ms is not None else int(self._clock() * 1000) + 1
        since = since_ms if since_ms is not None else until - ALERTS_WINDOW_MS
        rows = self._log.alerts(workspace_id, since, until, environment, connection_id)
        names = self._connection_names(workspace_id)
        by_conn: dict[int, dict[str, Any]] = {}
        for row in rows:
            entry = by_conn.get(row.connection_id)
            if entry is None:
                base = names.get(row.connection_id, {"connection_id": row.connection_id})
                entry = by_conn[row.connection_id] = {**base, "volume": 0, "last_seen_ms": 0, "alerts": []}
            entry["volume"] += row.count
            entry["last_seen_ms"] = max(entry["last_seen_ms"], row.last_seen_ms)
            entry["alerts"].append(
                {
                    "type": row.error_type,
                    "environment": row.environment,
                    "volume": row.count,
                    "last_seen_ms": row.last_seen_ms,
                    "last_message": row.last_message,
                }
            )
        connections = sorted(by_conn.values(), key=lambda c: (-c["volume"], c["connection_id"]))
        return {
            "since_ms": since,
            "until_ms": until,
            "environment": environment or "all",
            "connections": connections,
        }

    def forwarding(
        self, workspace_id: int, day: date, hour: int | None = None, connection_id: int | None = None
    ) -> dict[str, Any]:
        """Inbound, outbound and skipped event counts per connection for a UTC day (or one hour of it)."""
        start = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hour or 0)
        since = int(start.timestamp() * 1000)
        until = since + (HOUR_MS if hour is not None else DAY_MS)
        rows = self._log.counts(workspace_id, since, until, connection_id)
        names = self._connection_names(workspace_id)
        by_conn: dict[int, dict[str, Any]] = {}
        totals = {"inbound": 0, "outbound": 0, "skipped": 0}
        for row in rows:
            entry = by_conn.get(row.connection_id)
            if entry is None:
                base = names.get(row.connection_id, {"connection_id": row.connection_id})
                entry = by_conn[row.connection_id] = {
                    **base,
                    "inbound": 0,
                    "outbound": 0,
                    "skipped": 0,
                    "_events": {},
                    "_hours": {},
                }
            direction = _DIRECTIONS.get(row.direction, "outbound")
            entry[direction] += row.count
            totals[direction] += row.count
            ev = entry["_events"].setdefault(
                (row.message_type, row.event_name),
                {
                    "message_type": row.message_type,
                    "event_name": row.event_name,
                    "inbound": 0,
                    "outbound": 0,
                    "skipped": 0,
                },
            )
            ev[direction] += row.count
            hr = entry["_hours"].setdefault(
                row.hour_ms,
                {
                    "hour": (row.hour_ms - since) // HOUR_MS + (hour or 0),
                    "inbound": 0,
                    "outbound": 0,
                    "skipped": 0,
                },
            )
            hr[direction] += row.count
        connections = []
        for entry in sorted(by_conn.values(), key=lambda c: c["connection_id"]):
            entry["events"] = sorted(
                entry.pop("_events").values(), key=lambda e: (e["message_type"], e["event_name"])
            )
            hours = entry.pop("_hours")
            entry["hours"] = [hours[h] for h in sorted(hours)]
            connections.append(entry)
        return {
            "day": day.isoformat(),
            "hour": hour,
            "since_ms": since,
            "until_ms": until,
            **totals,
            "connections": connections,
        }


class OutboundLiveStream:
    def __init__(self, log: DeliveryLog) -> None:
        self._log = log

    def latest(
        self, workspace_id: int, connection_id: int | None = None, limit: int = 100
    ) -> list[OutboundEntry]:
        return self._log.outbound(workspace_id, connection_id, 0, limit, newest_first=True)

    async def follow(
        self, workspace_id: int, connection_id: int | None, limit: int, stop: asyncio.Event
    ) -> AsyncIterator[OutboundEntry]:
        """The recent entries oldest first, then each new one as it is written."""
        recent = await asyncio.to_thread(self.latest, workspace_id, connection_id, limit)
        after = max((e.id for e in recent), default=0)
        if not recent:
            newest = await asyncio.to_thread(self._log.outbound, workspace_id, None, 0, 1, True)
            after = newest[0].id if newest else 0
        for entry in reversed(recent):
            yield entry
        while not stop.is_set():
            rows = await asyncio.to_thread(self._log.outbound, workspace_id, connection_id, after, 500, False)
            for entry in rows:
                after = entry.id
                yield entry
            if not rows:
                await asyncio.sleep(POLL_S)


def entry_json(entry: OutboundEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "connection_id": entry.connection_id,
        "created_ms": entry.created_ms,
        "environment": entry.environment,
        "kind": entry.kind,
        "target": entry.target,
        "status": entry.status,
        "outcome": entry.outcome,
        "error_type": entry.error_type,
        "error": entry.error,
        "latency_ms": entry.latency_ms,
        "attempt": entry.attempt,
        "batch_ids": entry.batch_ids,
        "body": entry.body.decode("utf-8", "replace"),
    }
