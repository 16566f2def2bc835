"""Tables of the data points catalog and the per-connection data filters (migration 0005_catalog)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, String, Table

from fermion.adapters.sql.schema import metadata

# The catalog: one row per (workspace, data point); counts and first/last seen grow by bulk upsert.
# Names are cut to 255 characters by fermion.dataplans.catalog before they get here.
data_points = Table(
    "data_points",
    metadata,
    Column("workspace_id", BigInteger, primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("event_type", String(64), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("attribute_name", String(255), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("first_seen_ms", BigInteger, nullable=False),
    Column("last_seen_ms", BigInteger, nullable=False),
)

# A connection's filter settings. connection_id refers to the delivery area's connections (no foreign
# key: the areas migrate independently).
connection_filters = Table(
    "connection_filters",
    metadata,
    Column("connection_id", BigInteger, primary_key=True),
    Column("workspace_id", BigInteger, nullable=False),
    Column("send_new_by_default", Boolean, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

connection_filter_points = Table(
    "connection_filter_points",
    metadata,
    Column("connection_id", BigInteger, primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("event_type", String(64), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("attribute_name", String(255), primary_key=True),
    Column("enabled", Boolean, nullable=False),
)
