"""Tables of calculated attributes: definitions with their calculation status, per-user states and
the batches already applied live (migration 0006_calculated)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, String, Table, Text, UniqueConstraint

from fermion.adapters.sql.schema import metadata

_SurrogateKey = BigInteger().with_variant(Integer(), "sqlite")

calculated_attributes = Table(
    "calculated_attributes",
    metadata,
    Column("id", _SurrogateKey, primary_key=True, autoincrement=True),
    Column("workspace_id", BigInteger, nullable=False),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("draft", Text, nullable=True),  # JSON
    Column("active", Text, nullable=True),  # JSON
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("activated_ms", BigInteger, nullable=True),
    Column("activated_by", String(255), nullable=True),
    Column("generation", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("boundary_seq", BigInteger, nullable=False),
    Column("progress_seq", BigInteger, nullable=False),
    Column("total_batches", BigInteger, nullable=False),
    Column("done_batches", BigInteger, nullable=False),
    Column("calc_started_ms", BigInteger, nullable=True),
    Column("calc_completed_ms", BigInteger, nullable=True),
    Column("lease_owner", String(128), nullable=True),
    Column("lease_until_ms", BigInteger, nullable=True),
    UniqueConstraint("workspace_id", "name"),
    Index(None, "status"),
    sqlite_autoincrement=True,
)

# One row per user: three documents of every CA's state (fermion.calculated.state.UserStates), each
# written by its own writer (backfill, live phase, seeding).
calculated_states = Table(
    "calculated_states",
    metadata,
    Column("workspace_id", BigInteger, primary_key=True),
    Column("mpid", BigInteger, primary_key=True),
    Column("base", LargeBinary, nullable=True),
    Column("live", LargeBinary, nullable=True),
    Column("seeds", LargeBinary, nullable=True),
)

# Batches the live phase has applied, so a redelivered batch is not applied twice.
calculated_applied = Table(
    "calculated_applied",
    metadata,
    Column("batch_id", BigInteger, primary_key=True),
    Column("workspace_id", BigInteger, nullable=False),
    Column("applied_ms", BigInteger, nullable=False),
)
