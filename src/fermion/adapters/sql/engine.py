"""Engine construction (SQLite pragmas, PostgreSQL pooling) and programmatic alembic migrations."""

from __future__ import annotations

import re
import sqlite3
import threading
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import StaticPool

from fermion.adapters.private_files import private_sqlite
from fermion.adapters.sql.sqlite_writers import SqliteWriters

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# `revision = "..."` and `down_revision = "..." | ("...", ...) | None` lines of the version files.
_REVISION_LINE = re.compile(r"^(down_revision|revision)\b[^=]*=\s*(.+)$", re.MULTILINE)

# Execution option marking a transaction that will write: on SQLite it begins with
# BEGIN IMMEDIATE, taking the write lock up front (waiting up to busy_timeout) instead of
# failing with SQLITE_BUSY when a read-then-write transaction tries to upgrade its lock.
WRITE_TX = "fermion_write_tx"

_SQLITE_BUSY_TIMEOUT_MS = 30_000
_MIGRATING = threading.Lock()
_PG_MIGRATE_LOCK = 0x6665726D696F6E + 1  # next to event_store's save lock ("fermion")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An Engine for a sqlite:/// or postgresql+psycopg:// URL; extra kwargs go to create_engine."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _make_sqlite_engine(url, kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _make_sqlite_engine(url: str, kwargs: dict[str, Any]) -> Engine:
    parsed = make_url(url)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or parsed.query.get("mode") == "memory"
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("check_same_thread", False)
    connect_args.setdefault("timeout", _SQLITE_BUSY_TIMEOUT_MS / 1000)
    if in_memory:
        # One shared connection, or every pool connection would see its own empty database.
        kwargs.setdefault("poolclass", StaticPool)
    else:
        if not database.startswith("file:"):
            private_sqlite(Path(database).expanduser())  # 0600, before SQLite creates it 0644
        # SQLite serializes writers anyway; a modest pool lets readers run alongside (WAL).
        kwargs.setdefault("pool_size", 8)
        kwargs.setdefault("max_overflow", 8)
        kwargs.setdefault("pool_timeout", 60)
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    writers = None
    if not in_memory and not database.startswith("file:"):
        writers = SqliteWriters(str(Path(database).expanduser().resolve()))
        writers.install(engine)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver: we emit BEGIN ourselves (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            # Profiles and identities are read by key at random; with SQLite's 2 MB default page
            # cache, lookups slow down as the tables grow (bench/identity.py: 10K vs 1M).
            cursor.execute("PRAGMA cache_size=-131072")  # 128 MB per connection, allocated lazily
            cursor.execute("PRAGMA mmap_size=1073741824")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_TX, False)
        # Straight to the driver: exec_driver_sql's execution machinery cost more than the BEGIN
        # itself, on every transaction of the processing hot path.
        sql = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        dbapi_connection = conn.connection.dbapi_connection
        if immediate and writers is not None:
            writers.acquire(dbapi_connection)
        cursor = dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql)
        except sqlite3.Error as exc:  # raised as SQLAlchemy would (OperationalError: locked, ...)
            if writers is not None:
                writers.release(dbapi_connection)
            raise DBAPIError.instance(sql, None, exc, sqlite3.Error, dialect=conn.dialect) from exc
        finally:
            cursor.close()

    return engine


def write_engine(engine: Engine) -> Engine:
    """A view of engine whose transactions are marked as writing (see WRITE_TX)."""
    return engine.execution_options(**{WRITE_TX: True})


def alembic_config(connection: Connection | None = None) -> Config:
    """An alembic Config for Fermion's migrations, built in code (no alembic.ini)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def migrate(engine: Engine) -> None:
    """Bring the database up to the newest schema revision (alembic upgrade head).

    Safe to run from several processes at once: they take turns (SQLite write lock,
    PostgreSQL advisory lock) and all but the first find nothing left to do.
    """
    if _at_heads(engine):
        return  # every process start lands here: alembic (a third of a second to import) stays unloaded
    from alembic import command

    # alembic keeps its running migration context in module globals: one at a time per process.
    with _MIGRATING, write_engine(engine).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(select(func.pg_advisory_xact_lock(_PG_MIGRATE_LOCK)))
        command.upgrade(alembic_config(connection), "heads")


@cache
def script_heads() -> frozenset[str]:
    """The heads of the migration graph, read from the version files without loading alembic
    (tests/contract/test_migrations.py checks them against alembic's own reading)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for name, value in _REVISION_LINE.findall(path.read_text()):
            (revisions if name == "revision" else parents).update(re.findall(r"[\"']([^\"']+)[\"']", value))
    return frozenset(revisions - parents)


def _at_heads(engine: Engine) -> bool:
    """Whether the database already stands at every head (nothing to migrate)."""
    try:
        with engine.connect() as conn:
            stamped = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except DBAPIError:  # a new database: no version table yet
        return False
    return frozenset(stamped) == script_heads()
