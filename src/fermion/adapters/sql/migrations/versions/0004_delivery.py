"""Delivery: outputs, connections, the delivery queue with dead letters, replay jobs, System Alerts,
forwarding-report counters and the outbound Live Stream log.

Revision ID: 0004_delivery
Revises: 0001
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_delivery"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _surrogate_key() -> sa.types.TypeEngine[int]:
    # BIGINT on PostgreSQL; INTEGER on SQLite so the column is the rowid alias.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "delivery_alerts",
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("error_type", sa.String(length=32), nullable=False),
        sa.Column("hour_ms", sa.BigInteger(), nullable=False),
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint(
            "connection_id", "environment", "error_type", "hour_ms", name=op.f("pk_delivery_alerts")
        ),
    )
    op.create_index(
        op.f("ix_delivery_alerts_workspace_id_hour_ms"),
        "delivery_alerts",
        ["workspace_id", "hour_ms"],
        unique=False,
    )
    op.create_table(
        "delivery_queue",
        sa.Column("id", _surrogate_key(), autoincrement=True, nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("input_id", sa.BigInteger(), nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("mpid", sa.BigInteger(), nullable=False),
        sa.Column("received_ms", sa.BigInteger(), nullable=False),
        sa.Column("enqueued_ms", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("claim_token", sa.BigInteger(), nullable=False),
        sa.Column("error_type", sa.String(length=32), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("finished_ms", sa.BigInteger(), nullable=True),
        sa.Column("replay_job_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_queue")),
        sa.UniqueConstraint(
            "connection_id", "batch_id", name=op.f("uq_delivery_queue_connection_id_batch_id")
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_delivery_queue_connection_id_status_next_at_ms_id"),
        "delivery_queue",
        ["connection_id", "status", "next_at_ms", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_delivery_queue_replay_job_id"), "delivery_queue", ["replay_job_id"], unique=False
    )
    op.create_index(
        op.f("ix_delivery_queue_status_finished_ms"),
        "delivery_queue",
        ["status", "finished_ms"],
        unique=False,
    )
    op.create_table(
        "forwarding_counts",
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("hour_ms", sa.BigInteger(), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("message_type", sa.String(length=64), nullable=False),
        sa.Column("event_name", sa.String(length=255), nullable=False),
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("output_id", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "connection_id",
            "hour_ms",
            "direction",
            "message_type",
            "event_name",
            name=op.f("pk_forwarding_counts"),
        ),
    )
    op.create_index(
        op.f("ix_forwarding_counts_workspace_id_hour_ms"),
        "forwarding_counts",
        ["workspace_id", "hour_ms"],
        unique=False,
    )
    op.create_table(
        "outbound_log",
        sa.Column("id", _surrogate_key(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error_type", sa.String(length=32), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("batch_ids", sa.Text(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_log")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_outbound_log_connection_id_id"), "outbound_log", ["connection_id", "id"], unique=False
    )
    op.create_index(
        op.f("ix_outbound_log_workspace_id_id"), "outbound_log", ["workspace_id", "id"], unique=False
    )
    op.create_table(
        "replay_jobs",
        sa.Column("id", _surrogate_key(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("since_ms", sa.BigInteger(), nullable=True),
        sa.Column("until_ms", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("enqueued", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replay_jobs")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_replay_jobs_connection_id"), "replay_jobs", ["connection_id"], unique=False)
    op.create_table(
        "outputs",
        sa.Column("id", _surrogate_key(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("integration_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_outputs_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outputs")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_outputs_workspace_id"), "outputs", ["workspace_id"], unique=False)
    op.create_table(
        "connections",
        sa.Column("id", _surrogate_key(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("input_id", sa.BigInteger(), nullable=False),
        sa.Column("output_id", sa.BigInteger(), nullable=False),
        sa.Column("integration_id", sa.String(length=100), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("send_development", sa.Boolean(), nullable=False),
        sa.Column("send_production", sa.Boolean(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["input_id"], ["inputs.id"], name=op.f("fk_connections_input_id_inputs")),
        sa.ForeignKeyConstraint(["output_id"], ["outputs.id"], name=op.f("fk_connections_output_id_outputs")),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_connections_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connections")),
        sa.UniqueConstraint("input_id", "output_id", name=op.f("uq_connections_input_id_output_id")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_connections_workspace_id"), "connections", ["workspace_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_connections_workspace_id"), table_name="connections")
    op.drop_table("connections")
    op.drop_index(op.f("ix_outputs_workspace_id"), table_name="outputs")
    op.drop_table("outputs")
    op.drop_index(op.f("ix_replay_jobs_connection_id"), table_name="replay_jobs")
    op.drop_table("replay_jobs")
    op.drop_index(op.f("ix_outbound_log_workspace_id_id"), table_name="outbound_log")
    op.drop_index(op.f("ix_outbound_log_connection_id_id"), table_name="outbound_log")
    op.drop_table("outbound_log")
    op.drop_index(op.f("ix_forwarding_counts_workspace_id_hour_ms"), table_name="forwarding_counts")
    op.drop_table("forwarding_counts")
    op.drop_index(op.f("ix_delivery_queue_status_finished_ms"), table_name="delivery_queue")
    op.drop_index(op.f("ix_delivery_queue_replay_job_id"), table_name="delivery_queue")
    op.drop_index(op.f("ix_delivery_queue_connection_id_status_next_at_ms_id"), table_name="delivery_queue")
    op.drop_table("delivery_queue")
    op.drop_index(op.f("ix_delivery_alerts_workspace_id_hour_ms"), table_name="delivery_alerts")
    op.drop_table("delivery_alerts")
