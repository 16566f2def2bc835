"""Coordination between processes through PostgreSQL: API node ids for batch ids, and a leader lease.

On SQLite (the embedded mode, one process per role) both are trivial: node 0, and the lease is always held.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError

from fermion.adapters.sql.schema import meta

log = logging.getLogger(__name__)

NODE_ID_SEQUENCE = "fermion_node_ids"  # created by migration 0009_scaleout
_NODE_IDS = 1024  # BatchIdGenerator's 10-bit node field


def allocate_node_id(engine: Engine) -> int:
    """A node id for a starting API process: the next value of a shared sequence, modulo 1024.

    Two live API processes share an id only if 1,024 API processes started while one of them ran.
    """
    if engine.dialect.name != "postgresql":
        return 0
    with engine.begin() as conn:
        value: int = conn.execute(text(f"SELECT nextval('{NODE_ID_SEQUENCE}')")).scalar_one()
    return (value - 1) % _NODE_IDS


def shared_value(engine: Engine, key: str, create: Callable[[], str]) -> str:
    """The value stored under `key` in the meta table, created once by whichever process comes first
    (PostgreSQL: INSERT ... ON CONFLICT DO NOTHING, then read back what won)."""
    with engine.begin() as conn:
        stmt = postgresql.insert(meta).values(key=key, value=create()).on_conflict_do_nothing()
        conn.execute(stmt)
        value: str = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar_one()
    return value


class AdvisoryLease:
    """A lease held by one process at a time: a PostgreSQL session advisory lock on a connection kept
    open for as long as the lease is held (if the process dies, the server releases the lock)."""

    def __init__(self, engine: Engine, key: int) -> None:
        self._engine = engine
        self._key = key
        self._conn: Connection | None = None

    def hold(self) -> bool:
        """True if this process holds the lease now (taking it when free)."""
        if self._engine.dialect.name != "postgresql":
            return True
        if self._conn is not None:
            try:
                self._conn.execute(select(1))
                self._conn.commit()
                return True
            except DBAPIError:
                # Report the loss (the holder must drop what it built on the lease); retake it next time.
                log.warning("lost the connection holding lease %x", self._key)
                self._drop()
                return False
        conn = self._engine.connect()
        try:
            got = bool(conn.execute(select(func.pg_try_advisory_lock(self._key))).scalar())
            conn.commit()
        except DBAPIError:
            conn.invalidate()
            conn.close()
            return False
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(select(func.pg_advisory_unlock(self._key)))
            self._conn.commit()
            self._conn.close()
        except DBAPIError:
            self._drop()
        self._conn = None

    def _drop(self) -> None:
        if self._conn is not None:
            # Never return a connection that may still hold the lock to the pool.
            self._conn.invalidate()
            self._conn.close()
            self._conn = None
