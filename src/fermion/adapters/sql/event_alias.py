"""SqlEventReattribution: moves a window of one MPID's stored events to another MPID (aliasing).

Kept apart from SqlEventStore: it only updates `events.mpid`, using the (workspace_id, mpid,
timestamp_ms, event_id) index. Batch rows keep the MPID they were processed with (the Live Stream
shows what arrived)."""

from __future__ import annotations

from sqlalchemy import Engine, update

from fermion.adapters.sql.engine import write_engine
from fermion.adapters.sql.schema import events


class SqlEventReattribution:
    def __init__(self, engine: Engine) -> None:
        self._write = write_engine(engine)

    def reassign_mpid(
        self, workspace_id: int, source_mpid: int, destination_mpid: int, since_ms: int, until_ms: int
    ) -> int:
        stmt = (
            update(events)
            .where(
                events.c.workspace_id == workspace_id,
                events.c.mpid == source_mpid,
                events.c.timestamp_ms >= since_ms,
                events.c.timestamp_ms < until_ms,
            )
            .values(mpid=destination_mpid)
        )
        with self._write.begin() as conn:
            moved: int = conn.execute(stmt).rowcount
        return moved
