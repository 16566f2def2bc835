"""IDSync tables: profiles (MPIDs) and their identities per organization, per-workspace settings,
alias requests. Every identity value ever seen has one `identity_keys` row: the row writers lock
(PostgreSQL) before changing who holds the value, so racing writers serialize on it.

The two lookup tables are WITHOUT ROWID on SQLite: a lookup by primary key is then one B-tree
descent instead of two (index, then table), which keeps cost flat as the tables grow."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text, UniqueConstraint

from fermion.adapters.sql.schema import metadata

_SurrogateKey = BigInteger().with_variant(Integer(), "sqlite")

identity_profiles = Table(
    "identity_profiles",
    metadata,
    Column("org_id", BigInteger, primary_key=True),
    Column("mpid", BigInteger, primary_key=True),
    Column("workspace_id", BigInteger, nullable=False),  # where it was created
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", BigInteger, nullable=True),  # the batch id that created it, if any
)

# Every identity value the organization ever saw (the lock target; kept when its links go).
identity_keys = Table(
    "identity_keys",
    metadata,
    Column("org_id", BigInteger, primary_key=True),
    Column("identity_type", String(64), primary_key=True),
    Column("value", String(512), primary_key=True),
    Column("created_by", BigInteger, nullable=True),  # the batch id that first linked it, if any
    sqlite_with_rowid=False,
)

# Which profiles hold which values (non-unique types such as device ids may sit on several).
identity_links = Table(
    "identity_links",
    metadata,
    Column("org_id", BigInteger, primary_key=True),
    Column("identity_type", String(64), primary_key=True),
    Column("value", String(512), primary_key=True),
    Column("mpid", BigInteger, primary_key=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", BigInteger, nullable=True),
    # Covering (with the primary key columns every SQLite WITHOUT ROWID index carries): SQLite's
    # planner would rather scan the organization's rows than look each index hit up in the table.
    Index(None, "org_id", "mpid", "created_ms", "created_by"),
    sqlite_with_rowid=False,
)

identity_settings = Table(
    "identity_settings",
    metadata,
    Column("workspace_id", BigInteger, primary_key=True),
    Column("settings", Text, nullable=False),  # IdentitySettings as JSON
    Column("updated_ms", BigInteger, nullable=False),
)

identity_aliases = Table(
    "identity_aliases",
    metadata,
    Column("id", _SurrogateKey, primary_key=True, autoincrement=True),
    Column("org_id", BigInteger, nullable=False),
    Column("workspace_id", BigInteger, nullable=False),
    Column("request_id", String(200), nullable=False),
    Column("source_mpid", BigInteger, nullable=False),
    Column("destination_mpid", BigInteger, nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=False),
    Column("scope", String(32), nullable=False),
    Column("status", String(16), nullable=False),  # applied | rejected
    Column("reason", Text, nullable=False),
    Column("moved_events", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("org_id", "request_id"),
    Index(None, "org_id", "source_mpid"),
    Index(None, "org_id", "destination_mpid"),
    sqlite_autoincrement=True,
)
