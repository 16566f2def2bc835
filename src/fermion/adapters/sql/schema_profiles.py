"""Profile tables (per workspace and MPID): seen-times, attributes, consent, devices, inputs.

Every versioned value is stored with its `(…_ts, …_batch)` version so upserts can keep the newest.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, String, Table, Text

from fermion.adapters.sql.schema import metadata

profiles = Table(
    "profiles",
    metadata,
    Column("workspace_id", BigInteger, primary_key=True),
    Column("mpid", BigInteger, primary_key=True),
    Column("first_seen_ms", BigInteger, nullable=False),
    Column("last_seen_ms", BigInteger, nullable=False),
    Column("last_stored_ms", BigInteger, nullable=False),
    Column("opted_out", Boolean, nullable=True),
    Column("opted_out_ts", BigInteger, nullable=False),
    Column("opted_out_batch", BigInteger, nullable=False),
    Index(None, "mpid"),  # first/last seen across the workspaces of an organization
)

profile_attributes = Table(
    "profile_attributes",
    metadata,
    Column("workspace_id", BigInteger, primary_key=True),
    Column("mpid", BigInteger, primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("value", Text, nullable=True),  # JSON; NULL for a tombstone
    Column("deleted", Boolean, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("batch", BigInteger, nullable=False),
    Column("prev_exists", Boolean, nullable=False),
    Column("prev_value", Text, nullable=True),  # JSON of what the writing batch replaced
)

profile_consent = Table(
    "profile_consent",
    metadata,
    Column("workspace_id", BigInteger, primary_key=True),
    Column("mpid", BigInteger, primary_key=True),
    Column("regulation", String(16), primary_key=True),
    Column("purpose", String(256), primary_key=True),
    Column("consented", Boolean, nullable=False),
    Column("document", Text, nullable=True),
    Column("location", Text, nullable=True),
    Column("hardware_id", Text, nullable=True),
    Column("ts", BigInteger, nullable=False),
    Column("batch", BigInteger, nullable=False),
)

profile_devices = Table(
    "profile_devices",
    metadata,
    Column("workspace_id", BigInteger, primary_key=True),
    Column("mpid", BigInteger, primary_key=True),
    Column("device_key", String(320), primary_key=True),
    Column("first_seen_ms", BigInteger, nullable=False),
    Column("last_seen_ms", BigInteger, nullable=False),
    Column("platform", String(64), nullable=True),
    Column("platform_ts", BigInteger, nullable=False),
    Column("platform_batch", BigInteger, nullable=False),
    Column("limit_ad_tracking", Boolean, nullable=True),
    Column("lat_ts", BigInteger, nullable=False),
    Column("lat_batch", BigInteger, nullable=False),
)

profile_device_ids = Table(
    "profile_device_ids",
    metadata,
    Column("workspace_id", BigInteger, primary_key=True),
    Column("mpid", BigInteger, primary_key=True),
    Column("id_type", String(64), primary_key=True),
    Column("value", String(256), primary_key=True),
    Column("device_key", String(320), nullable=False),
    Column("last_seen_ms", BigInteger, nullable=False),
    Index(None, "workspace_id", "value"),  # User Activity search by device id
)

profile_inputs = Table(
    "profile_inputs",
    metadata,
    Column("workspace_id", BigInteger, primary_key=True),
    Column("mpid", BigInteger, primary_key=True),
    Column("input_id", BigInteger, primary_key=True),
    Column("first_seen_ms", BigInteger, nullable=False),
    Column("last_seen_ms", BigInteger, nullable=False),
)
