"""Migrations: idempotent, and the migrated database matches schema.py exactly (no drift)."""

from __future__ import annotations

import threading
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from fermion.adapters.sql import migrate
from fermion.adapters.sql.all_tables import metadata
from fermion.adapters.sql.engine import alembic_config, script_heads


def _head() -> frozenset[str]:
    # Areas add their own revision branches off 0001; migrate() upgrades to all heads.
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def _current(engine: Engine) -> frozenset[str]:
    with engine.connect() as conn:
        return frozenset(MigrationContext.configure(conn).get_current_heads())


def _snapshot(engine: Engine) -> dict[str, Any]:
    insp = inspect(engine)
    return {
        table: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)],
            sorted(i["name"] or "" for i in insp.get_indexes(table)),
        )
        for table in sorted(insp.get_table_names())
    }


def test_database_is_at_head(sql_engine: Engine) -> None:
    assert _current(sql_engine) == _head() != frozenset()


def test_migrate_twice_is_a_no_op(sql_engine: Engine) -> None:
    before = _snapshot(sql_engine)
    migrate(sql_engine)
    migrate(sql_engine)
    assert _current(sql_engine) == _head()
    assert _snapshot(sql_engine) == before


def test_migrations_match_schema(sql_engine: Engine) -> None:
    with sql_engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_every_schema_table_exists(sql_engine: Engine) -> None:
    tables = set(inspect(sql_engine).get_table_names())
    assert set(metadata.tables) <= tables
    assert "processing_state" not in tables


def test_migrate_from_scratch_concurrently(unmigrated_sql_engine: Engine) -> None:
    engine = unmigrated_sql_engine
    assert inspect(engine).get_table_names() == []
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def run() -> None:
        try:
            barrier.wait()
            migrate(engine)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert _current(engine) == _head()
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())


def test_heads_read_from_the_files_are_alembics() -> None:
    """migrate() skips alembic when the database stands at these heads: they must be alembic's own."""
    assert script_heads() == _head()
