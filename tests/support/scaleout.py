"""Scale-out test helpers: the local NATS JetStream and PostgreSQL servers, fresh streams and databases.

When a server is unreachable, tests skip with the reason, unless CI=true, where they fail.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import socket
import uuid
from urllib.parse import urlparse

import nats
import psycopg
import pytest
from nats.js.errors import NotFoundError

NATS_URL = os.environ.get("FERMION_TEST_NATS_URL", "nats://127.0.0.1:4222")
PG_HOST = os.environ.get("FERMION_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("FERMION_TEST_PG_PORT", "5432"))
_PG_LOGINS = [(user, db) for user in ("root", "postgres") for db in ("postgres", "test")]


def skip_or_fail(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + "; CI=true requires it", pytrace=False)
    pytest.skip(message)


def nats_problem() -> str | None:
    """Why NATS JetStream cannot be used, or None when it can."""
    parsed = urlparse(NATS_URL)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 4222), timeout=2) as s:
            info = s.recv(4096).decode(errors="replace")
    except OSError as exc:
        return f"NATS at {NATS_URL} is unreachable ({exc})"
    if '"jetstream":true' not in info.replace(" ", ""):
        return f"NATS at {NATS_URL} runs without JetStream (start nats-server with -js)"
    return None


def require_nats() -> None:
    problem = nats_problem()
    if problem:
        skip_or_fail(problem)


def new_stream_name() -> str:
    return f"FT_{uuid.uuid4().hex[:16].upper()}"


def delete_stream(stream: str) -> None:
    """Delete a test stream and its dead-letter stream (ignores ones already gone)."""

    async def run() -> None:
        nc = await nats.connect(NATS_URL, connect_timeout=3, max_reconnect_attempts=1)
        try:
            js = nc.jetstream()
            for name in (stream, f"{stream}_DLQ"):
                with contextlib.suppress(NotFoundError):
                    await js.delete_stream(name)
        finally:
            await nc.close()

    asyncio.run(run())


def _admin() -> tuple[psycopg.Connection[tuple[object, ...]] | None, str, str]:
    last = ""
    for user, database in _PG_LOGINS:
        try:
            conn = psycopg.connect(
                host=PG_HOST, port=PG_PORT, user=user, dbname=database, connect_timeout=3, autocommit=True
            )
            return conn, user, ""
        except psycopg.Error as exc:
            last = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
    return None, "", f"PostgreSQL at {PG_HOST}:{PG_PORT} is unreachable ({last})"


def postgres_problem() -> str | None:
    conn, _, problem = _admin()
    if conn is not None:
        conn.close()
    return problem or None


def create_database(template: str | None = None) -> tuple[str, str]:
    """A new database, empty or cloned from `template`: (its name, its SQLAlchemy URL)."""
    conn, user, problem = _admin()
    if conn is None:
        raise RuntimeError(problem)
    name = f"fermion_test_{uuid.uuid4().hex[:16]}"
    suffix = f' TEMPLATE "{template}"' if template else ""
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"{suffix}')  # type: ignore[arg-type]
    return name, f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{name}"


_templates: list[str] = []


def create_migrated_database() -> tuple[str, str]:
    """A new database at the newest schema, cloned from a template migrated once per process (dropped
    at exit): much faster than migrating every test server's database."""
    if not _templates:
        from fermion.adapters.sql import make_engine, migrate

        name, url = create_database()
        atexit.register(drop_database, name)
        engine = make_engine(url)
        try:
            migrate(engine)
        finally:
            engine.dispose()
        _templates.append(name)
    return create_database(_templates[0])


def drop_database(name: str) -> None:
    conn, _, _ = _admin()
    if conn is None:
        return
    with conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
