"""SqlDeliveryLog: the DeliveryLog port (System Alerts counters, forwarding-report counters, outbound
Live Stream entries) over SQLAlchemy Core. Counters are upserts that add, so writers never conflict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, case, func, select
from sqlalchemy.dialects import postgresql, sqlite

from fermion.adapters.sql.engine import write_engine
from fermion.adapters.sql.schema_delivery import delivery_alerts, forwarding_counts, outbound_log
from fermion.model.delivery import AlertRecord, AlertRow, CountKey, CountRow, OutboundEntry

HOUR_MS = 3_600_000
_MAX_NAME = 255
_MAX_MESSAGE = 2000
_encode = msgspec.json.Encoder().encode
_decode_ids = msgspec.json.Decoder(list[int]).decode


def _insert(engine: Engine, table: Any) -> Any:  # a dialect Insert (has on_conflict_*)
    return postgresql.insert(table) if engine.dialect.name == "postgresql" else sqlite.insert(table)


@cache
def _count_upsert(dialect: str) -> Any:
    """The counters' adding upsert, built once per dialect (the worker and sender run it all the time)."""
    ins = (postgresql if dialect == "postgresql" else sqlite).insert(forwarding_counts)
    return ins.on_conflict_do_update(
        index_elements=["connection_id", "hour_ms", "direction", "message_type", "event_name"],
        set_={"count": forwarding_counts.c.count + ins.excluded.count},
    )


def add_counts(conn: Connection, engine: Engine, counts: Mapping[CountKey, int]) -> None:
    """Add forwarding-report counts inside the caller's transaction."""
    if not counts:
        return
    stmt = _count_upsert(engine.dialect.name)
    merged: dict[tuple[int, int, str, str, str], dict[str, Any]] = {}
    for key, n in counts.items():
        name = key.event_name[:_MAX_NAME]
        pk = (key.connection_id, key.hour_ms, key.direction, key.message_type[:64], name)
        if pk in merged:  # two names equal after truncation
            merged[pk]["count"] += n
            continue
        merged[pk] = {
            "connection_id": key.connection_id,
            "hour_ms": key.hour_ms,
            "direction": key.direction,
            "message_type": key.message_type[:64],
            "event_name": name,
            "workspace_id": key.workspace_id,
            "output_id": key.output_id,
            "count": n,
        }
    # A stable order keeps concurrent writers (PostgreSQL) from deadlocking on each other's rows.
    conn.execute(stmt, [merged[pk] for pk in sorted(merged)])


