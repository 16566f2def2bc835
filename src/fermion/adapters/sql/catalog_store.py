"""SqlCatalogStore: the CatalogStore and FilterStore ports (data points, filters) over SQLAlchemy Core."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, Insert, Table, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from fermion.adapters.sql.engine import write_engine
from fermion.adapters.sql.raw_many import RawMany
from fermion.adapters.sql.schema_catalog import connection_filter_points, connection_filters, data_points
from fermion.dataplans.catalog import ConnectionFilter, DataPoint, Observation
from fermion.ports.catalog import DataPointRow

_CHUNK = 500  # rows per statement, far below every parameter limit
_RECORD_COLUMNS = (
    "workspace_id",
    "kind",
    "event_type",
    "name",
    "attribute_name",
    "count",
    "first_seen_ms",
    "last_seen_ms",
)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _point(row: Any) -> DataPoint:
    return DataPoint(row.kind, row.name, row.event_type, row.attribute_name)


class SqlCatalogStore:
    """Data points and data filters in SQLite or PostgreSQL."""

    def __init__(self, engine: Engine, clock: Callable[[], int] = _now_ms) -> None:
        self._engine = engine
        self._write = write_engine(engine)
        self._clock = clock
        self._dialect = engine.dialect.name
        if self._dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database dialect {self._dialect!r}")
        # Built once (every processing group records): on SQLite straight through the DB-API.
        self._record_stmt = self._record_statement()
        self._record_raw = (
            RawMany(self._record_stmt, engine.dialect, _RECORD_COLUMNS) if self._dialect == "sqlite" else None
        )

    def _insert(self, table: Table) -> Any:
        return (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(table)

    # -- catalog ---------------------------------------------------------------------------------

    def _record_statement(self) -> Insert:
        stmt = self._insert(data_points)
        t, new = data_points.c, stmt.excluded
        return stmt.on_conflict_do_update(  # type: ignore[no-any-return]
            index_elements=[t.workspace_id, t.kind, t.event_type, t.name, t.attribute_name],
            set_={
                "count": t.count + new.count,
                "first_seen_ms": case(
                    (new.first_seen_ms < t.first_seen_ms, new.first_seen_ms), else_=t.first_seen_ms
                ),
                "last_seen_ms": case(
                    (new.last_seen_ms > t.last_seen_ms, new.last_seen_ms), else_=t.last_seen_ms
                ),
            },
        )

    def record(self, observations: Mapping[int, Mapping[DataPoint, Observation]]) -> None:
        rows = [
            {
                "workspace_id": workspace_id,
                "kind": point.kind,
                "event_type": point.event_type,
                "name": point.name,
                "attribute_name": point.attribute_name,
                "count": seen.count,
                "first_seen_ms": seen.first_ms,
                "last_seen_ms": seen.last_ms,
            }
            for workspace_id, points in observations.items()
            for point, seen in points.items()
        ]
        if not rows:
            return
        # One key order for every writer: concurrent PostgreSQL workers then lock rows in the same
        # order and cannot deadlock.
        rows.sort(
            key=lambda r: (r["workspace_id"], r["kind"], r["event_type"], r["name"], r["attribute_name"])
        )
        with self._write.begin() as conn:
            if self._record_raw is not None:
                self._record_raw.run(conn, rows)
                return
            for start in range(0, len(rows), _CHUNK):
                conn.execute(self._record_stmt, rows[start : start + _CHUNK])

    def data_points(
        self, workspace_id: int, kind: str | None = None, limit: int = 10_000
    ) -> list[DataPointRow]:
        t = data_points.c
        query = select(data_points).where(t.workspace_id == workspace_id)
        if kind is not None:
            query = query.where(t.kind == kind)
        query = query.order_by(t.kind, t.event_type, t.name, t.attribute_name).limit(max(limit, 0))
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            DataPointRow(
                point=_point(r),
                count=r._mapping["count"],
                first_seen_ms=r.first_seen_ms,
                last_seen_ms=r.last_seen_ms,
            )
            for r in rows
        ]

    # -- filters ---------------------------------------------------------------------------------

    def get_filters(self, connection_ids: Sequence[int]) -> dict[int, ConnectionFilter]:
        ids = sorted(set(connection_ids))
        defaults: dict[int, bool] = {}
        entries: dict[int, dict[DataPoint, bool]] = {}
        with self._engine.connect() as conn:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                for row in conn.execute(
                    select(connection_filters).where(connection_filters.c.connection_id.in_(chunk))
                ):
                    defaults[row.connection_id] = bool(row.send_new_by_default)
                for row in conn.execute(
                    select(connection_filter_points).where(
                        connection_filter_points.c.connection_id.in_(chunk)
                    )
                ):
                    entries.setdefault(row.connection_id, {})[_point(row)] = bool(row.enabled)
        return {
            cid: ConnectionFilter(send_new_by_default=defaults.get(cid, True), entries=entries.get(cid, {}))
            for cid in ids
        }

    def set_filter(
        self,
        connection_id: int,
        workspace_id: int,
        send_new_by_default: bool | None,
        entries: Mapping[DataPoint, bool],
    ) -> ConnectionFilter:
        now = self._clock()
        head = self._insert(connection_filters).values(
            connection_id=connection_id,
            workspace_id=workspace_id,
            send_new_by_default=True if send_new_by_default is None else send_new_by_default,
            updated_ms=now,
        )
        update: dict[str, Any] = {"updated_ms": head.excluded.updated_ms}
        if send_new_by_default is not None:
            update["send_new_by_default"] = head.excluded.send_new_by_default
        head = head.on_conflict_do_update(index_elements=[connection_filters.c.connection_id], set_=update)
        rows = [
            {
                "connection_id": connection_id,
                "kind": p.kind,
                "event_type": p.event_type,
                "name": p.name,
                "attribute_name": p.attribute_name,
                "enabled": enabled,
            }
            for p, enabled in sorted(entries.items())
        ]
        upsert = self._insert(connection_filter_points)
        c = connection_filter_points.c
        upsert = upsert.on_conflict_do_update(
            index_elements=[c.connection_id, c.kind, c.event_type, c.name, c.attribute_name],
            set_={"enabled": upsert.excluded.enabled},
        )
        with self._write.begin() as conn:
            conn.execute(head)
            for start in range(0, len(rows), _CHUNK):
                conn.execute(upsert, rows[start : start + _CHUNK])
        return self.get_filters([connection_id])[connection_id]

    def delete_filter(self, connection_id: int) -> None:
        with self._write.begin() as conn:
            conn.execute(
                delete(connection_filter_points).where(
                    connection_filter_points.c.connection_id == connection_id
                )
            )
            conn.execute(
                delete(connection_filters).where(connection_filters.c.connection_id == connection_id)
            )
