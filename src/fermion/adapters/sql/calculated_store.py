"""SqlCalculatedStore: the CalculatedStore port (CA definitions, states, backfill leases) over SQLAlchemy.

Each state row has three parts with three writers (backfill, live phase, seeding); every upsert sets
only its own part, so they never overwrite one another. Live updates are serialized per workspace
(SQLite: the write lock; PostgreSQL: an advisory lock) so concurrent workers never lose a count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, Row, and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from fermion.adapters.sql.engine import write_engine
from fermion.adapters.sql.schema import batches as batches_t
from fermion.adapters.sql.schema_calculated import calculated_applied as applied_t
from fermion.adapters.sql.schema_calculated import calculated_attributes as cas_t
from fermion.adapters.sql.schema_calculated import calculated_states as states_t
from fermion.calculated.records import CaRecord, StateRow, StateWrite
from fermion.calculated.state import decode_state, encode_state, merge_states
from fermion.ports.calculated import ActiveLimitReached, LiveCompute, NameTaken

_PG_SAVE_LOCK = 0x6665726D696F6E  # event_store's save lock: activation reads the newest seq under it
_PG_LIVE_LOCK_BASE = 0x63616C63 << 32  # "calc" + workspace id: serializes live updates per workspace
_IN_CHUNK = 500


def _chunks(items: Sequence[Any], size: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _record(row: Row[Any]) -> CaRecord:
    return CaRecord(
        id=row.id,
        workspace_id=row.workspace_id,
        name=row.name,
        description=row.description,
        draft=orjson.loads(row.draft) if row.draft else None,
        active=orjson.loads(row.active) if row.active else None,
        created_ms=row.created_ms,
        updated_ms=row.updated_ms,
        activated_ms=row.activated_ms,
        activated_by=row.activated_by,
        generation=row.generation,
        status=row.status,
        boundary_seq=row.boundary_seq,
        progress_seq=row.progress_seq,
        total_batches=row.total_batches,
        done_batches=row.done_batches,
        calc_started_ms=row.calc_started_ms,
        calc_completed_ms=row.calc_completed_ms,
    )


def _state_row(row: Row[Any]) -> StateRow:
    return StateRow(
        ca_id=row.ca_id,
        mpid=row.mpid,
        generation=row.generation,
        base=None if row.base is None else bytes(row.base),
        live=None if row.live is None else bytes(row.live),
        seed=None if row.seed is None else bytes(row.seed),
        cutoff_ms=row.cutoff_ms,
    )


class SqlCalculatedStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write = write_engine(engine)
        self._pg = engine.dialect.name == "postgresql"
        self._live_upsert = self._upsert(["live"])
        self._base_upsert = self._upsert(["base"])
        self._seed_upsert = self._upsert(["seed", "cutoff_ms"])
        dialect_insert = postgresql.insert if self._pg else sqlite.insert
        self._mark_applied = dialect_insert(applied_t).on_conflict_do_nothing()

    def _upsert(self, parts: list[str]) -> Any:
        stmt = (postgresql.insert if self._pg else sqlite.insert)(states_t)
        return stmt.on_conflict_do_update(
            index_elements=["ca_id", "mpid"], set_={p: stmt.excluded[p] for p in parts}
        )

    def _in(self, column: Any, values: Sequence[Any]) -> Iterable[Any]:
        for chunk in _chunks(values):
            yield column.in_(chunk)

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
        return _record(row)

    def find(self, workspace_id: int, name: str | None = None) -> list[CaRecord]:
        query = select(cas_t).where(cas_t.c.workspace_id == workspace_id)
        if name is not None:
            query = query.where(cas_t.c.name == name)
        with self._engine.connect() as conn:
            return [_record(r) for r in conn.execute(query.order_by(cas_t.c.id))]

    def get(self, workspace_id: int, ca_id: int) -> CaRecord | None:
        query = select(cas_t).where(cas_t.c.workspace_id == workspace_id, cas_t.c.id == ca_id)
        with self._engine.connect() as conn:
            row = conn.execute(query).one_or_none()
        return None if row is None else _record(row)

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
            if gone:
                conn.execute(delete(states_t).where(states_t.c.ca_id == ca_id))
        return gone > 0

    def activate(self, workspace_id: int, ca_id: int, by: str, now_ms: int, max_active: int) -> bool:
        with self._write.begin() as conn:
            if self._pg:
                conn.execute(select(func.pg_advisory_xact_lock(_PG_SAVE_LOCK)))
                conn.execute(select(func.pg_advisory_xact_lock(_PG_LIVE_LOCK_BASE + workspace_id)))
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
                select(func.count()).select_from(batches_t).where(batches_t.c.workspace_id == workspace_id)
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
            conn.execute(
                update(states_t)
                .where(states_t.c.ca_id == ca_id)
                .values(base=None, live=None, generation=generation)
            )
        return True

    def active(self, workspace_ids: Sequence[int]) -> dict[int, list[CaRecord]]:
        found: dict[int, list[CaRecord]] = {}
        with self._engine.connect() as conn:
            for cond in self._in(cas_t.c.workspace_id, list(workspace_ids)):
                query = select(cas_t).where(cond, cas_t.c.active.is_not(None)).order_by(cas_t.c.id)
                for row in conn.execute(query):
                    found.setdefault(row.workspace_id, []).append(_record(row))
        return found

    def seqs_of(self, batch_ids: Sequence[int]) -> dict[int, int]:
        found: dict[int, int] = {}
        with self._engine.connect() as conn:
            for cond in self._in(batches_t.c.batch_id, list(batch_ids)):
                found.update(
                    (r[0], r[1])
                    for r in conn.execute(select(batches_t.c.batch_id, batches_t.c.seq).where(cond))
                )
        return found

    # -- states ----------------------------------------------------------------------------------

    def _load_states(self, conn: Connection, ca_ids: Sequence[int], mpids: Sequence[int]) -> list[StateRow]:
        if not ca_ids or not mpids:
            return []
        rows: list[StateRow] = []
        for cond in self._in(states_t.c.mpid, sorted(set(mpids))):
            query = select(states_t).where(cond, states_t.c.ca_id.in_(list(ca_ids)))
            rows.extend(_state_row(r) for r in conn.execute(query))
        return rows

    def apply_live(
        self, workspace_id: int, mpids: Sequence[int], batch_ids: Sequence[int], compute: LiveCompute
    ) -> None:
        with self._write.begin() as conn:
            if self._pg:
                conn.execute(select(func.pg_advisory_xact_lock(_PG_LIVE_LOCK_BASE + workspace_id)))
            cas = [
                _record(r)
                for r in conn.execute(
                    select(cas_t)
                    .where(cas_t.c.workspace_id == workspace_id, cas_t.c.active.is_not(None))
                    .order_by(cas_t.c.id)
                )
            ]
            if not cas:
                return
            loaded = self._load_states(conn, [c.id for c in cas], mpids)
            states = {(s.ca_id, s.mpid): s for s in loaded}
            applied: set[int] = set()
            for cond in self._in(applied_t.c.batch_id, list(batch_ids)):
                applied.update(conn.execute(select(applied_t.c.batch_id).where(cond)).scalars())
            writes = compute(cas, states, applied)
            if writes:
                conn.execute(
                    self._live_upsert,
                    [
                        {
                            "ca_id": w.ca_id,
                            "mpid": w.mpid,
                            "workspace_id": workspace_id,
                            "generation": w.generation,
                            "live": w.state,
                        }
                        for w in writes
                    ],
                )
            fresh = [b for b in batch_ids if b not in applied]
            if fresh:
                conn.execute(
                    self._mark_applied,
                    [{"batch_id": b, "workspace_id": workspace_id, "applied_ms": 0} for b in fresh],
                )

    def states(self, workspace_id: int, mpids: Sequence[int]) -> list[StateRow]:
        with self._engine.connect() as conn:
            ca_ids = list(
                conn.execute(
                    select(cas_t.c.id).where(
                        cas_t.c.workspace_id == workspace_id, cas_t.c.active.is_not(None)
                    )
                ).scalars()
            )
            return self._load_states(conn, ca_ids, mpids)

    def set_seeds(self, workspace_id: int, seeds: Sequence[tuple[int, int, bytes, int]]) -> None:
        if not seeds:
            return
        with self._write.begin() as conn:
            query = select(cas_t.c.id, cas_t.c.generation).where(
                cas_t.c.id.in_(sorted({s[0] for s in seeds}))
            )
            generations = {r[0]: r[1] for r in conn.execute(query)}
            conn.execute(
                self._seed_upsert,
                [
                    {
                        "ca_id": ca_id,
                        "mpid": mpid,
                        "workspace_id": workspace_id,
                        "generation": generations.get(ca_id, 0),
                        "seed": seed,
                        "cutoff_ms": cutoff,
                    }
                    for ca_id, mpid, seed, cutoff in seeds
                ],
            )

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
        return [_record(r) for r in rows]

    def scan(
        self, workspace_id: int, after_seq: int, upto_seq: int, limit: int
    ) -> list[tuple[int, int, int, bytes]]:
        b = batches_t.c
        query = (
            select(b.seq, b.mpid, b.received_ms, b.payload)
            .where(b.workspace_id == workspace_id, b.seq > after_seq, b.seq <= upto_seq)
            .order_by(b.seq)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [(r[0], r[1], r[2], bytes(r[3])) for r in conn.execute(query)]

    def count_batches(self, workspace_id: int, after_seq: int, upto_seq: int) -> int:
        b = batches_t.c
        query = select(func.count()).where(
            b.workspace_id == workspace_id, b.seq > after_seq, b.seq <= upto_seq
        )
        with self._engine.connect() as conn:
            count: int = conn.execute(query).scalar_one()
        return count

    def save_backfill(
        self,
        owner: str,
        workspace_id: int,
        writes: Sequence[StateWrite],
        progress: dict[int, tuple[int, int]],
        now_ms: int,
        lease_ms: int,
        finished: bool,
    ) -> bool:
        with self._write.begin() as conn:
            held = {
                r.id: r.generation
                for r in conn.execute(
                    select(cas_t.c.id, cas_t.c.generation).where(
                        cas_t.c.id.in_(list(progress)),
                        cas_t.c.lease_owner == owner,
                        cas_t.c.status == "calculating",
                    )
                )
            }
            if not held:
                return False
            mine = [w for w in writes if held.get(w.ca_id) == w.generation]
            existing = {
                (s.ca_id, s.mpid): s for s in self._load_states(conn, list(held), [w.mpid for w in mine])
            }
            params = []
            for w in mine:
                old = existing.get((w.ca_id, w.mpid))
                state = w.state
                if old is not None and old.base is not None and old.generation == w.generation:
                    state = encode_state(merge_states(decode_state(old.base), decode_state(w.state), 10_000))
                params.append(
                    {
                        "ca_id": w.ca_id,
                        "mpid": w.mpid,
                        "workspace_id": workspace_id,
                        "generation": w.generation,
                        "base": state,
                    }
                )
            if params:
                conn.execute(self._base_upsert, params)
            for ca_id in held:
                values: dict[str, Any] = {
                    "progress_seq": progress[ca_id][0],
                    "done_batches": progress[ca_id][1],
                    "lease_until_ms": now_ms + lease_ms,
                }
                if finished:
                    values.update(
                        status="completed", calc_completed_ms=now_ms, lease_owner=None, lease_until_ms=None
                    )
                conn.execute(update(cas_t).where(cas_t.c.id == ca_id).values(**values))
        return True
