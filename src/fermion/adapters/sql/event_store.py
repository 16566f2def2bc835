"""SqlEventStore: the EventStore port (processed batches and their events) over SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Insert,
    Row,
    Table,
    bindparam,
    cast,
    exists,
    func,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from fermion.adapters.sql.engine import write_engine
from fermion.adapters.sql.raw_many import RawArrays, RawMany, RawQuery
from fermion.adapters.sql.schema import batches as batches_t
from fermion.adapters.sql.schema import events as events_t
from fermion.ports import BatchFilter, BatchRow, EventRow, ProcessedBatch

# Serializes save() on PostgreSQL so that seq values become visible in increasing order
# (a reader polling "seq > last seen" never skips a batch committed late with a lower seq).
# SQLite needs nothing: BEGIN IMMEDIATE already serializes writers.
_PG_SAVE_LOCK = 0x6665726D696F6E  # "fermion"


_encode_json = msgspec.json.Encoder().encode
_decode_device_ids = msgspec.json.Decoder(list[str]).decode


_BATCH_COLUMNS = (
    "batch_id",
    "workspace_id",
    "input_id",
    "environment",
    "mpid",
    "received_ms",
    "historical",
    "source_request_id",
    "device_ids",
    "payload",
)
_EVENT_COLUMNS = (
    "workspace_id",
    "event_id",
    "batch_id",
    "mpid",
    "event_type",
    "event_name",
    "timestamp_ms",
    "environment",
    "input_id",
    "payload",
)


def _pg_unnest_insert(table: Table, names: Sequence[str]) -> Insert:
    """INSERT ... SELECT FROM unnest(one array per column) ON CONFLICT DO NOTHING, in array order.

    One statement with a fixed, short text for any number of rows: far faster on PostgreSQL than
    executemany or multi-row VALUES (whose long SQL psycopg re-parses on every call).
    """
    arrays = [cast(bindparam(name), postgresql.ARRAY(table.c[name].type)) for name in names]
    source = func.unnest(*arrays).table_valued(*names, with_ordinality="ordinality").render_derived()
    rows = select(*(source.c[name] for name in names)).order_by(source.c.ordinality)
    return postgresql.insert(table).from_select(list(names), rows).on_conflict_do_nothing()


def _batch_row(row: Row[Any]) -> BatchRow:
    return BatchRow(
        seq=row.seq,
        batch_id=row.batch_id,
        workspace_id=row.workspace_id,
        input_id=row.input_id,
        environment=row.environment,
        mpid=row.mpid,
        received_ms=row.received_ms,
        historical=bool(row.historical),
        device_ids=_decode_device_ids(row.device_ids),
        payload=bytes(row.payload),
    )


def event_row(row: Row[Any]) -> EventRow:
    return EventRow(
        workspace_id=row.workspace_id,
        batch_id=row.batch_id,
        mpid=row.mpid,
        event_id=row.event_id,
        event_type=row.event_type,
        event_name=row.event_name,
        timestamp_ms=row.timestamp_ms,
        environment=row.environment,
        input_id=row.input_id,
        payload=bytes(row.payload),
    )


def _unique_in_call(batches: Sequence[ProcessedBatch]) -> list[ProcessedBatch]:
    """The batches minus repeats (same batch_id, or same input and source_request_id) of earlier ones."""
    seen_ids: set[int] = set()
    seen_requests: set[tuple[int, str]] = set()
    unique: list[ProcessedBatch] = []
    for batch in batches:
        if batch.batch_id in seen_ids:
            continue
        if batch.source_request_id is not None:
            request = (batch.input_id, batch.source_request_id)
            if request in seen_requests:
                continue
            seen_requests.add(request)
        seen_ids.add(batch.batch_id)
        unique.append(batch)
    return unique


def _batch_values(batch: ProcessedBatch) -> tuple[Any, ...]:
    """The batch's row, in _BATCH_COLUMNS order."""
    return (
        batch.batch_id,
        batch.workspace_id,
        batch.input_id,
        batch.environment,
        batch.mpid,
        batch.received_ms,
        batch.historical,
        batch.source_request_id,
        _encode_json(batch.device_ids).decode(),
        batch.payload,
    )


