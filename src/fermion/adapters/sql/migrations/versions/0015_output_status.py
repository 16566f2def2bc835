"""Outputs get a status: `active`, or `deleting` while a forced delete that keeps the queued deliveries
waits for its connections to finish sending (the output row goes once they have).

Revision ID: 0015_output_status
Revises: 0004_delivery
Create Date: 2026-12-07 12:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_output_status"
down_revision: str | None = "0004_delivery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "outputs", sa.Column("status", sa.String(length=16), nullable=False, server_default="active")
    )


def downgrade() -> None:
    with op.batch_alter_table("outputs", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("status")
