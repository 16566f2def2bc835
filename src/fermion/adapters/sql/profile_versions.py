"""The SQL expressions profile upserts are made of: the newer of two versions (timestamp, then batch
id) and the least or greatest of two values, so saves commute and repeat safely."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, case, or_


def newer_version(ts: Any, batch: Any, old_ts: Any, old_batch: Any) -> ColumnElement[bool]:
    return or_(ts > old_ts, and_(ts == old_ts, batch > old_batch))


def least(new: Any, old: Any) -> Any:
    return case((new < old, new), else_=old)


def greatest(new: Any, old: Any) -> Any:
    return case((new > old, new), else_=old)
