"""RawMany (straight DB-API executemany) stores what SQLAlchemy's own executemany would, on SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    select,
    update,
)
from sqlalchemy.dialects import sqlite

from fermion.adapters.sql import make_engine
from fermion.adapters.sql.raw_many import RawMany, RawQuery

_meta = MetaData()
_things = Table(
    "things",
    _meta,
    Column("id", Integer, primary_key=True),
    Column("name", String(20)),
    Column("flag", Boolean),
    Column("blob", LargeBinary),
    Column("at", DateTime),
)
_NAMES = ("id", "name", "flag", "blob")


def _engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'raw.db'}")
    _meta.create_all(engine)
    return engine


def test_rows_match_sqlalchemys_executemany(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    stmt = sqlite.insert(_things).on_conflict_do_nothing()
    raw = RawMany(stmt, engine.dialect, _NAMES)
    rows = [{"id": i, "name": f"n{i}", "flag": i % 2 == 0, "blob": bytes([i]) * 3} for i in range(1, 6)]
    with engine.begin() as conn:
        assert raw.run(conn, rows[:3]) == 3
        conn.execute(stmt, rows[3:])
        assert raw.run(conn, rows) == 0  # every id is taken: ON CONFLICT DO NOTHING
        assert raw.run(conn, []) == 0
    with engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(select(*(_things.c[n] for n in _NAMES)).order_by("id"))]
    assert stored == [(r["id"], r["name"], r["flag"], r["blob"]) for r in rows]


def test_upsert_with_constants_in_the_statement(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    insert = sqlite.insert(_things)
    stmt = insert.on_conflict_do_update(
        index_elements=["id"], set_={"name": insert.excluded.name, "flag": True}
    )
    raw = RawMany(stmt, engine.dialect, ("id", "name", "flag"))
    with engine.begin() as conn:
        raw.run(conn, [{"id": 1, "name": "a", "flag": False}])
        raw.run(conn, [{"id": 1, "name": "b", "flag": False}])
    with engine.connect() as conn:
        assert tuple(conn.execute(select(_things.c.name, _things.c.flag)).one()) == ("b", True)


def test_refuses_types_that_need_bind_processing(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    with pytest.raises(ValueError, match="at"):
        RawMany(sqlite.insert(_things), engine.dialect, ("id", "at"))


def test_raw_query_runs_an_update_returning_with_values_it_fixed(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    with engine.begin() as conn:
        conn.execute(_things.insert(), [{"id": i, "name": "old", "flag": False} for i in (1, 2)])
    stmt = (
        update(_things)
        .where(_things.c.id == bindparam("pick"))
        .values(name="fixed")
        .returning(_things.c.id, _things.c.name)
    )
    raw = RawQuery(stmt, engine.dialect)
    assert raw.columns == ("id", "name")
    with engine.begin() as conn:
        assert raw.run(conn, {"pick": 2}) == [(2, "fixed")]
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(select(_things.c.id, _things.c.name).order_by("id"))]
        assert rows == [(1, "old"), (2, "fixed")]
    with engine.connect() as conn:
        assert RawQuery(select(_things.c.id), engine.dialect).run(conn, {}, begin=False) == [(1,), (2,)]
        assert not conn.in_transaction()  # begin=False: the read ran as it stood
