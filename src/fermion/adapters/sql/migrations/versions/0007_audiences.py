"""Audiences: definitions, per-user criterion state, memberships, history, applied markers.

Revision ID: 0007_audiences
Revises: 0001
Create Date: 2026-11-22 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_audiences"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audiences",
        sa.Column("id", _KEY, autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("external_name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("draft_criteria", sa.Text(), nullable=False),
        sa.Column("criteria", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("boundary_seq", sa.BigInteger(), nullable=False),
        sa.Column("progress_seq", sa.BigInteger(), nullable=False),
        sa.Column("activated_ms", sa.BigInteger(), nullable=False),
        sa.Column("calculated_ms", sa.BigInteger(), nullable=False),
        sa.Column("sent_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audiences")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_audiences_workspace_id"), "audiences", ["workspace_id"])
    op.create_table(
        "audience_users",
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("mpid", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("next_check_ms", sa.BigInteger(), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "mpid", name=op.f("pk_audience_users")),
    )
    op.create_index("ix_audience_users_next_check_ms", "audience_users", ["next_check_ms"])
    op.create_table(
        "audience_members",
        sa.Column("audience_id", sa.BigInteger(), nullable=False),
        sa.Column("mpid", sa.BigInteger(), nullable=False),
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("member", sa.Boolean(), nullable=False),
        sa.Column("joined_ms", sa.BigInteger(), nullable=False),
        sa.Column("left_ms", sa.BigInteger(), nullable=False),
        sa.Column("identities", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("audience_id", "mpid", name=op.f("pk_audience_members")),
    )
    op.create_index("ix_audience_members_workspace_id_mpid", "audience_members", ["workspace_id", "mpid"])
    op.create_table(
        "audience_history",
        sa.Column("id", _KEY, autoincrement=True, nullable=False),
        sa.Column("audience_id", sa.BigInteger(), nullable=False),
        sa.Column("mpid", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("changed_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audience_history")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audience_history_audience_id_mpid", "audience_history", ["audience_id", "mpid"])
    op.create_index(
        "ix_audience_history_audience_id_changed_ms", "audience_history", ["audience_id", "changed_ms"]
    )
    op.create_table(
        "audience_applied",
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "batch_id", name=op.f("pk_audience_applied")),
    )


def downgrade() -> None:
    op.drop_table("audience_applied")
    op.drop_table("audience_history")
    op.drop_table("audience_members")
    op.drop_table("audience_users")
    op.drop_table("audiences")
