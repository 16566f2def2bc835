"""The SQL schema (SQLAlchemy Core), shared by SQLite and PostgreSQL; migrations must match it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

# A 64-bit integer primary key that SQLite treats as the rowid alias (so it autoincrements).
_SurrogateKey = BigInteger().with_variant(Integer(), "sqlite")

organizations = Table(
    "organizations",
    metadata,
    Column("id", _SurrogateKey, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    sqlite_autoincrement=True,
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", _SurrogateKey, primary_key=True, autoincrement=True),
    Column("org_id", BigInteger, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    sqlite_autoincrement=True,
)

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", _SurrogateKey, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("rate_limit_per_s", Integer, nullable=False, server_default=text("0")),
    sqlite_autoincrement=True,
)

inputs = Table(
    "inputs",
    metadata,
    Column("id", _SurrogateKey, primary_key=True, autoincrement=True),
    Column("workspace_id", BigInteger, ForeignKey("workspaces.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("platform", String(100), nullable=False),
    Column("name", String(200), nullable=False),
    Column("key", String(200), nullable=False),
    Column("secret_hash", String(500), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("key"),
    sqlite_autoincrement=True,
)

# seq is the surrogate primary key: an autoincrementing log position (SQLite rowid with
# AUTOINCREMENT, never reused; PostgreSQL BIGSERIAL). batch_id is the unique natural key.
batches = Table(
    "batches",
    metadata,
    Column("seq", _SurrogateKey, primary_key=True, autoincrement=True),
    Column("batch_id", BigInteger, nullable=False),
    Column("workspace_id", BigInteger, nullable=False),
    Column("input_id", BigInteger, nullable=False),
    Column("environment", String(16), nullable=False),
    Column("mpid", BigInteger, nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    Column("historical", Boolean, nullable=False),
    Column("source_request_id", String(200), nullable=True),
    Column("device_ids", Text, nullable=False),  # JSON array of strings
    Column("payload", LargeBinary, nullable=False),
    UniqueConstraint("batch_id"),
    UniqueConstraint("input_id", "source_request_id"),
    Index(None, "workspace_id", "seq"),
    Index(None, "workspace_id", "mpid", "seq"),
    sqlite_autoincrement=True,
)

events = Table(
    "events",
    metadata,
    Column("workspace_id", BigInteger, primary_key=True),
    Column("event_id", BigInteger, primary_key=True),
    Column("batch_id", BigInteger, nullable=False),
    Column("mpid", BigInteger, nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("event_name", Text, nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False),
    Column("environment", String(16), nullable=False),
    Column("input_id", BigInteger, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    # event_id trails both indexes so "ORDER BY timestamp_ms, event_id LIMIT n" needs no sort.
    Index(None, "workspace_id", "mpid", "timestamp_ms", "event_id"),
    Index(None, "workspace_id", "timestamp_ms", "event_id"),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=False),
)
