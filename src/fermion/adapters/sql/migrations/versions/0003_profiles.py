"""User profiles: seen-times, attributes, consent, devices and inputs per workspace and MPID.

Revision ID: 0003_profiles
Revises: 0001
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_profiles"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _owner() -> list[sa.Column[int]]:
    return [
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("mpid", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "profiles",
        *_owner(),
        sa.Column("first_seen_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_stored_ms", sa.BigInteger(), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=True),
        sa.Column("opted_out_ts", sa.BigInteger(), nullable=False),
        sa.Column("opted_out_batch", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "mpid", name=op.f("pk_profiles")),
    )
    op.create_index(op.f("ix_profiles_mpid"), "profiles", ["mpid"], unique=False)
    op.create_table(
        "profile_attributes",
        *_owner(),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("batch", sa.BigInteger(), nullable=False),
        sa.Column("prev_exists", sa.Boolean(), nullable=False),
        sa.Column("prev_value", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("workspace_id", "mpid", "name", name=op.f("pk_profile_attributes")),
    )
    op.create_table(
        "profile_consent",
        *_owner(),
        sa.Column("regulation", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=256), nullable=False),
        sa.Column("consented", sa.Boolean(), nullable=False),
        sa.Column("document", sa.Text(), nullable=True),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("hardware_id", sa.Text(), nullable=True),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("batch", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "workspace_id", "mpid", "regulation", "purpose", name=op.f("pk_profile_consent")
        ),
    )
    op.create_table(
        "profile_devices",
        *_owner(),
        sa.Column("device_key", sa.String(length=320), nullable=False),
        sa.Column("first_seen_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger(), nullable=False),
        sa.Column("platform", sa.String(length=64), nullable=True),
        sa.Column("platform_ts", sa.BigInteger(), nullable=False),
        sa.Column("platform_batch", sa.BigInteger(), nullable=False),
        sa.Column("limit_ad_tracking", sa.Boolean(), nullable=True),
        sa.Column("lat_ts", sa.BigInteger(), nullable=False),
        sa.Column("lat_batch", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "mpid", "device_key", name=op.f("pk_profile_devices")),
    )
    op.create_table(
        "profile_device_ids",
        *_owner(),
        sa.Column("id_type", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.Column("device_key", sa.String(length=320), nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "workspace_id", "mpid", "id_type", "value", name=op.f("pk_profile_device_ids")
        ),
    )
    op.create_index(
        op.f("ix_profile_device_ids_workspace_id_value"),
        "profile_device_ids",
        ["workspace_id", "value"],
        unique=False,
    )
    op.create_table(
        "profile_inputs",
        *_owner(),
        sa.Column("input_id", sa.BigInteger(), nullable=False),
        sa.Column("first_seen_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "mpid", "input_id", name=op.f("pk_profile_inputs")),
    )


def downgrade() -> None:
    op.drop_table("profile_inputs")
    op.drop_index(op.f("ix_profile_device_ids_workspace_id_value"), table_name="profile_device_ids")
    op.drop_table("profile_device_ids")
    op.drop_table("profile_devices")
    op.drop_table("profile_consent")
    op.drop_table("profile_attributes")
    op.drop_index(op.f("ix_profiles_mpid"), table_name="profiles")
    op.drop_table("profiles")
