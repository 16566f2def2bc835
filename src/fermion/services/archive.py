"""Archiver: copies stored batches, in processing order, into the daily archive."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from fermion.ports import Archive, BatchFilter, ConfigStore, EventStore

_CHUNK = 2000


_DAY_MS = 86_400_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def day_of(ms: int) -> str:
    return _day(ms // _DAY_MS)  # the UTC day: formatting a datetime per batch was 2% of processing


@lru_cache(maxsize=64)
def _day(day: int) -> str:
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
                rows = self._events.batches(BatchFilter(workspace_id=ws.id, after_seq=after, limit=_CHUNK))
                if not rows:
                    break
                by_day: dict[str, list[bytes]] = {}
                for row in rows:
                    by_day.setdefault(day_of(row.received_ms), []).append(row.payload)
                after = rows[-1].seq
                self._archive.append(ws.id, by_day, after)
                written += len(rows)
                if len(rows) < _CHUNK:
                    break
        return written
