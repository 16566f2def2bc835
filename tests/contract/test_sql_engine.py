"""make_engine: SQLite connection settings, in-memory databases, and write transactions."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from fermion.adapters.sql import SqlConfigStore, SqlEventStore, make_engine, migrate
from fermion.ports import BatchFilter, ProcessedBatch


def test_sqlite_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'dir' / 'f.db'}")
    try:
        with engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            }
        assert pragma == {"journal_mode": "wal", "synchronous": 2, "busy_timeout": 30_000, "foreign_keys": 1}
        assert (tmp_path / "sub" / "dir" / "f.db").exists()
    finally:
        engine.dispose()


def test_sqlite_transactions_are_real(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'f.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        try:
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (1)"))
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
    finally:
        engine.dispose()


def test_in_memory_sqlite_is_shared_across_threads() -> None:
    engine = make_engine("sqlite://")
    try:
        migrate(engine)
        config, events = SqlConfigStore(engine), SqlEventStore(engine)
        ws = config.create_workspace(config.create_account(config.create_organization("m").id, "a").id, "w")
        batch = ProcessedBatch(
            batch_id=1,
            workspace_id=1,
            input_id=1,
            environment="production",
            mpid=1,
            received_ms=0,
            historical=False,
            source_request_id=None,
            device_ids=[],
            events=[],
            payload=b"{}",
        )
        thread = threading.Thread(target=events.save, args=([batch],))
        thread.start()
        thread.join()
        assert config.list_workspaces() == [ws]
        assert [b.batch_id for b in events.batches(BatchFilter(workspace_id=1))] == [1]
    finally:
        engine.dispose()
