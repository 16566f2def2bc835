"""Calculated attributes: definitions and calculation status, per-user states, applied batches.

Revision ID: 0006_calculated
Revises: 0001
Create Date: 2026-11-22 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_calculated"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calculated_attributes",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("draft", sa.Text(), nullable=True),
        sa.Column("active", sa.Text(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("activated_ms", sa.BigInteger(), nullable=True),
        sa.Column("activated_by", sa.String(length=255), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("boundary_seq", sa.BigInteger(), nullable=False),
        sa.Column("progress_seq", sa.BigInteger(), nullable=False),
        sa.Column("total_batches", sa.BigInteger(), nullable=False),
        sa.Column("done_batches", sa.BigInteger(), nullable=False),
        sa.Column("calc_started_ms", sa.BigInteger(), nullable=True),
        sa.Column("calc_completed_ms", sa.BigInteger(), nullable=True),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_until_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calculated_attributes")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_calculated_attributes_workspace_id_name")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_calculated_attributes_status"), "calculated_attributes", ["status"], unique=False
    )
    op.create_table(
        "calculated_states",
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("mpid", sa.BigInteger(), nullable=False),
        sa.Column("base", sa.LargeBinary(), nullable=True),
        sa.Column("live", sa.LargeBinary(), nullable=True),
        sa.Column("seeds", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("workspace_id", "mpid", name=op.f("pk_calculated_states")),
    )
    op.create_table(
        "calculated_applied",
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("applied_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_calculated_applied")),
    )


def downgrade() -> None:
    op.drop_table("calculated_applied")
    op.drop_table("calculated_states")
    op.drop_index(op.f("ix_calculated_attributes_status"), table_name="calculated_attributes")
    op.drop_table("calculated_attributes")
