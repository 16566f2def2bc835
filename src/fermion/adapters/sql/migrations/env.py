"""Alembic environment: migrates the connection handed over in config.attributes["connection"]."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from fermion.adapters.sql.all_tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    if context.is_offline_mode():
        raise RuntimeError("offline (--sql) migrations are not supported")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # Developer use (e.g. autogenerating a revision): a URL given as sqlalchemy.url.
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError('pass a connection in config.attributes["connection"] or set sqlalchemy.url')
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


_main()
