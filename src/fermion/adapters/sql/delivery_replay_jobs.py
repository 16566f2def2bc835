"""Replay jobs and the history a time-window replay reads, for SqlDeliveryQueue (kept apart to keep
the queue's module short)."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Engine, Row, func, select

from fermion.adapters.sql.event_store import _batch_row
from fermion.adapters.sql.schema import batches
from fermion.adapters.sql.schema_delivery import delivery_queue as q
from fermion.adapters.sql.schema_delivery import replay_jobs
from fermion.model.delivery import ItemStatus, ReplayJob, ReplayProgress
from fermion.model.records import BatchRow

PENDING, INFLIGHT, DONE, DEAD = (s.value for s in ItemStatus)


def _job(row: Row[Any]) -> ReplayJob:
    return ReplayJob(
        id=row.id,
        workspace_id=row.workspace_id,
        connection_id=row.connection_id,
        kind=row.kind,
        since_ms=row.since_ms,
        until_ms=row.until_ms,
        state=row.state,
        enqueued=row.enqueued,
        error=row.error,
        created_ms=row.created_ms,
    )


class ReplayJobs:
    """The replay side of the DeliveryQueue port."""

    _engine: Engine
    _write: Engine

    def history(
        self, workspace_id: int, input_id: int, since_ms: int, until_ms: int, after_seq: int, limit: int
    ) -> list[BatchRow]:
        query = (
            select(batches)
            .where(
                batches.c.workspace_id == workspace_id,
                batches.c.seq > after_seq,
                batches.c.input_id == input_id,
                batches.c.received_ms >= since_ms,
                batches.c.received_ms < until_ms,
            )
            .order_by(batches.c.seq)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [_batch_row(row) for row in conn.execute(query).all()]

    def create_replay_job(
        self,
        workspace_id: int,
        connection_id: int,
        kind: str,
        since_ms: int | None,
        until_ms: int | None,
        now_ms: int,
    ) -> ReplayJob:
        job = ReplayJob(
            id=0,
            workspace_id=workspace_id,
            connection_id=connection_id,
            kind=kind,
            since_ms=since_ms,
            until_ms=until_ms,
            state="enqueuing",
            enqueued=0,
            error="",
            created_ms=now_ms,
        )
        values = {name: value for name, value in msgspec.structs.asdict(job).items() if name != "id"}
        with self._write.begin() as conn:
            job_id = conn.execute(
                replay_jobs.insert().values(values).returning(replay_jobs.c.id)
            ).scalar_one()
        return msgspec.structs.replace(job, id=job_id)

    def update_replay_job(self, job_id: int, state: str, enqueued: int, error: str = "") -> None:
        stmt = replay_jobs.update().where(replay_jobs.c.id == job_id)
        with self._write.begin() as conn:
            conn.execute(stmt.values(state=state, enqueued=enqueued, error=error))

    def replay_progress(self, job_id: int) -> ReplayProgress | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(replay_jobs).where(replay_jobs.c.id == job_id)).first()
            if row is None:
                return None
            query = select(q.c.status, func.count()).where(q.c.replay_job_id == job_id).group_by(q.c.status)
            found = {status: int(n) for status, n in conn.execute(query).all()}
        return ReplayProgress(
            job=_job(row),
            pending=found.get(PENDING, 0),
            inflight=found.get(INFLIGHT, 0),
            done=found.get(DONE, 0),
            dead=found.get(DEAD, 0),
        )
