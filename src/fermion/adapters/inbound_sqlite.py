"""The embedded inbound log: a SQLite file in WAL mode, written by one thread that group-commits.

Requests queue their records and wait; the writer thread commits everything queued meanwhile in one
transaction (one fsync) and wakes all those waiters with one call into their event loop, so the loop
keeps serving requests while the disk syncs. Acknowledged records are deleted, so whatever is still
in the table after a crash is delivered again.

Dead letters live in the same file (table `inbound_dead`): a record's failed processing attempts are
counted in its row (so a restart does not forget them); at the maximum the row moves to `inbound_dead`,
and a replay moves it back (a new seq, attempts reset), all in one transaction each.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from operator import attrgetter
from pathlib import Path
from typing import Any

from fermion.adapters.private_files import private_sqlite
from fermion.model.records import InboundRecord
from fermion.ports.inbound import DeadLetterSummary, InboundDeadLetter, ProcessingFailure

# The record's columns, the same in the queue and in its dead letters.
_RECORD_COLUMNS = """
    batch_id INTEGER NOT NULL,
    workspace_id INTEGER NOT NULL,
    input_id INTEGER NOT NULL,
    environment TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    source_ip TEXT NOT NULL,
    request_id TEXT NOT NULL,
    historical INTEGER NOT NULL,
    payload BLOB NOT NULL,"""
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS inbound (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,{_RECORD_COLUMNS}
    lane INTEGER NOT NULL DEFAULT 0,
    plain INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0
)
"""
_DEAD_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS inbound_dead (
    id INTEGER PRIMARY KEY AUTOINCREMENT,{_RECORD_COLUMNS}
    lane INTEGER NOT NULL,
    plain INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    reason TEXT NOT NULL,
    dead_ms INTEGER NOT NULL
)
"""
_FIELDS = (
    "batch_id, workspace_id, input_id, environment, received_ms, source_ip, request_id, historical,"
    " payload, lane, plain"
)
_DEAD_SELECT = f"SELECT id, {_FIELDS}, reason, attempts, dead_ms FROM inbound_dead"
DEFAULT_MAX_ATTEMPTS = 5
_INSERT_PREFIX = f"INSERT INTO inbound ({_FIELDS}) VALUES "
_COLUMNS = 11
_ROW = "(?,?,?,?,?,?,?,?,?,?,?)"
_ROWS_PER_STATEMENT = 500  # 5,500 variables, well under SQLite's 32,766
_SELECT = f"SELECT seq, {_FIELDS} FROM inbound WHERE seq > ?{{lanes}} ORDER BY seq LIMIT ?"
_POLL_S = 0.01
_SEQ = attrgetter("seq")
_CHECKPOINT_EVERY_S = 0.5


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk (WAL fsynced) before the client hears 202.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class _Op:
    """Records to insert and seqs to delete (committed with other ops), or `apply`: its own transaction."""

    __slots__ = ("apply", "deletes", "future", "inserts", "loop", "result")

    def __init__(
        self,
        inserts: Sequence[InboundRecord],
        deletes: Sequence[int],
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[int],
        apply: Callable[[sqlite3.Connection], int] | None = None,
    ) -> None:
        self.inserts = inserts
        self.deletes = deletes
        self.loop = loop
        self.future = future
        self.apply = apply
        self.result = 0


def _settle(group: list[_Op], error: BaseException | None) -> None:
    for op in group:
        if op.future.done():
            continue
        if error is None:
            op.future.set_result(op.result)
        else:
            op.future.set_exception(error)


def _record(r: Sequence[Any], seq: int = 0) -> InboundRecord:
    """An InboundRecord from the `_FIELDS` columns of a row."""
    return InboundRecord(
        seq=seq,
        batch_id=r[0],
        workspace_id=r[1],
        input_id=r[2],
        environment=r[3],
        received_ms=r[4],
        source_ip=r[5],
        request_id=r[6],
        historical=bool(r[7]),
        payload=r[8],
        lane=r[9],
        plain=bool(r[10]),
    )


def _dead_where(workspace_id: int | None, ids: Sequence[int] | None) -> tuple[str, list[int]]:
    clauses, params = [], []
    if workspace_id is not None:
        clauses.append("workspace_id = ?")
        params.append(workspace_id)
    if ids is not None:
        clauses.append(f"id IN ({','.join('?' * len(ids))})")
        params.extend(ids)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


class SqliteInboundLog:
    """InboundLog over a SQLite file; safe to open from several processes at once.

    Appends and acks must come from one event loop (the one that first calls them). With
    `lane=(i, n)`, fetch hands out only records whose lane % n == i: n workers share the log, each
    taking the batches of its own senders in log order.
    """

    def __init__(
        self, path: Path, lane: tuple[int, int] = (0, 1), max_attempts: int = DEFAULT_MAX_ATTEMPTS
    ) -> None:
        index, count = lane
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"lane {index} of {count} does not exist")
        private_sqlite(path)  # 0600, before SQLite creates it 0644
        self._path = path
        self._max_attempts = max(1, max_attempts)
        self._writer = _connect(path)
        self._writer.execute(_SCHEMA)
        self._writer.execute(_DEAD_SCHEMA)
        columns = {row[1] for row in self._writer.execute("PRAGMA table_info(inbound)")}
        for column in ("lane", "plain", "attempts"):  # a log written before the column existed
            if column not in columns:
                self._writer.execute(f"ALTER TABLE inbound ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")
        self._select = _SELECT.format(lanes=f" AND lane % {count} = {index}" if count > 1 else "")
        # Checkpoints copy the WAL into the database file and fsync it; done inside a commit they
        # would delay every waiter, so a background thread does them (PASSIVE never blocks writers).
        self._writer.execute("PRAGMA wal_autocheckpoint=0")
        self._queue: queue.SimpleQueue[_Op | None] = queue.SimpleQueue()
        self._writer_thread = threading.Thread(target=self._write_loop, name="inbound-writer", daemon=True)
        self._writer_thread.start()
        self._stop_checkpoints = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="inbound-checkpoint", daemon=True
        )
        self._checkpointer.start()
        self._reader = _connect(path)
        self._reader_lock = threading.Lock()
        self._cursor = 0  # highest seq handed out by fetch in this process
        self._closed = False

    async def append(self, records: Sequence[InboundRecord]) -> None:
        await self._submit(records, ())

    async def ack(self, records: Sequence[InboundRecord]) -> None:
        if records:
            await self._submit((), list(map(_SEQ, records)))

    async def fetch(self, max_records: int, wait_s: float) -> list[InboundRecord]:
        deadline = time.monotonic() + wait_s
        while True:
            rows = await asyncio.to_thread(self._read, max_records)
            if rows or time.monotonic() >= deadline or self._closed:
                return rows
            await asyncio.sleep(_POLL_S)

    async def failed(self, failures: Sequence[ProcessingFailure]) -> None:
        """Count an attempt for each record; move those at the maximum to the dead letters. The others
        are fetched again: the cursor goes back before them (what lies between was acknowledged)."""
        if not failures:
            return
        now_ms = int(time.time() * 1000)
        params = [(f.reason, now_ms, f.record.seq, self._max_attempts) for f in failures]

        def apply(conn: sqlite3.Connection) -> int:
            conn.executemany(
                "UPDATE inbound SET attempts = attempts + 1 WHERE seq = ?", [(p[2],) for p in params]
            )
            conn.executemany(
                f"INSERT INTO inbound_dead ({_FIELDS}, attempts, reason, dead_ms) SELECT {_FIELDS},"
                " attempts, ?, ? FROM inbound WHERE seq = ? AND attempts >= ?",
                params,
            )
            conn.executemany("DELETE FROM inbound WHERE seq = ? AND attempts >= ?", [p[2:] for p in params])
            return 0

        await self._submit_apply(apply)
        with self._reader_lock:
            self._cursor = min(self._cursor, min(f.record.seq for f in failures) - 1)

    async def dead_letters(
        self, workspace_id: int | None = None, limit: int = 1000
    ) -> list[InboundDeadLetter]:
        where, params = _dead_where(workspace_id, None)

        def read() -> list[InboundDeadLetter]:
            with self._reader_lock:
                rows = self._reader.execute(f"{_DEAD_SELECT}{where} ORDER BY id LIMIT ?", [*params, limit])
                return [
                    InboundDeadLetter(
                        id=r[0], record=_record(r[1:12]), reason=r[12], attempts=r[13], dead_ms=r[14]
                    )
                    for r in rows.fetchall()
                ]

        return await asyncio.to_thread(read)

    async def replay_dead_letters(self, workspace_id: int | None, ids: Sequence[int] | None = None) -> int:
        where, params = _dead_where(workspace_id, ids)

        def apply(conn: sqlite3.Connection) -> int:
            conn.execute(
                f"INSERT INTO inbound ({_FIELDS}) SELECT {_FIELDS} FROM inbound_dead{where} ORDER BY id",
                params,
            )
            return conn.execute(f"DELETE FROM inbound_dead{where}", params).rowcount

        return await self._submit_apply(apply)

    async def dead_letter_summary(self, workspace_id: int | None = None) -> DeadLetterSummary:
        where, params = _dead_where(workspace_id, None)

        def read() -> DeadLetterSummary:
            with self._reader_lock:
                count, last_ms = self._reader.execute(
                    f"SELECT count(*), max(dead_ms) FROM inbound_dead{where}", params
                ).fetchone()
                last = self._reader.execute(
                    f"SELECT reason FROM inbound_dead{where} ORDER BY id DESC LIMIT 1", params
                ).fetchone()
            return DeadLetterSummary(
                count=int(count), last_seen_ms=last_ms, last_reason=last[0] if last else None
            )

        return await asyncio.to_thread(read)

    def dead_letter_count(self) -> int:
        with self._reader_lock:
            row = self._reader.execute("SELECT count(*) FROM inbound_dead").fetchone()
        return int(row[0])

    def pending(self) -> int:
        """Records not yet acknowledged (the processing backlog)."""
        with self._reader_lock:
            row = self._reader.execute("SELECT count(*) FROM inbound").fetchone()
        return int(row[0])

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        await asyncio.to_thread(self._writer_thread.join)
        self._stop_checkpoints.set()
        await asyncio.to_thread(self._checkpointer.join)
        with self._reader_lock:
            self._reader.close()

    async def _submit(
        self,
        inserts: Sequence[InboundRecord],
        deletes: Sequence[int],
        apply: Callable[[sqlite3.Connection], int] | None = None,
    ) -> int:
        if self._closed:
            raise RuntimeError("inbound log is closed")
        loop = asyncio.get_running_loop()
        op = _Op(inserts, deletes, loop, loop.create_future(), apply)
        self._queue.put(op)
        return await op.future

    async def _submit_apply(self, apply: Callable[[sqlite3.Connection], int]) -> int:
        return await self._submit((), (), apply)

    def _checkpoint_loop(self) -> None:
        conn = _connect(self._path)
        try:
            while not self._stop_checkpoints.wait(_CHECKPOINT_EVERY_S):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    def _read(self, max_records: int) -> list[InboundRecord]:
        with self._reader_lock:
            rows = self._reader.execute(self._select, (self._cursor, max_records)).fetchall()
            if rows:
                self._cursor = rows[-1][0]
        return [_record(r[1:], seq=r[0]) for r in rows]

    def _write_loop(self) -> None:
        while True:
            first = self._queue.get()
            group = [first] if first is not None else []
            stop = first is None
            while not stop:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                else:
                    group.append(nxt)
            batched = [op for op in group if op.apply is None]
            if batched:
                self._commit(batched)
            for op in group:
                if op.apply is not None:  # its own transaction: a failure here never fails appends
                    self._commit([op])
            if stop:
                self._writer.close()
                return

    def _commit(self, group: list[_Op]) -> None:
        conn = self._writer
        error: BaseException | None = None
        try:
            conn.execute("BEGIN IMMEDIATE")
            # One multi-row statement, not executemany: each statement step releases and retakes
            # the GIL, and every retake can wait a full switch interval behind the event loop.
            rows = [
                value
                for op in group
                for r in op.inserts
                for value in (
                    r.batch_id,
                    r.workspace_id,
                    r.input_id,
                    r.environment,
                    r.received_ms,
                    r.source_ip,
                    r.request_id,
                    int(r.historical),
                    r.payload,
                    r.lane,
                    int(r.plain),
                )
            ]
            for start in range(0, len(rows), _ROWS_PER_STATEMENT * _COLUMNS):
                chunk = rows[start : start + _ROWS_PER_STATEMENT * _COLUMNS]
                conn.execute(_INSERT_PREFIX + ",".join([_ROW] * (len(chunk) // _COLUMNS)), chunk)
            for op in group:
                if op.apply is not None:
                    op.result = op.apply(conn)
            deletes = [seq for op in group for seq in op.deletes]
            for start in range(0, len(deletes), _ROWS_PER_STATEMENT * _COLUMNS):
                chunk_ids = deletes[start : start + _ROWS_PER_STATEMENT * _COLUMNS]
                conn.execute(
                    f"DELETE FROM inbound WHERE seq IN ({','.join('?' * len(chunk_ids))})", chunk_ids
                )
            conn.execute("COMMIT")
        except Exception as exc:
            error = exc
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        by_loop: dict[asyncio.AbstractEventLoop, list[_Op]] = {}
        for op in group:
            by_loop.setdefault(op.loop, []).append(op)
        for loop, ops in by_loop.items():
            if not loop.is_closed():
                loop.call_soon_threadsafe(_settle, ops, error)
