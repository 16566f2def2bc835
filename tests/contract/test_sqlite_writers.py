"""SQLite writers queue on a flock (fermion.adapters.sql.sqlite_writers): held for exactly the span of
a write transaction, released on commit, rollback and failed BEGIN, and many writers still add up."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from fermion.adapters.sql.engine import make_engine, write_engine


def lock_is_free(database: Path) -> bool:
    fd = os.open(f"{database.resolve()}-writers.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # also lets go of the lock if it was taken
    return True


def test_held_for_the_write_transaction_only(tmp_path: Path) -> None:
    database = tmp_path / "w.db"
    engine = make_engine(f"sqlite:///{database}")
    with write_engine(engine).begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
        assert not lock_is_free(database)
    assert lock_is_free(database)
    with engine.connect() as conn:  # reads never take it
        conn.execute(text("SELECT count(*) FROM t")).scalar()
        assert lock_is_free(database)
    with pytest.raises(RuntimeError), write_engine(engine).begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        raise RuntimeError("rolled back")
    assert lock_is_free(database)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
    engine.dispose()


def test_concurrent_writers_of_two_engines_add_up(tmp_path: Path) -> None:
    database = tmp_path / "w.db"
    engines = [make_engine(f"sqlite:///{database}") for _ in range(2)]
    with write_engine(engines[0]).begin() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER)"))
        conn.execute(text("INSERT INTO counter VALUES (0)"))

    def bump(engine_index: int) -> None:
        for _ in range(50):
            with write_engine(engines[engine_index]).begin() as conn:
                n = conn.execute(text("SELECT n FROM counter")).scalar_one()
                conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

    threads = [threading.Thread(target=bump, args=(i % 2,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    with engines[1].connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 300
    assert lock_is_free(database)
    for engine in engines:
        engine.dispose()
