"""IDSync: identity profiles, keys, links, per-workspace settings and alias requests.

Revision ID: 0002_identity
Revises: 0001
Create Date: 2026-11-22 08:43:13
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_identity"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_aliases",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.String(length=200), nullable=False),
        sa.Column("source_mpid", sa.BigInteger(), nullable=False),
        sa.Column("destination_mpid", sa.BigInteger(), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("moved_events", sa.BigInteger(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_aliases")),
        sa.UniqueConstraint("org_id", "request_id", name=op.f("uq_identity_aliases_org_id_request_id")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_identity_aliases_org_id_destination_mpid"),
        "identity_aliases",
        ["org_id", "destination_mpid"],
        unique=False,
    )
    op.create_index(
        op.f("ix_identity_aliases_org_id_source_mpid"),
        "identity_aliases",
        ["org_id", "source_mpid"],
        unique=False,
    )
    op.create_table(
        "identity_keys",
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("identity_type", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("org_id", "identity_type", "value", name=op.f("pk_identity_keys")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "identity_links",
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("identity_type", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.Column("mpid", sa.BigInteger(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("org_id", "identity_type", "value", "mpid", name=op.f("pk_identity_links")),
        sqlite_with_rowid=False,
    )
    op.create_index(
        op.f("ix_identity_links_org_id_mpid_created_ms_created_by"),
        "identity_links",
        ["org_id", "mpid", "created_ms", "created_by"],
        unique=False,
    )
    op.create_table(
        "identity_profiles",
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("mpid", sa.BigInteger(), nullable=False),
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("org_id", "mpid", name=op.f("pk_identity_profiles")),
    )
    op.create_table(
        "identity_settings",
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_identity_settings")),
    )


def downgrade() -> None:
    op.drop_table("identity_settings")
    op.drop_table("identity_profiles")
    op.drop_index(op.f("ix_identity_links_org_id_mpid_created_ms_created_by"), table_name="identity_links")
    op.drop_table("identity_links")
    op.drop_table("identity_keys")
    op.drop_index(op.f("ix_identity_aliases_org_id_source_mpid"), table_name="identity_aliases")
    op.drop_index(op.f("ix_identity_aliases_org_id_destination_mpid"), table_name="identity_aliases")
    op.drop_table("identity_aliases")
