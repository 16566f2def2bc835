"""SqlCalculatedStore: the CalculatedStore port over SQLAlchemy: CA definitions, activation (with the
backfill boundary), backfill leases and the history scan; the states half is in calculated_states.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Engine, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from fermion.adapters.sql.calculated_states import SQLITE_ACTIVE, CalculatedStates
from fermion.adapters.sql.engine import write_engine
from fermion.adapters.sql.schema import batches as batches_t
from fermion.adapters.sql.schema_calculated import calculated_attributes as cas_t
from fermion.calculated.records import CaRecord
from fermion.ports.calculated import ActiveLimitReached, NameTaken

_PG_SAVE_LOCK = 0x6665726D696F6E  # event_store's save lock: activation reads the newest seq under it
_IN_CHUNK = 500
_SQLITE_SEQS = "SELECT batch_id, seq FROM batches WHERE batch_id IN (%s)"


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


class SqlCalculatedStore(CalculatedStates):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write = write_engine(engine)
        self._pg = engine.dialect.name == "postgresql"
        self._setup_states()

    # -- definitions -----------------------------------------------------------------------------

    def create(
        self, workspace_id: int, name: str, description: str, draft: dict[str, Any], now_ms: int
    ) -> CaRecord:
        values = {
            "workspace_id": workspace_id,
            "name": name,
            "description": description,
            "draft": _json(draft),
            "active": None,
            "created_ms": now_ms,
            "updated_ms": now_ms,
            "generation": 0,
            "status": "draft",
            "boundary_seq": 0,
            "progress_seq": 0,
            "total_batches": 0,
            "done_batches": 0,
        }
        try:
            with self._write.begin() as conn:
                new_id = conn.execute(insert(cas_t).values(**values).returning(cas_t.c.id)).scalar_one()
                row = conn.execute(select(cas_t).where(cas_t.c.id == new_id)).one()
        except IntegrityError:
            raise NameTaken(name) from None
        return self._records.record_of(row)

    def find(self, workspace_id: int, name: str | None = None) -> list[CaRecord]:
        query = select(cas_t).where(cas_t.c.workspace_id == workspace_id)
        if name is not None:
            query = query.where(cas_t.c.name == name)
        with self._engine.connect() as conn:
            return [self._records.record_of(r) for r in conn.execute(query.order_by(cas_t.c.id))]

    def get(self, workspace_id: int, ca_id: int) -> CaRecord | None:
        query = select(cas_t).where(cas_t.c.workspace_id == workspace_id, cas_t.c.id == ca_id)
        with self._engine.connect() as conn:
            row = conn.execute(query).one_or_none()
        return None if row is None else self._records.record_of(row)

    def update_draft(
        self,
        workspace_id: int,
        ca_id: int,
        name: str,
        description: str,
        draft: dict[str, Any] | None,
        now_ms: int,
    ) -> bool:
        stmt = (
            update(cas_t)
            .where(cas_t.c.workspace_id == workspace_id, cas_t.c.id == ca_id)
            .values(name=name, description=description, draft=_json(draft), updated_ms=now_ms)
        )
        try:
            with self._write.begin() as conn:
                return conn.execute(stmt).rowcount > 0
        except IntegrityError:
            raise NameTaken(name) from None

    def delete(self, workspace_id: int, ca_id: int) -> bool:
        with self._write.begin() as conn:
            gone = conn.execute(
                delete(cas_t).where(cas_t.c.workspace_id == workspace_id, cas_t.c.id == ca_id)
            ).rowcount
        return gone > 0

    def activate(self, workspace_id: int, ca_id: int, by: str, now_ms: int, max_active: int) -> bool:
        with self._write.begin() as conn:
            if self._pg:
                conn.execute(select(func.pg_advisory_xact_lock(_PG_SAVE_LOCK)))
            row = conn.execute(
                select(cas_t).where(cas_t.c.workspace_id == workspace_id, cas_t.c.id == ca_id)
            ).one_or_none()
            if row is None or row.draft is None:
                return False
            if row.active is None:
                active_count = conn.execute(
                    select(func.count())
                    .select_from(cas_t)
                    .where(cas_t.c.workspace_id == workspace_id, cas_t.c.active.is_not(None))
                ).scalar_one()
                if active_count >= max_active:
                    raise ActiveLimitReached(max_active)
            boundary = conn.execute(
                select(func.coalesce(func.max(batches_t.c.seq), 0)).where(
                    batches_t.c.workspace_id == workspace_id
                )
            ).scalar_one()
            total = conn.execute(
                select(func.count())
                .select_from(batches_t)
                .where(batches_t.c.workspace_id == workspace_id, batches_t.c.historical.is_(False))
            ).scalar_one()
            generation = row.generation + 1
            conn.execute(
                update(cas_t)
                .where(cas_t.c.id == ca_id)
                .values(
                    active=row.draft,
                    activated_ms=now_ms,
                    activated_by=by,
                    generation=generation,
                    status="calculating",
                    boundary_seq=boundary,
                    progress_seq=0,
                    total_batches=total,
                    done_batches=0,
                    calc_started_ms=now_ms,
                    calc_completed_ms=None,
                    lease_owner=None,
                    lease_until_ms=None,
                    updated_ms=now_ms,
                )
            )
        return True

    def active(self, workspace_ids: Sequence[int]) -> dict[int, list[CaRecord]]:
        found: dict[int, list[CaRecord]] = {}
        with self._engine.connect() as conn:
            if not self._pg:  # read for every processing group: SQLAlchemy's statement work skipped
                ids = list(workspace_ids)
                for start in range(0, len(ids), _IN_CHUNK):
                    part = tuple(ids[start : start + _IN_CHUNK])
                    for row in conn.exec_driver_sql(SQLITE_ACTIVE % ",".join("?" * len(part)), part):
                        found.setdefault(row.workspace_id, []).append(self._records.record_of(row))
                return found
            for cond in self._in(cas_t.c.workspace_id, list(workspace_ids)):
                query = select(cas_t).where(cond, cas_t.c.active.is_not(None)).order_by(cas_t.c.id)
                for row in conn.execute(query):
                    found.setdefault(row.workspace_id, []).append(self._records.record_of(row))
        return found

    def seqs_of(self, batch_ids: Sequence[int]) -> dict[int, int]:
        found: dict[int, int] = {}
        with self._engine.connect() as conn:
            if not self._pg:  # read for many processing groups: SQLAlchemy's IN-list expansion skipped
                ids = list(batch_ids)
                for start in range(0, len(ids), _IN_CHUNK):
                    part = ids[start : start + _IN_CHUNK]
                    rows = conn.exec_driver_sql(_SQLITE_SEQS % ",".join("?" * len(part)), tuple(part))
                    found.update((r[0], r[1]) for r in rows)
                return found
            for cond in self._in(batches_t.c.batch_id, list(batch_ids)):
                found.update(
                    (r[0], r[1])
                    for r in conn.execute(select(batches_t.c.batch_id, batches_t.c.seq).where(cond))
                )
        return found

    # -- states ----------------------------------------------------------------------------------

    # -- backfill --------------------------------------------------------------------------------

    def claim_backfill(self, owner: str, now_ms: int, lease_ms: int) -> list[CaRecord]:
        free = or_(
            cas_t.c.lease_until_ms.is_(None), cas_t.c.lease_until_ms < now_ms, cas_t.c.lease_owner == owner
        )
        with self._write.begin() as conn:
            candidate = conn.execute(
                select(cas_t.c.workspace_id).where(cas_t.c.status == "calculating", free).limit(1)
            ).scalar_one_or_none()
            if candidate is None:
                return []
            mine = and_(cas_t.c.workspace_id == candidate, cas_t.c.status == "calculating", free)
            conn.execute(
                update(cas_t).where(mine).values(lease_owner=owner, lease_until_ms=now_ms + lease_ms)
            )
            rows = conn.execute(
                select(cas_t).where(
                    cas_t.c.workspace_id == candidate,
                    cas_t.c.status == "calculating",
                    cas_t.c.lease_owner == owner,
                )
            ).all()
        return [self._records.record_of(r) for r in rows]

    def scan(
        self, workspace_id: int, after_seq: int, upto_seq: int, limit: int
    ) -> list[tuple[int, int, int, bytes]]:
        b = batches_t.c
        query = (
            select(b.seq, b.mpid, b.received_ms, b.payload)
            # Historical batches (/v2/bulkevents/historical) never change CAs (spec 1.1).
            .where(
                b.workspace_id == workspace_id,
                b.seq > after_seq,
                b.seq <= upto_seq,
                b.historical.is_(False),
            )
            .order_by(b.seq)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [(r[0], r[1], r[2], bytes(r[3])) for r in conn.execute(query)]

    def renew_backfill(self, owner: str, ca_ids: Sequence[int], now_ms: int, lease_ms: int) -> bool:
        stmt = (
            update(cas_t)
            .where(
                cas_t.c.id.in_(list(ca_ids)), cas_t.c.lease_owner == owner, cas_t.c.status == "calculating"
            )
            .values(lease_until_ms=now_ms + lease_ms)
        )
        with self._write.begin() as conn:
            return conn.execute(stmt).rowcount > 0
