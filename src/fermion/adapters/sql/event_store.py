"""SqlEventStore: the EventStore port (processed batches and their events) over SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Engine,
    Insert,
    Row,
    Table,
    any_,
    bindparam,
    cast,
    exists,
    func,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from fermion.adapters.sql.engine import write_engine
from fermion.adapters.sql.raw_many import RawMany, RawQuery
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


class SqlEventStore:
    """Processed batches and their events in SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write = write_engine(engine)
        self._dialect = engine.dialect.name
        self._insert_batches: Insert
        self._insert_events: Insert
        self._raw_batches: RawMany | None = None
        self._raw_events: RawMany | None = None
        if self._dialect == "sqlite":
            self._insert_batches = sqlite.insert(batches_t).on_conflict_do_nothing()
            self._insert_events = sqlite.insert(events_t).on_conflict_do_nothing()
            self._raw_batches = RawMany(self._insert_batches, engine.dialect, _BATCH_COLUMNS)
            self._raw_events = RawMany(self._insert_events, engine.dialect, _EVENT_COLUMNS)
        elif self._dialect == "postgresql":
            self._insert_batches = _pg_unnest_insert(batches_t, _BATCH_COLUMNS)
            self._insert_events = _pg_unnest_insert(events_t, _EVENT_COLUMNS)
        else:
            raise ValueError(f"unsupported database dialect {self._dialect!r}")
        self._insert_batches = self._insert_batches.returning(batches_t.c.batch_id)
        # The duplicate checks of `save`, built once with all values in one parameter (see `_values`).
        b = batches_t.c
        self._q_known_ids = RawQuery(select(b.batch_id).where(self._in_param(b.batch_id)), engine.dialect)
        self._q_known_requests = RawQuery(
            select(b.source_request_id).where(
                b.input_id == bindparam("input", type_=BigInteger()), self._in_param(b.source_request_id)
            ),
            engine.dialect,
        )

    # -- writing -------------------------------------------------------------------------------

    def save(self, batches: Sequence[ProcessedBatch]) -> list[int]:
        """Store batches atomically; return the batch ids that were new (see EventStore.save)."""
        candidates = _unique_in_call(batches)
        if not candidates:
            return []
        with self._write.begin() as conn:
            if self._dialect == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(_PG_SAVE_LOCK)))
            known_ids = self._existing_batch_ids(conn, [b.batch_id for b in candidates])
            known_requests = self._existing_requests(
                conn,
                [(b.input_id, b.source_request_id) for b in candidates if b.source_request_id is not None],
            )
            new = [
                b
                for b in candidates
                if b.batch_id not in known_ids and (b.input_id, b.source_request_id) not in known_requests
            ]
            if not new:
                return []
            batch_rows = [self._batch_params(b) for b in new]
            inserted = self._insert_new_batches(conn, new, batch_rows)
            stored = [b for b in new if b.batch_id in inserted]
            event_rows = self._event_params(stored)
            if event_rows:
                if self._raw_events is not None:
                    self._raw_events.run(conn, event_rows)
                else:
                    conn.execute(self._insert_events, self._bulk(event_rows, _EVENT_COLUMNS))
        return [b.batch_id for b in stored]

    def _insert_new_batches(
        self, conn: Connection, new: Sequence[ProcessedBatch], rows: list[dict[str, Any]]
    ) -> set[int]:
        """Insert the batches found new; return the ids actually inserted (ON CONFLICT DO NOTHING)."""
        if self._raw_batches is None:
            # RETURNING: the ids actually inserted, even if the checks raced with a writer that
            # bypassed the save lock.
            return set(conn.execute(self._insert_batches, self._bulk(rows, _BATCH_COLUMNS)).scalars())
        # SQLite: BEGIN IMMEDIATE holds the only write lock since the checks, so every new batch goes
        # in; a plain executemany (no RETURNING) is several times cheaper. Should the row count ever
        # disagree, the rows now present are the ones this transaction added.
        ids = [b.batch_id for b in new]
        if self._raw_batches.run(conn, rows) == len(rows):
            return set(ids)
        return self._existing_batch_ids(conn, ids)

    def _bulk(self, rows: list[dict[str, Any]], names: Sequence[str]) -> Any:
        """Parameters for a bulk insert: executemany rows, or one array per column on PostgreSQL."""
        if self._dialect == "postgresql":
            return {name: [row[name] for row in rows] for name in names}
        return rows

    @staticmethod
    def _batch_params(batch: ProcessedBatch) -> dict[str, Any]:
        return {
            "batch_id": batch.batch_id,
            "workspace_id": batch.workspace_id,
            "input_id": batch.input_id,
            "environment": batch.environment,
            "mpid": batch.mpid,
            "received_ms": batch.received_ms,
            "historical": batch.historical,
            "source_request_id": batch.source_request_id,
            "device_ids": _encode_json(batch.device_ids).decode(),
            "payload": batch.payload,
        }

    @staticmethod
    def _event_params(stored: Sequence[ProcessedBatch]) -> list[dict[str, Any]]:
        seen: set[tuple[int, int]] = set()
        params: list[dict[str, Any]] = []
        for batch in stored:
            for ev in batch.events:
                key = (batch.workspace_id, ev.event_id)
                if key in seen:
                    continue
                seen.add(key)
                params.append(
                    {
                        "workspace_id": batch.workspace_id,
                        "event_id": ev.event_id,
                        "batch_id": batch.batch_id,
                        "mpid": batch.mpid,
                        "event_type": ev.event_type,
                        "event_name": ev.event_name,
                        "timestamp_ms": ev.timestamp_ms,
                        "environment": batch.environment,
                        "input_id": batch.input_id,
                        "payload": ev.payload,
                    }
                )
        return params

    def _in_param(self, column: Column[Any]) -> ColumnElement[bool]:
        """ "column IN :values" with every value in one parameter: an array on PostgreSQL, a JSON list
        read by json_each() on SQLite (the SQL text never changes, so it is compiled once)."""
        if self._dialect == "postgresql":
            return column == any_(cast(bindparam("values"), postgresql.ARRAY(column.type)))
        return column.in_(select(func.json_each(bindparam("values")).table_valued("value").c.value))

    def _values(self, values: Sequence[Any]) -> Any:
        return list(values) if self._dialect == "postgresql" else _encode_json(list(values)).decode()

    def _existing_batch_ids(self, conn: Connection, batch_ids: Sequence[int]) -> set[int]:
        return {row[0] for row in self._q_known_ids.run(conn, {"values": self._values(batch_ids)})}

    def _existing_requests(
        self, conn: Connection, requests: Sequence[tuple[int, str | None]]
    ) -> set[tuple[int, str | None]]:
        # One "input_id = ? AND source_request_id IN (...)" per input: an exact index range scan
        # (a row-value IN list of hundreds of pairs plans slowly on PostgreSQL).
        by_input: dict[int, list[str | None]] = {}
        for input_id, request_id in requests:
            by_input.setdefault(input_id, []).append(request_id)
        found: set[tuple[int, str | None]] = set()
        for input_id, request_ids in by_input.items():
            params = {"input": input_id, "values": self._values(request_ids)}
            found.update((input_id, row[0]) for row in self._q_known_requests.run(conn, params))
        return found

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
        query = query.order_by(batches_t.c.seq.desc() if flt.newest_first else batches_t.c.seq.asc())
        query = query.limit(max(flt.limit, 0))
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_batch_row(row) for row in rows]

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
