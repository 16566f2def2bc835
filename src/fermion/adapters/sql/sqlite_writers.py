"""A queue for SQLite writers of every process: an exclusive flock on `<database>-writers.lock`, taken
before BEGIN IMMEDIATE and let go after COMMIT or ROLLBACK. A writer that finds SQLite's lock taken
sleeps in its busy handler (1, 2, 5, 10, ... ms between tries) and so oversleeps; a writer blocked on
the flock wakes the moment it is free. The flock goes with its file descriptor if a process dies."""

from __future__ import annotations

import fcntl
import os
import threading
from typing import Any

from sqlalchemy import Engine, event


def _raw(connection: Any) -> Any:
    """The DB-API connection behind a pool proxy (the dialect's do_commit gets the proxy)."""
    return getattr(connection, "dbapi_connection", connection)


class SqliteWriters:
    """Per DB-API connection: a descriptor of the lock file, and whether it holds the lock now."""

    def __init__(self, database: str) -> None:
        self._path = f"{database}-writers.lock"
        self._fds: dict[int, int] = {}
        self._holding: set[int] = set()
        self._mutex = threading.Lock()

    def install(self, engine: Engine) -> None:
        """Release after the dialect's commit and rollback; close a connection's descriptor with it."""
        dialect: Any = engine.dialect
        commit, rollback = dialect.do_commit, dialect.do_rollback

        def do_commit(connection: Any) -> None:
            try:
                commit(connection)
            finally:
                self.release(connection)

        def do_rollback(connection: Any) -> None:
            try:
                rollback(connection)
            finally:
                self.release(connection)

        dialect.do_commit, dialect.do_rollback = do_commit, do_rollback

        @event.listens_for(engine, "close")
        def _on_close(dbapi_connection: Any, _record: Any) -> None:
            self.forget(dbapi_connection)

        @event.listens_for(engine, "close_detached")
        def _on_close_detached(dbapi_connection: Any) -> None:
            self.forget(dbapi_connection)

    def acquire(self, connection: Any) -> None:
        key = id(_raw(connection))
        with self._mutex:
            fd = self._fds.get(key)
            if fd is None:
                fd = self._fds[key] = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)  # releases the GIL while it waits
        self._holding.add(key)

    def release(self, connection: Any) -> None:
        key = id(_raw(connection))
        if key in self._holding:
            self._holding.discard(key)
            fcntl.flock(self._fds[key], fcntl.LOCK_UN)

    def forget(self, connection: Any) -> None:
        key = id(_raw(connection))
        self._holding.discard(key)
        with self._mutex:
            fd = self._fds.pop(key, None)
        if fd is not None:
            os.close(fd)  # drops the flock too, if it was still held
