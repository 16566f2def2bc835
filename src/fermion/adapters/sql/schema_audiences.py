"""Tables of audiences: definitions, per-user criterion state, memberships with history, and the
markers of batches already counted (migration 0007_audiences)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, LargeBinary, String, Table, Text

from fermion.adapters.sql.schema import metadata

_SurrogateKey = BigInteger().with_variant(Integer(), "sqlite")

audiences = Table(
    "audiences",
    metadata,
    Column("id", _SurrogateKey, primary_key=True, autoincrement=True),
    Column("workspace_id", BigInteger, nullable=False, index=True),
    Column("account_id", BigInteger, nullable=False),
    Column("name", String(200), nullable=False),
    Column("external_name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("draft_criteria", Text, nullable=False),  # JSON
    Column("criteria", Text, nullable=False),  # JSON; "null" until activated
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("boundary_seq", BigInteger, nullable=False),
    Column("progress_seq", BigInteger, nullable=False),
    Column("activated_ms", BigInteger, nullable=False),
    Column("calculated_ms", BigInteger, nullable=False),
    Column("sent_ms", BigInteger, nullable=False),
    sqlite_autoincrement=True,
)

# One row per user and workspace: event-criterion bucket counts, device facts, memberships and the
# re-check time (MessagePack of fermion.audiences.records.UserState).
audience_users = Table(
    "audience_users",
    metadata,
    Column("workspace_id", BigInteger, primary_key=True),
    Column("mpid", BigInteger, primary_key=True),
    Column("state", LargeBinary, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("next_check_ms", BigInteger, nullable=True),
    Column("version", BigInteger, nullable=False),
    Index("ix_audience_users_next_check_ms", "next_check_ms"),
)

audience_members = Table(
    "audience_members",
    metadata,
    Column("audience_id", BigInteger, primary_key=True),
    Column("mpid", BigInteger, primary_key=True),
    Column("workspace_id", BigInteger, nullable=False),
    Column("member", Boolean, nullable=False),
    Column("joined_ms", BigInteger, nullable=False),
    Column("left_ms", BigInteger, nullable=False),
    Column("identities", Text, nullable=False),  # JSON, as last sent
    Index("ix_audience_members_workspace_id_mpid", "workspace_id", "mpid"),
)

audience_history = Table(
    "audience_history",
    metadata,
    Column("id", _SurrogateKey, primary_key=True, autoincrement=True),
    Column("audience_id", BigInteger, nullable=False),
    Column("mpid", BigInteger, nullable=False),
    Column("action", String(16), nullable=False),
    Column("changed_ms", BigInteger, nullable=False),
    Index("ix_audience_history_audience_id_mpid", "audience_id", "mpid"),
    Index("ix_audience_history_audience_id_changed_ms", "audience_id", "changed_ms"),
    sqlite_autoincrement=True,
)

# Batches whose events were counted into audience_users (written in the same transaction).
audience_applied = Table(
    "audience_applied",
    metadata,
    Column("workspace_id", BigInteger, primary_key=True),
    Column("batch_id", BigInteger, primary_key=True),
)
