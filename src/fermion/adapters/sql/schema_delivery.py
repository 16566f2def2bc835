"""Delivery tables: outputs, connections, the delivery queue (with dead letters), replay jobs, System
Alerts counters, forwarding-report counters and the outbound Live Stream log."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from fermion.adapters.sql.schema import metadata

_SurrogateKey = BigInteger().with_variant(Integer(), "sqlite")

outputs = Table(
    "outputs",
    metadata,
    Column("id", _SurrogateKey, primary_key=True, autoincrement=True),
    Column("workspace_id", BigInteger, ForeignKey("workspaces.id"), nullable=False, index=True),
    Column("integration_id", String(100), nullable=False),
    Column("name", String(200), nullable=False),
    Column("settings", Text, nullable=False),  # JSON; secret values encrypted
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    # active, or deleting: a forced delete waits for its connections' queued deliveries (0015)
    Column("status", String(16), nullable=False, server_default="active"),
    sqlite_autoincrement=True,
)

connections = Table(
    "connections",
    metadata,
    Column("id", _SurrogateKey, primary_key=True, autoincrement=True),
    Column("workspace_id", BigInteger, ForeignKey("workspaces.id"), nullable=False, index=True),
    # An input connection has input_id; an audience connection has audience_id (the audiences area's
    # id, deliberately without a foreign key: that area owns its table).
    Column("input_id", BigInteger, ForeignKey("inputs.id"), nullable=True),
    Column("output_id", BigInteger, ForeignKey("outputs.id"), nullable=False),
    Column("integration_id", String(100), nullable=False),
    Column("settings", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("send_development", Boolean, nullable=False),
    Column("send_production", Boolean, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("audience_id", BigInteger, nullable=True, index=True),
    UniqueConstraint("input_id", "output_id"),
    UniqueConstraint("audience_id", "output_id"),
    sqlite_autoincrement=True,
)

# One row per (connection, batch): the unique key makes enqueueing idempotent. Delivered rows stay
# (status done) for a while so a batch processed again after a crash is not delivered twice.
# next_at_ms: when a pending item is due, or when an inflight claim's lease expires.
delivery_queue = Table(
    "delivery_queue",
    metadata,
    Column("id", _SurrogateKey, primary_key=True, autoincrement=True),
    Column("connection_id", BigInteger, nullable=False),
    Column("workspace_id", BigInteger, nullable=False),
    Column("batch_id", BigInteger, nullable=False),
    Column("input_id", BigInteger, nullable=False),
    Column("environment", String(16), nullable=False),
    Column("mpid", BigInteger, nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    Column("enqueued_ms", BigInteger, nullable=False),
    Column("payload", LargeBinary, nullable=True),  # NULL: the stored batch unchanged
    Column("summary", Text, nullable=False),  # JSON [[event_type, event_name, n], ...]
    Column("status", String(8), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_at_ms", BigInteger, nullable=False),
    Column("claim_token", BigInteger, nullable=False),
    Column("error_type", String(32), nullable=False),
    Column("last_error", Text, nullable=False),
    Column("finished_ms", BigInteger, nullable=True),
    Column("replay_job_id", BigInteger, nullable=True),
    UniqueConstraint("connection_id", "batch_id"),
    Index(None, "connection_id", "status", "next_at_ms", "id"),
    # Partial: a claim (pending -> inflight) moves no entry in them, only the rows that qualify do.
    # Queries must name the status as a literal for SQLite (and PostgreSQL's generic plans) to use
    # the purge index (see purge_done).
    Index(
        "ix_delivery_queue_done_finished_ms",
        "finished_ms",
        sqlite_where=text("status = 'done'"),
        postgresql_where=text("status = 'done'"),
    ),
    Index(
        "ix_delivery_queue_replay_job",
        "replay_job_id",
        sqlite_where=text("replay_job_id IS NOT NULL"),
        postgresql_where=text("replay_job_id IS NOT NULL"),
    ),
    sqlite_autoincrement=True,
)

replay_jobs = Table(
    "replay_jobs",
    metadata,
    Column("id", _SurrogateKey, primary_key=True, autoincrement=True),
    Column("workspace_id", BigInteger, nullable=False),
    Column("connection_id", BigInteger, nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("since_ms", BigInteger, nullable=True),
    Column("until_ms", BigInteger, nullable=True),
    Column("state", String(16), nullable=False),
    Column("enqueued", BigInteger, nullable=False),
    Column("error", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    sqlite_autoincrement=True,
)

# Failed attempts per connection, environment, error type and hour (System Alerts).
delivery_alerts = Table(
    "delivery_alerts",
    metadata,
    Column("connection_id", BigInteger, primary_key=True),
    Column("environment", String(16), primary_key=True),
    Column("error_type", String(32), primary_key=True),
    Column("hour_ms", BigInteger, primary_key=True),
    Column("workspace_id", BigInteger, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("last_seen_ms", BigInteger, nullable=False),
    Column("last_message", Text, nullable=False),
    Index(None, "workspace_id", "hour_ms"),
)

# Events into (before the connection's filters) and out of (delivered) each connection per hour.
forwarding_counts = Table(
    "forwarding_counts",
    metadata,
    Column("connection_id", BigInteger, primary_key=True),
    Column("hour_ms", BigInteger, primary_key=True),
    Column("direction", String(3), primary_key=True),
    Column("message_type", String(64), primary_key=True),
    Column("event_name", String(255), primary_key=True),
    Column("workspace_id", BigInteger, nullable=False),
    Column("output_id", BigInteger, nullable=False),
    Column("count", BigInteger, nullable=False),
    Index(None, "workspace_id", "hour_ms"),
)

outbound_log = Table(
    "outbound_log",
    metadata,
    Column("id", _SurrogateKey, primary_key=True, autoincrement=True),
    Column("workspace_id", BigInteger, nullable=False),
    Column("connection_id", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("environment", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("target", Text, nullable=False),
    Column("status", Integer, nullable=True),
    Column("outcome", String(16), nullable=False),
    Column("error_type", String(32), nullable=False),
    Column("error", Text, nullable=False),
    Column("latency_ms", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("batch_ids", Text, nullable=False),  # JSON array
    Column("body", LargeBinary, nullable=False),
    Index(None, "workspace_id", "id"),
    Index(None, "connection_id", "id"),
    sqlite_autoincrement=True,
)
