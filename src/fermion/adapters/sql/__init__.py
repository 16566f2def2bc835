"""SQL storage adapters (SQLite and PostgreSQL over SQLAlchemy Core)."""

from __future__ import annotations

from fermion.adapters.sql.config_store import SqlConfigStore
from fermion.adapters.sql.engine import make_engine, migrate
from fermion.adapters.sql.event_store import SqlEventStore

__all__ = ["SqlConfigStore", "SqlEventStore", "make_engine", "migrate"]
