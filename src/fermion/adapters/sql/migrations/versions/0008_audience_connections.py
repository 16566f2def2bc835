"""Audience connections: a connection may feed an output from an audience instead of an input
(`connections.audience_id`, nullable `input_id`; one connection per audience and output).

Revision ID: 0008_audience_connections
Revises: 0004_delivery
Create Date: 2026-11-22 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_audience_connections"
# On the delivery branch rather than off 0001: it alters the connections table 0004 creates (a
# `depends_on` would leave 0004 listed as a head of its own).
down_revision: str | None = "0004_delivery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch mode: SQLite cannot alter a column's nullability in place, so the table is rebuilt
    # (keeping AUTOINCREMENT, so connection ids are never reused).
    with op.batch_alter_table("connections", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.alter_column("input_id", existing_type=sa.BigInteger(), nullable=True)
        batch.add_column(sa.Column("audience_id", sa.BigInteger(), nullable=True))
        batch.create_index(batch.f("ix_connections_audience_id"), ["audience_id"], unique=False)
        batch.create_unique_constraint(
            batch.f("uq_connections_audience_id_output_id"), ["audience_id", "output_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("connections", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_constraint(batch.f("uq_connections_audience_id_output_id"), type_="unique")
        batch.drop_index(batch.f("ix_connections_audience_id"))
        batch.drop_column("audience_id")
        batch.alter_column("input_id", existing_type=sa.BigInteger(), nullable=False)
