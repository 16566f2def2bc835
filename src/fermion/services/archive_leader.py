"""Runs the daily archive in one process at a time, however many workers there are (scale-out mode)."""

from __future__ import annotations

from collections.abc import Callable

from fermion.ports import Archive, ConfigStore, EventStore
from fermion.ports.coordination import Lease
from fermion.services.archive import Archiver


class LeaderArchiver:
    """Archives only while holding the lease. The archive is reopened on every (re)acquisition: another
    process may have written it meanwhile, and opening it repairs torn writes (only the holder may)."""

    def __init__(
        self, config: ConfigStore, events: EventStore, open_archive: Callable[[], Archive], lease: Lease
    ) -> None:
        self._config = config
        self._events = events
        self._open_archive = open_archive
        self._lease = lease
        self._current: Archiver | None = None

    def run_once(self) -> int:
        if not self._lease.hold():
            self._current = None
            return 0
        if self._current is None:
            self._current = Archiver(self._config, self._events, self._open_archive())
        return self._current.run_once()

    def release(self) -> None:
        self._current = None
        self._lease.release()
