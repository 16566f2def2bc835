"""Buffers what senders report — failed attempts (System Alerts) and outbound requests (outbound Live
Stream) — and writes it in bulk. The Live Stream is a sample: at most `live_per_s` requests per
connection per second are kept (every failure counts in System Alerts regardless)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from fermion.integrations.spec import FirehoseRecord, HttpRequest, OutboundRequest
from fermion.model.delivery import AlertRecord, OutboundEntry
from fermion.ports import DeliveryLog

log = logging.getLogger(__name__)

BODY_EXCERPT = 2048


def describe(request: OutboundRequest) -> tuple[str, str, bytes]:
    """(kind, target, body) as the outbound Live Stream shows a request."""
    if isinstance(request, HttpRequest):
        return "http", f"{request.method} {request.url}", request.body
    if isinstance(request, FirehoseRecord):
        return "firehose", f"firehose://{request.region}/{request.stream}", request.data
    return "s3", f"s3://{request.bucket}/{request.key}", request.body


class Recorder:
    def __init__(self, log_store: DeliveryLog, live_per_s: int = 20) -> None:
        self._store = log_store
        self._live_per_s = live_per_s
        self._lock = threading.Lock()
        self._alerts: list[AlertRecord] = []
        self._entries: list[OutboundEntry] = []
        self._window: dict[int, tuple[int, int]] = {}  # connection id -> (second, entries kept)

    def alert(self, record: AlertRecord) -> None:
        with self._lock:
            self._alerts.append(record)

    def outbound(self, entry: OutboundEntry) -> None:
        second = entry.created_ms // 1000
        with self._lock:
            at, kept = self._window.get(entry.connection_id, (second, 0))
            if at != second:
                at, kept = second, 0
            if kept >= self._live_per_s:
                return
            self._window[entry.connection_id] = (at, kept + 1)
            self._entries.append(entry)

    def flush(self) -> None:
        with self._lock:
            alerts, self._alerts = self._alerts, []
            entries, self._entries = self._entries, []
        try:
            self._store.record_alerts(alerts)
            self._store.log_outbound(entries)
        except Exception:  # reporting must never stop delivery; the counts are lost, not the data
            log.exception("could not write %d alerts / %d outbound entries", len(alerts), len(entries))

    async def run(self, stop: asyncio.Event, every_s: float = 0.5) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
            await asyncio.to_thread(self.flush)
