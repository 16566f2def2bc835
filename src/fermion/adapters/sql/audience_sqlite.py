"""The audience store's per-group reads on SQLite, straight through the DB-API: SQLAlchemy's
statement and row work costs more than SQLite's own for these small, frequent queries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection

_MEMBERS = (
    "SELECT audience_id, mpid, workspace_id, member, joined_ms, left_ms, identities FROM audience_members"
    " WHERE workspace_id = ? AND member IS 1 AND mpid IN (%s)"
)
_VERSIONS = (
    "SELECT id, status, activated_ms, updated_ms FROM audiences WHERE workspace_id = ? AND status != ?"
    " ORDER BY id"
)


def member_rows(
    conn: Connection, workspace_id: int, mpids: Sequence[int], audience_ids: Sequence[int] | None
) -> Iterable[Any]:
    """The member rows (audience_members columns, by name) of these users, in these audiences."""
    sql = _MEMBERS % ",".join("?" * len(mpids))
    params: tuple[Any, ...] = (workspace_id, *mpids)
    if audience_ids is not None:
        sql += f" AND audience_id IN ({','.join('?' * len(audience_ids))})"
        params += tuple(audience_ids)
    return conn.exec_driver_sql(sql, params)


def version_rows(conn: Connection, workspace_id: int, deleted: str) -> list[tuple[int, str, int, int]]:
    """(id, status, activated_ms, updated_ms) of the workspace's audiences not deleted, by id."""
    return [(r[0], r[1], r[2], r[3]) for r in conn.exec_driver_sql(_VERSIONS, (workspace_id, deleted))]
