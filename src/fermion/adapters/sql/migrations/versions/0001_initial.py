"""Initial schema: tenancy, inputs, batches, events, meta.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 08:06:15
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _surrogate_key() -> sa.types.TypeEngine[int]:
    # BIGINT (BIGSERIAL) on PostgreSQL; INTEGER on SQLite so the column is the rowid alias.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", _surrogate_key(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "accounts",
        sa.Column("id", _surrogate_key(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_accounts_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_accounts_org_id"), "accounts", ["org_id"], unique=False)
    op.create_table(
        "workspaces",
        sa.Column("id", _surrogate_key(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("rate_limit_per_s", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_workspaces_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspaces")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_workspaces_account_id"), "workspaces", ["account_id"], unique=False)
    op.create_table(
        "inputs",
        sa.Column("id", _surrogate_key(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("platform", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("secret_hash", sa.String(length=500), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_inputs_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inputs")),
        sa.UniqueConstraint("key", name=op.f("uq_inputs_key")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_inputs_workspace_id"), "inputs", ["workspace_id"], unique=False)
    op.create_table(
        "batches",
        sa.Column("seq", _surrogate_key(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("input_id", sa.BigInteger(), nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("mpid", sa.BigInteger(), nullable=False),
        sa.Column("received_ms", sa.BigInteger(), nullable=False),
        sa.Column("historical", sa.Boolean(), nullable=False),
        sa.Column("source_request_id", sa.String(length=200), nullable=True),
        sa.Column("device_ids", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_batches")),
        sa.UniqueConstraint("batch_id", name=op.f("uq_batches_batch_id")),
        sa.UniqueConstraint(
            "input_id", "source_request_id", name=op.f("uq_batches_input_id_source_request_id")
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_batches_workspace_id_seq"), "batches", ["workspace_id", "seq"], unique=False)
    op.create_index(
        op.f("ix_batches_workspace_id_mpid_seq"), "batches", ["workspace_id", "mpid", "seq"], unique=False
    )
    op.create_table(
        "events",
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("mpid", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("event_name", sa.Text(), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("input_id", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "event_id", name=op.f("pk_events")),
    )
    op.create_index(
        op.f("ix_events_workspace_id_mpid_timestamp_ms_event_id"),
        "events",
        ["workspace_id", "mpid", "timestamp_ms", "event_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_events_workspace_id_timestamp_ms_event_id"),
        "events",
        ["workspace_id", "timestamp_ms", "event_id"],
        unique=False,
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_meta")),
    )


def downgrade() -> None:
    op.drop_table("meta")
    op.drop_index(op.f("ix_events_workspace_id_timestamp_ms_event_id"), table_name="events")
    op.drop_index(op.f("ix_events_workspace_id_mpid_timestamp_ms_event_id"), table_name="events")
    op.drop_table("events")
    op.drop_index(op.f("ix_batches_workspace_id_mpid_seq"), table_name="batches")
    op.drop_index(op.f("ix_batches_workspace_id_seq"), table_name="batches")
    op.drop_table("batches")
    op.drop_index(op.f("ix_inputs_workspace_id"), table_name="inputs")
    op.drop_table("inputs")
    op.drop_index(op.f("ix_workspaces_account_id"), table_name="workspaces")
    op.drop_table("workspaces")
    op.drop_index(op.f("ix_accounts_org_id"), table_name="accounts")
    op.drop_table("accounts")
    op.drop_table("organizations")
