"""Archiver: copies stored batches, in processing order, into the daily archive."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from fermion.ports import Archive, ConfigStore, EventStore

_CHUNK = 5000  # batches read and appended at a time (each append fsyncs)
_DAY_MS = 86_400_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@lru_cache(maxsize=64)
def _day(day: int) -> str:
    """The UTC day `day` days after the epoch, as the archive names it."""
    return (_EPOCH + dt.timedelta(days=day)).strftime("%Y-%m-%d")


class Archiver:
    def __init__(self, config: ConfigStore, events: EventStore, archive: Archive) -> None:
        self._config = config
        self._events = events
        self._archive = archive

    def run_once(self) -> int:
        """Archive everything stored since the last run; return how many batches were written."""
        written = 0
        progress = self._archive.progress()
        for ws in self._config.list_workspaces():
            after = progress.get(ws.id, 0)
            while True:
                rows = self._events.archive_rows(ws.id, after, _CHUNK)
                if not rows:
                    break
                after = rows[-1][0]
                self._archive.append(ws.id, lines_by_day(rows), after)
                written += len(rows)
                if len(rows) < _CHUNK:
                    break
        return written


def lines_by_day(rows: list[tuple[int, int, bytes]]) -> dict[str, list[bytes]]:
    """The payloads of (seq, received_ms, payload) rows by UTC day, in row order."""
    by_day: dict[str, list[bytes]] = {}
    day = None
    lines: list[bytes] = []
    for _seq, received_ms, payload in rows:
        if received_ms // _DAY_MS != day:  # runs of one day: the day's name looked up once per run
            day = received_ms // _DAY_MS
            lines = by_day.setdefault(_day(day), [])
        lines.append(payload)
    return by_day