class SqlDeliveryLog:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write = write_engine(engine)

    def record_alerts(self, alerts: Sequence[AlertRecord]) -> None:
        if not alerts:
            return
        merged: dict[tuple[int, str, str, int], dict[str, Any]] = {}
        for a in alerts:
            pk = (a.connection_id, a.environment, a.error_type[:32], a.at_ms - a.at_ms % HOUR_MS)
            row = merged.get(pk)
            if row is None:
                merged[pk] = {
                    "connection_id": pk[0],
                    "environment": pk[1],
                    "error_type": pk[2],
                    "hour_ms": pk[3],
                    "workspace_id": a.workspace_id,
                    "count": 1,
                    "last_seen_ms": a.at_ms,
                    "last_message": a.message[:_MAX_MESSAGE],
                }
            else:
                row["count"] += 1
                if a.at_ms >= row["last_seen_ms"]:
                    row["last_seen_ms"], row["last_message"] = a.at_ms, a.message[:_MAX_MESSAGE]
        ins = _insert(self._engine, delivery_alerts)
        newer = ins.excluded.last_seen_ms >= delivery_alerts.c.last_seen_ms
        stmt = ins.on_conflict_do_update(
            index_elements=["connection_id", "environment", "error_type", "hour_ms"],
            set_={
                "count": delivery_alerts.c.count + ins.excluded.count,
                "last_seen_ms": func.max(delivery_alerts.c.last_seen_ms, ins.excluded.last_seen_ms)
                if self._engine.dialect.name == "sqlite"
                else func.greatest(delivery_alerts.c.last_seen_ms, ins.excluded.last_seen_ms),
                "last_message": case(
                    (newer, ins.excluded.last_message), else_=delivery_alerts.c.last_message
                ),
            },
        )
        with self._write.begin() as conn:
            conn.execute(stmt, [merged[pk] for pk in sorted(merged)])

    def alerts(
        self,
        workspace_id: int,
        since_ms: int,
        until_ms: int,
        environment: str | None = None,
        connection_id: int | None = None,
    ) -> list[AlertRow]:
        # Hourly buckets: an hour counts when it overlaps the window.
        a = delivery_alerts.c
        query = select(
            a.connection_id,
            a.environment,
            a.error_type,
            func.sum(a.count),
            func.max(a.last_seen_ms),
        ).where(a.workspace_id == workspace_id, a.hour_ms > since_ms - HOUR_MS, a.hour_ms < until_ms)
        if environment is not None:
            query = query.where(a.environment == environment)
        if connection_id is not None:
            query = query.where(a.connection_id == connection_id)
        query = query.group_by(a.connection_id, a.environment, a.error_type)
        with self._engine.connect() as conn:
            groups = conn.execute(query).all()
            out: list[AlertRow] = []
            for cid, env, etype, count, last_seen in groups:
                message = conn.execute(
                    select(a.last_message)
                    .where(
                        a.connection_id == cid,
                        a.environment == env,
                        a.error_type == etype,
                        a.last_seen_ms == last_seen,
                    )
                    .limit(1)
                ).scalar()
                out.append(
                    AlertRow(
                        connection_id=cid,
                        environment=env,
                        error_type=etype,
                        count=int(count),
                        last_seen_ms=int(last_seen),
                        last_message=message or "",
                    )
                )
        out.sort(key=lambda r: (-r.count, r.connection_id, r.error_type))
        return out

    def add_counts(self, counts: Mapping[CountKey, int]) -> None:
        with self._write.begin() as conn:
            add_counts(conn, self._engine, counts)

    def counts(
        self, workspace_id: int, since_ms: int, until_ms: int, connection_id: int | None = None
    ) -> list[CountRow]:
        f = forwarding_counts.c
        query = select(forwarding_counts).where(
            f.workspace_id == workspace_id, f.hour_ms >= since_ms, f.hour_ms < until_ms
        )
        if connection_id is not None:
            query = query.where(f.connection_id == connection_id)
        query = query.order_by(f.connection_id, f.hour_ms, f.direction, f.message_type, f.event_name)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            CountRow(
                connection_id=r.connection_id,
                output_id=r.output_id,
                hour_ms=r.hour_ms,
                direction=r.direction,
                message_type=r.message_type,
                event_name=r.event_name,
                count=int(r._mapping["count"]),
            )
            for r in rows
        ]

    def log_outbound(self, entries: Sequence[OutboundEntry]) -> None:
        if not entries:
            return
        rows = [
            {
                "workspace_id": e.workspace_id,
                "connection_id": e.connection_id,
                "created_ms": e.created_ms,
                "environment": e.environment,
                "kind": e.kind,
                "target": e.target,
                "status": e.status,
                "outcome": e.outcome,
                "error_type": e.error_type,
                "error": e.error[:_MAX_MESSAGE],
                "latency_ms": e.latency_ms,
                "attempt": e.attempt,
                "batch_ids": _encode(e.batch_ids).decode(),
                "body": e.body,
            }
            for e in entries
        ]
        with self._write.begin() as conn:
            conn.execute(outbound_log.insert(), rows)

    def outbound(
        self,
        workspace_id: int,
        connection_id: int | None = None,
        after_id: int = 0,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[OutboundEntry]:
        o = outbound_log.c
        query = select(outbound_log).where(o.workspace_id == workspace_id, o.id > after_id)
        if connection_id is not None:
            query = query.where(o.connection_id == connection_id)
        query = query.order_by(o.id.desc() if newest_first else o.id.asc()).limit(limit)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            OutboundEntry(
                id=r.id,
                workspace_id=r.workspace_id,
                connection_id=r.connection_id,
                created_ms=r.created_ms,
                environment=r.environment,
                kind=r.kind,
                target=r.target,
                status=r.status,
                outcome=r.outcome,
                error_type=r.error_type,
                error=r.error,
                latency_ms=r.latency_ms,
                attempt=r.attempt,
                batch_ids=_decode_ids(r.batch_ids),
                body=bytes(r.body),
            )
            for r in rows
        ]

    def trim_outbound(self, keep_per_connection: int) -> int:
        o = outbound_log.c
        removed = 0
        with self._write.begin() as conn:
            for (cid,) in conn.execute(select(o.connection_id).distinct()).all():
                cutoff = conn.execute(
                    select(o.id)
                    .where(o.connection_id == cid)
                    .order_by(o.id.desc())
                    .offset(keep_per_connection)
                    .limit(1)
                ).scalar()
                if cutoff is not None:
                    stmt = outbound_log.delete().where(o.connection_id == cid, o.id <= cutoff)
                    removed += max(conn.execute(stmt).rowcount, 0)
        return removed
