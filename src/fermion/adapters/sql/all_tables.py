"""Every table of every area, registered on one MetaData (what migrations and drift checks compare).

Each area keeps its tables in its own module (schema.py, schema_<area>.py) on `schema.metadata`;
add one import line here per area module.
"""

from __future__ import annotations

from fermion.adapters.sql import schema
from fermion.adapters.sql import schema_audiences as schema_audiences
from fermion.adapters.sql import schema_calculated as schema_calculated
from fermion.adapters.sql import schema_catalog as schema_catalog
from fermion.adapters.sql import schema_delivery as schema_delivery
from fermion.adapters.sql import schema_identity as schema_identity
from fermion.adapters.sql import schema_profiles as schema_profiles
from fermion.adapters.sql.schema import metadata

__all__ = ["metadata", "schema"]
