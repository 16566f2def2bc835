"""Data points catalog and per-connection data filters.

Revision ID: 0005_catalog
Revises: 0001
Create Date: 2026-11-23 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_catalog"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _point_key() -> list[sa.Column[str]]:
    return [
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("attribute_name", sa.String(length=255), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "data_points",
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        *_point_key(),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("first_seen_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "workspace_id", "kind", "event_type", "name", "attribute_name", name=op.f("pk_data_points")
        ),
    )
    op.create_table(
        "connection_filters",
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("send_new_by_default", sa.Boolean(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("connection_id", name=op.f("pk_connection_filters")),
    )
    op.create_table(
        "connection_filter_points",
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        *_point_key(),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint(
            "connection_id",
            "kind",
            "event_type",
            "name",
            "attribute_name",
            name=op.f("pk_connection_filter_points"),
        ),
    )


def downgrade() -> None:
    op.drop_table("connection_filter_points")
    op.drop_table("connection_filters")
    op.drop_table("data_points")
