"""Fixtures for the storage contract suite: every test runs against SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL

from fermion.adapters.sql import SqlConfigStore, SqlEventStore, make_engine, migrate

PG_HOST = os.environ.get("FERMION_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("FERMION_TEST_PG_PORT", "5432"))
PG_USERS = ("root", "postgres")
PG_MAINTENANCE_DBS = ("postgres", "test")


def _pg_url(user: str, database: str) -> URL:
    return URL.create("postgresql+psycopg", username=user, host=PG_HOST, port=PG_PORT, database=database)


class PostgresServer:
    """A reachable PostgreSQL server on which the tests may create and drop databases."""

    def __init__(self, admin: Engine, user: str) -> None:
        self.admin = admin
        self.user = user
        self._template: str | None = None

    @classmethod
    def find(cls) -> tuple[PostgresServer | None, str]:
        errors: list[str] = []
        for user in PG_USERS:
            for database in PG_MAINTENANCE_DBS:
                engine = create_engine(
                    _pg_url(user, database),
                    isolation_level="AUTOCOMMIT",
                    connect_args={"connect_timeout": 3},
                )
                try:
                    with engine.connect() as conn:
                        conn.execute(text("SELECT 1"))
                    return cls(engine, user), ""
                except Exception as exc:  # unreachable, auth refused, no such database...
                    errors.append(str(getattr(exc, "orig", exc)).strip().splitlines()[0])
                    engine.dispose()
        tried = ", ".join(f"{u}@{d}" for u in PG_USERS for d in PG_MAINTENANCE_DBS)
        return None, f"tried {tried}; last error: {errors[-1]}"

    def _create(self, template: str | None = None) -> str:
        name = f"fermion_test_{uuid.uuid4().hex[:16]}"
        suffix = f" TEMPLATE {template}" if template else ""
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{suffix}'))
        return name

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def new_empty_database(self) -> str:
        return self._create()

    def new_database(self) -> str:
        """A fresh, migrated database (cloned from a template migrated once per session)."""
        if self._template is None:
            template = self._create()
            engine = make_engine(self.url(template).render_as_string(hide_password=False))
            try:
                migrate(engine)
            finally:
                engine.dispose()
            self._template = template
        return self._create(self._template)

    def url(self, database: str) -> URL:
        return _pg_url(self.user, database)

    def close(self) -> None:
        if self._template is not None:
            self.drop(self._template)
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server, reason = PostgresServer.find()
    if server is None:
        message = f"PostgreSQL at {PG_HOST}:{PG_PORT} is unreachable ({reason})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; CI=true requires it", pytrace=False)
        pytest.skip(message)
    try:
        yield server
    finally:
        server.close()


def _engine(request: pytest.FixtureRequest, tmp_path: Path, migrated: bool) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'fermion.db'}")
        if migrated:
            migrate(engine)
        yield engine
        engine.dispose()
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.new_database() if migrated else server.new_empty_database()
    engine = make_engine(server.url(name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        server.drop(name)


_DIALECTS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=_DIALECTS)
def sql_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database: a SQLite file under tmp_path, or a new PostgreSQL database."""
    yield from _engine(request, tmp_path, migrated=True)


@pytest.fixture(params=_DIALECTS)
def unmigrated_sql_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """Like sql_engine, but with no tables at all."""
    yield from _engine(request, tmp_path, migrated=False)


@pytest.fixture
def config_store(sql_engine: Engine) -> SqlConfigStore:
    return SqlConfigStore(sql_engine)


@pytest.fixture
def event_store(sql_engine: Engine) -> SqlEventStore:
    return SqlEventStore(sql_engine)
