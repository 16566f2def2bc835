"""SqlEventTimeline: one user's stored events for the User Activity view (reads the event store's tables)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Engine, cast, exists, func, literal, select
from sqlalchemy.dialects import postgresql

from fermion.adapters.sql.event_store import event_row as _event_row
from fermion.adapters.sql.schema import batches as batches_t
from fermion.adapters.sql.schema import events as events_t
from fermion.ports import EventRow, TimelineQuery


class SqlEventTimeline:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name

    def _batch_has_device(self, device_id: str) -> ColumnElement[bool]:
        """The event's batch carried this device identifier (batches.device_ids is a JSON array)."""
        same_batch = batches_t.c.batch_id == events_t.c.batch_id
        if self._dialect == "postgresql":
            has = cast(batches_t.c.device_ids, postgresql.JSONB).contains([device_id])
            return exists(select(literal(1)).select_from(batches_t).where(same_batch, has))
        elements = func.json_each(batches_t.c.device_ids).table_valued("value")
        return exists(
            select(literal(1))
            .select_from(batches_t)
            .join(elements, elements.c.value == device_id)
            .where(same_batch)
        )

    def timeline(self, query: TimelineQuery) -> list[EventRow]:
        t = events_t.c
        stmt = select(events_t).where(t.workspace_id == query.workspace_id, t.mpid == query.mpid)
        if query.since_ms is not None:
            stmt = stmt.where(t.timestamp_ms >= query.since_ms)
        if query.until_ms is not None:
            stmt = stmt.where(t.timestamp_ms < query.until_ms)
        if query.input_id is not None:
            stmt = stmt.where(t.input_id == query.input_id)
        if query.event_type is not None:
            stmt = stmt.where(t.event_type == query.event_type)
        if query.device_id is not None:
            stmt = stmt.where(self._batch_has_device(query.device_id))
        stmt = stmt.order_by(t.timestamp_ms, t.event_id).limit(max(query.limit, 0))
        with self._engine.connect() as conn:
            return [_event_row(row) for row in conn.execute(stmt).all()]
