"""Coordination through the database: API node ids and the archive lease (trivial on SQLite)."""

from __future__ import annotations

from sqlalchemy import Engine

from fermion.adapters.sql.scaleout import AdvisoryLease, allocate_node_id


def test_each_api_process_gets_its_own_node_id(sql_engine: Engine) -> None:
    ids = [allocate_node_id(sql_engine) for _ in range(5)]
    if sql_engine.dialect.name == "sqlite":
        assert ids == [0] * 5  # embedded: one API process
    else:
        assert len(set(ids)) == 5 and all(0 <= i < 1024 for i in ids)


def test_the_lease_is_held_by_one_holder_at_a_time(sql_engine: Engine) -> None:
    first, second = AdvisoryLease(sql_engine, 4242), AdvisoryLease(sql_engine, 4242)
    assert first.hold()
    assert first.hold()  # still held
    if sql_engine.dialect.name == "postgresql":
        assert not second.hold()
        first.release()
        assert second.hold()
        assert not first.hold()
        second.release()
    else:
        assert second.hold()  # SQLite: one process per role, nothing to share