def _event_values(stored: Sequence[ProcessedBatch]) -> list[tuple[Any, ...]]:
    """The events' rows in _EVENT_COLUMNS order, minus repeats of an earlier one's (workspace, event_id)."""
    seen: set[tuple[int, int]] = set()
    rows: list[tuple[Any, ...]] = []
    for batch in stored:
        ws = batch.workspace_id
        for ev in batch.events:
            key = (ws, ev.event_id)
            if key in seen:
                continue
            seen.add(key)
            rows.append(
                (
                    ws,
                    ev.event_id,
                    batch.batch_id,
                    batch.mpid,
                    ev.event_type,
                    ev.event_name,
                    ev.timestamp_ms,
                    batch.environment,
                    batch.input_id,
                    ev.payload,
                )
            )
    return rows


class SqlEventStore:
    """Processed batches and their events in SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write = write_engine(engine)
        self._dialect = engine.dialect.name
        self._raw_batches: RawMany | None = None
        self._raw_events: RawMany | None = None
        self._pg_batches: RawArrays | None = None
        self._pg_events: RawArrays | None = None
        if self._dialect == "sqlite":
            self._raw_batches = RawMany(
                sqlite.insert(batches_t).on_conflict_do_nothing(), engine.dialect, _BATCH_COLUMNS
            )
            self._raw_events = RawMany(
                sqlite.insert(events_t).on_conflict_do_nothing(), engine.dialect, _EVENT_COLUMNS
            )
        elif self._dialect == "postgresql":
            # RETURNING: the ids actually inserted (ON CONFLICT DO NOTHING skipped the others).
            insert_batches = _pg_unnest_insert(batches_t, _BATCH_COLUMNS).returning(batches_t.c.batch_id)
            self._pg_batches = RawArrays(insert_batches, engine.dialect, _BATCH_COLUMNS)
            self._pg_events = RawArrays(
                _pg_unnest_insert(events_t, _EVENT_COLUMNS), engine.dialect, _EVENT_COLUMNS
            )
        else:
            raise ValueError(f"unsupported database dialect {self._dialect!r}")
        for raw, names in ((self._raw_batches, _BATCH_COLUMNS), (self._raw_events, _EVENT_COLUMNS)):
            if raw is not None and raw.order != names:  # save() builds the rows in this order
                raise ValueError(f"unexpected parameter order {raw.order}")
        b = batches_t.c
        self._q_highest_seq = RawQuery(select(func.max(b.seq)), engine.dialect)
        self._q_archive = RawQuery(
            select(b.seq, b.received_ms, b.payload)
            .where(
                b.workspace_id == bindparam("ws", type_=BigInteger()),
                b.seq > bindparam("after", type_=BigInteger()),
            )
            .order_by(b.seq)
            .limit(bindparam("limit", type_=BigInteger()))
            .offset(bindparam("offset", type_=BigInteger())),  # SQLite's LIMIT needs one: no hidden parameter
            engine.dialect,
        )
        self._q_ids_after = RawQuery(
            select(b.batch_id).where(b.seq > bindparam("after", type_=BigInteger())), engine.dialect
        )

    # -- writing -------------------------------------------------------------------------------

    def save(self, batches: Sequence[ProcessedBatch]) -> list[int]:
        """Store batches atomically; return the batch ids that were new (see EventStore.save).

        No lookups first: INSERT ... ON CONFLICT DO NOTHING skips a batch whose batch_id or (input,
        source_request_id) is stored (both unique constraints), and the ids it did insert decide
        which batches' events go in."""
        candidates = _unique_in_call(batches)
        if not candidates:
            return []
        rows = [_batch_values(b) for b in candidates]
        with self._write.begin() as conn:
            if self._raw_batches is not None:
                inserted = self._insert_sqlite(conn, rows)
            else:
                assert self._pg_batches is not None
                conn.execute(select(func.pg_advisory_xact_lock(_PG_SAVE_LOCK)))
                inserted = {row[0] for row in self._pg_batches.run(conn, rows)}
            stored = candidates if inserted is None else [b for b in candidates if b.batch_id in inserted]
            event_rows = _event_values(stored)
            if self._raw_events is not None:
                self._raw_events.run_tuples(conn, event_rows)
            elif self._pg_events is not None:
                self._pg_events.run(conn, event_rows)
        return [b.batch_id for b in stored]

    def _insert_sqlite(self, conn: Connection, rows: list[tuple[Any, ...]]) -> set[int] | None:
        """Insert the batch rows; the ids inserted, or None if that is all of them.

        BEGIN IMMEDIATE holds SQLite's only write lock, so the rows after the highest seq read first
        are exactly the ones this transaction adds (AUTOINCREMENT: a new seq is above every seq)."""
        assert self._raw_batches is not None
        [(highest,)] = self._q_highest_seq.run(conn, {})
        if self._raw_batches.run_tuples(conn, rows) == len(rows):
            return None
        return {row[0] for row in self._q_ids_after.run(conn, {"after": highest or 0})}

    # -- reading -------------------------------------------------------------------------------

    def _has_device_id(self, device_id: str) -> ColumnElement[bool]:
        if self._dialect == "postgresql":
            return cast(batches_t.c.device_ids, postgresql.JSONB).contains([device_id])
        elements = func.json_each(batches_t.c.device_ids).table_valued("value")
        return exists(select(literal(1)).select_from(elements).where(elements.c.value == device_id))

    def batches(self, flt: BatchFilter) -> list[BatchRow]:
        query = select(batches_t).where(batches_t.c.workspace_id == flt.workspace_id)
        if flt.after_seq:
            query = query.where(batches_t.c.seq > flt.after_seq)
        if flt.input_id is not None:
            query = query.where(batches_t.c.input_id == flt.input_id)
        if flt.environment is not None:
            query = query.where(batches_t.c.environment == flt.environment)
        if flt.mpid is not None:
            query = query.where(batches_t.c.mpid == flt.mpid)
        if flt.device_id is not None:
            query = query.where(self._has_device_id(flt.device_id))
        if flt.historical is not None:
            query = query.where(batches_t.c.historical.is_(flt.historical))
        query = query.order_by(batches_t.c.seq.desc() if flt.newest_first else batches_t.c.seq.asc())
        query = query.limit(max(flt.limit, 0))
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_batch_row(row) for row in rows]

    def archive_rows(self, workspace_id: int, after_seq: int, limit: int) -> list[tuple[int, int, bytes]]:
        params = {"ws": workspace_id, "after": after_seq, "limit": max(limit, 0), "offset": 0}
        with self._engine.connect() as conn:
            return self._q_archive.run(conn, params)  # BLOB and bytea both come back as bytes

    def events(
        self,
        workspace_id: int,
        mpid: int | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        event_type: str | None = None,
        limit: int = 1000,
    ) -> list[EventRow]:
        """Events ordered by timestamp ascending, then event id; since_ms <= timestamp_ms < until_ms."""
        query = select(events_t).where(events_t.c.workspace_id == workspace_id)
        if mpid is not None:
            query = query.where(events_t.c.mpid == mpid)
        if since_ms is not None:
            query = query.where(events_t.c.timestamp_ms >= since_ms)
        if until_ms is not None:
            query = query.where(events_t.c.timestamp_ms < until_ms)
        if event_type is not None:
            query = query.where(events_t.c.event_type == event_type)
        query = query.order_by(events_t.c.timestamp_ms, events_t.c.event_id).limit(max(limit, 0))
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [event_row(row) for row in rows]

    def count_batches(self, workspace_id: int | None = None) -> int:
        query = select(func.count()).select_from(batches_t)
        if workspace_id is not None:
            query = query.where(batches_t.c.workspace_id == workspace_id)
        with self._engine.connect() as conn:
            count: int = conn.execute(query).scalar_one()
        return count
