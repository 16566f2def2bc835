"""Every table of every area, registered on one MetaData (what migrations and drift checks compare).

Each area keeps its tables in its own module (schema.py, schema_<area>.py) on `schema.metadata`;
add one import line here per area module.
"""

from __future__ import annotations

from fermion.adapters.sql import schema
from fermion.adapters.sql.schema import metadata

__all__ = ["metadata", "schema"]
