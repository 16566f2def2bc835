"""Delivery queue: the purge and replay-job indexes become partial (only done rows, only replayed rows),
so claiming and completing items moves fewer index entries.

Revision ID: 0012_delivery_queue_indexes
Revises: 0004_delivery
Create Date: 2026-11-22 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_delivery_queue_indexes"
down_revision: str | None = "0004_delivery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DONE = sa.text("status = 'done'")
_REPLAYED = sa.text("replay_job_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_delivery_queue_status_finished_ms", table_name="delivery_queue")
    op.drop_index("ix_delivery_queue_replay_job_id", table_name="delivery_queue")
    op.create_index(
        "ix_delivery_queue_done_finished_ms",
        "delivery_queue",
        ["finished_ms"],
        unique=False,
        sqlite_where=_DONE,
        postgresql_where=_DONE,
    )
    op.create_index(
        "ix_delivery_queue_replay_job",
        "delivery_queue",
        ["replay_job_id"],
        unique=False,
        sqlite_where=_REPLAYED,
        postgresql_where=_REPLAYED,
    )


def downgrade() -> None:
    op.drop_index("ix_delivery_queue_replay_job", table_name="delivery_queue")
    op.drop_index("ix_delivery_queue_done_finished_ms", table_name="delivery_queue")
    op.create_index("ix_delivery_queue_replay_job_id", "delivery_queue", ["replay_job_id"], unique=False)
    op.create_index(
        "ix_delivery_queue_status_finished_ms", "delivery_queue", ["status", "finished_ms"], unique=False
    )
