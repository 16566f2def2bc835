"""Which connections each input feeds, with their resolved settings and the hooks' loaded config;
re-read when the outputs/connections change (cheap stamp check) and every `ttl_s` for the loaders."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fermion.delivery.outputs import OutputsService, Resolved
from fermion.delivery.stages import ConnectionLoader

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RouteTable:
    by_id: dict[int, Resolved] = field(default_factory=dict)
    by_input: dict[int, list[Resolved]] = field(default_factory=dict)  # input connections only
    by_audience: dict[int, list[Resolved]] = field(default_factory=dict)  # audience connections
    extras: dict[int, dict[str, Any]] = field(default_factory=dict)  # connection id -> loader name -> value


class Routes:
    def __init__(
        self,
        outputs: OutputsService,
        loaders: Sequence[ConnectionLoader] = (),
        ttl_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._outputs = outputs
        self._loaders = loaders
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._table = RouteTable()
        self._stamp: tuple[int, int] | None = None
        self._loaded_at = float("-inf")

    def current(self) -> RouteTable:
        """The table, refreshed first if the config changed or the loaders' copy is older than ttl_s."""
        with self._lock:
            stamp = self._outputs.stamp()
            now = self._clock()
            if stamp != self._stamp or now - self._loaded_at >= self._ttl_s:
                try:
                    self._table = self._load()
                except Exception:
                    if self._stamp is None:
                        raise  # nothing to fall back on: the caller retries
                    # A failing loader keeps the last good table rather than stopping processing.
                    log.exception("could not reload the connections; using the previous ones")
                    self._loaded_at = now
                    return self._table
                self._stamp, self._loaded_at = stamp, now
            return self._table

    def finish_deletions(self) -> int:
        """Remove the deleted connections (and outputs) whose queued deliveries are finished."""
        return self._outputs.finish_deletions()

    def _load(self) -> RouteTable:
        resolved = self._outputs.resolve_all()
        by_input: dict[int, list[Resolved]] = {}
        by_audience: dict[int, list[Resolved]] = {}
        for r in resolved:
            if r.connection.input_id is not None:
                by_input.setdefault(r.connection.input_id, []).append(r)
            elif r.connection.audience_id is not None:
                by_audience.setdefault(r.connection.audience_id, []).append(r)
        connections = [r.connection for r in resolved]
        extras: dict[int, dict[str, Any]] = {r.connection.id: {} for r in resolved}
        for loader in self._loaders:
            for connection_id, value in loader.load(connections).items():
                if connection_id in extras:
                    extras[connection_id][loader.name] = value
        return RouteTable(
            by_id={r.connection.id: r for r in resolved},
            by_input=by_input,
            by_audience=by_audience,
            extras=extras,
        )
