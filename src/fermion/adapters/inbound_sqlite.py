"""The embedded inbound log: a SQLite file in WAL mode, written by one thread that group-commits.

Requests hand their records to the writer thread and wait; the thread commits everything that
queued up meanwhile in one transaction (one fsync), then wakes every waiter. Acknowledged records
are deleted, so whatever is still in the table after a crash is delivered again.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

from fermion.model.records import InboundRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbound (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id INTEGER NOT NULL,
    workspace_id INTEGER NOT NULL,
    input_id INTEGER NOT NULL,
    environment TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    source_ip TEXT NOT NULL,
    request_id TEXT NOT NULL,
    historical INTEGER NOT NULL,
    payload BLOB NOT NULL
)
"""
_INSERT = (
    "INSERT INTO inbound (batch_id, workspace_id, input_id, environment, received_ms, source_ip,"
    " request_id, historical, payload) VALUES (?,?,?,?,?,?,?,?,?)"
)
_SELECT = (
    "SELECT seq, batch_id, workspace_id, input_id, environment, received_ms, source_ip, request_id,"
    " historical, payload FROM inbound WHERE seq > ? ORDER BY seq LIMIT ?"
)
_MAX_GROUP = 5000
_POLL_S = 0.01


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk (WAL fsynced) before the client hears 202.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class _Op:
    __slots__ = ("deletes", "future", "inserts")

    def __init__(self, inserts: Sequence[InboundRecord], deletes: Sequence[int]) -> None:
        self.inserts = inserts
        self.deletes = deletes
        self.future: Future[None] = Future()


class SqliteInboundLog:
    """InboundLog over a SQLite file; safe to open from several processes at once."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        setup = _connect(path)
        setup.execute(_SCHEMA)
        setup.close()
        self._queue: queue.SimpleQueue[_Op | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name="inbound-writer", daemon=True)
        self._writer.start()
        self._reader = _connect(path)
        self._reader_lock = threading.Lock()
        self._cursor = 0  # highest seq handed out by fetch in this process
        self._closed = False

    async def append(self, records: Sequence[InboundRecord]) -> None:
        await self._submit(_Op(records, ()))

    async def ack(self, records: Sequence[InboundRecord]) -> None:
        if records:
            await self._submit(_Op((), [r.seq for r in records]))

    async def fetch(self, max_records: int, wait_s: float) -> list[InboundRecord]:
        deadline = time.monotonic() + wait_s
        while True:
            rows = await asyncio.to_thread(self._read, max_records)
            if rows or time.monotonic() >= deadline or self._closed:
                return rows
            await asyncio.sleep(_POLL_S)

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
        await asyncio.to_thread(self._writer.join)
        with self._reader_lock:
            self._reader.close()

    async def _submit(self, op: _Op) -> None:
        if self._closed:
            raise RuntimeError("inbound log is closed")
        self._queue.put(op)
        await asyncio.wrap_future(op.future)

    def _read(self, max_records: int) -> list[InboundRecord]:
        with self._reader_lock:
            rows = self._reader.execute(_SELECT, (self._cursor, max_records)).fetchall()
            if rows:
                self._cursor = rows[-1][0]
        return [
            InboundRecord(
                seq=r[0],
                batch_id=r[1],
                workspace_id=r[2],
                input_id=r[3],
                environment=r[4],
                received_ms=r[5],
                source_ip=r[6],
                request_id=r[7],
                historical=bool(r[8]),
                payload=r[9],
            )
            for r in rows
        ]

    def _write_loop(self) -> None:
        conn = _connect(self._path)
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                group = [first]
                size = len(first.inserts) + len(first.deletes)
                stop = False
                while size < _MAX_GROUP:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        stop = True
                        break
                    group.append(nxt)
                    size += len(nxt.inserts) + len(nxt.deletes)
                self._commit(conn, group)
                if stop:
                    return
        finally:
            conn.close()

    @staticmethod
    def _commit(conn: sqlite3.Connection, group: list[_Op]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            inserts = [
                (
                    r.batch_id,
                    r.workspace_id,
                    r.input_id,
                    r.environment,
                    r.received_ms,
                    r.source_ip,
                    r.request_id,
                    int(r.historical),
                    r.payload,
                )
                for op in group
                for r in op.inserts
            ]
            if inserts:
                conn.executemany(_INSERT, inserts)
            deletes = [(seq,) for op in group for seq in op.deletes]
            if deletes:
                conn.executemany("DELETE FROM inbound WHERE seq = ?", deletes)
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for op in group:
                op.future.set_exception(exc)
            return
        for op in group:
            op.future.set_result(None)
