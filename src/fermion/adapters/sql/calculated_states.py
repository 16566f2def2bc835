"""CA states over SQL: one row per user with three documents (backfill, live, seeds), each written by
its own writer; writes to a workspace's states are serialized (SQLite: the write lock; PostgreSQL: an
advisory lock per workspace), so concurrent workers and the backfill never lose an update.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import BigInteger, Connection, Engine, bindparam, cast, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from fermion.adapters.sql.raw_many import RawMany
from fermion.adapters.sql.schema_calculated import calculated_applied as applied_t
from fermion.adapters.sql.schema_calculated import calculated_attributes as cas_t
from fermion.adapters.sql.schema_calculated import calculated_states as states_t
from fermion.calculated.records import CaRecord, StateRow, StateWrite
from fermion.calculated.state import (
    MAX_DISTINCT,
    SeedEntry,
    decode_seeds,
    decode_states,
    encode_doc,
    merge_user_states,
)
from fermion.calculated.state import Part as SeedPart
from fermion.ports.calculated import LiveCompute

# PostgreSQL advisory lock keys: per workspace for the backfill's and the seeds' documents (one writer
# of each at a time), per user for the live documents (workers only wait for one another when their
# groups share users).
_PG_BASE_LOCK = 0x63616C62 << 32  # "calb" + workspace id
_PG_SEED_LOCK = 0x63616C73 << 32  # "cals" + workspace id
_PG_LIVE_LOCK = 0x4C  # "L", mixed with the workspace id and the MPID's low 48 bits
_IN_CHUNK = 500
_SQLITE_LOAD_STATES = (
    "SELECT mpid, base, live, seeds FROM calculated_states WHERE workspace_id = ? AND mpid IN (%s)"
)
_SQLITE_APPLIED = "SELECT batch_id FROM calculated_applied WHERE batch_id IN (%s)"
# Every column in select(calculated_attributes)'s order (so RecordMemo's keys agree); all
# integers and text, which need no conversion.
SQLITE_ACTIVE = (
    f"SELECT {', '.join(c.name for c in cas_t.c)} FROM calculated_attributes"
    " WHERE workspace_id IN (%s) AND active IS NOT NULL ORDER BY id"
)


def _state_row(row: Any) -> StateRow:
    return StateRow(
        mpid=row.mpid,
        base=None if row.base is None else bytes(row.base),
        live=None if row.live is None else bytes(row.live),
        seeds=None if row.seeds is None else bytes(row.seeds),
    )


class RecordMemo:
    """CA records by their definition row. Definitions are read for every processing group: a row
    seen before maps to its record, skipping the JSON parsing. A row is a tuple of every column, so
    any change to a definition is a new key and a record can never be stale. The memo lives as long
    as its store (the processing phase's lives as long as the worker) and holds at most `max_rows`
    rows, starting over when full."""

    __slots__ = ("_max_rows", "_records")

    def __init__(self, max_rows: int = 10_000) -> None:
        self._max_rows = max_rows
        self._records: dict[tuple[Any, ...], CaRecord] = {}

    def record_of(self, row: Any) -> CaRecord:
        key = tuple(row)
        found = self._records.get(key)
        if found is None:
            if len(self._records) >= self._max_rows:
                self._records.clear()
            found = self._records[key] = _record_of(row)
        return found


def _record_of(row: Any) -> CaRecord:
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


class CalculatedStates:
    """The state half of SqlCalculatedStore (it sets `_engine`, `_write` and `_pg`)."""

    _engine: Engine
    _write: Engine
    _pg: bool

    def _setup_states(self) -> None:
        self._records = RecordMemo()
        self._live_upsert = self._upsert(["live"])
        self._base_upsert = self._upsert(["base"])
        self._seed_upsert = self._upsert(["seeds"])
        dialect_insert = postgresql.insert if self._pg else sqlite.insert
        self._mark_applied = dialect_insert(applied_t).on_conflict_do_nothing()
        # SQLite: the live phase's per-group writes straight through the DB-API (SQLAlchemy's per-row
        # parameter work costs more than SQLite's own here).
        dialect = self._engine.dialect
        self._raw_live = (
            None if self._pg else RawMany(self._live_upsert, dialect, ("workspace_id", "mpid", "live"))
        )
        self._raw_marks = (
            None
            if self._pg
            else RawMany(self._mark_applied, dialect, ("batch_id", "workspace_id", "applied_ms"))
        )

    def _upsert(self, parts: list[str]) -> Any:
        stmt = (postgresql.insert if self._pg else sqlite.insert)(states_t)
        return stmt.on_conflict_do_update(
            index_elements=["workspace_id", "mpid"], set_={p: stmt.excluded[p] for p in parts}
        )

    def _in(self, column: Any, values: Sequence[Any]) -> Iterable[Any]:
        for start in range(0, len(values), _IN_CHUNK):
            yield column.in_(values[start : start + _IN_CHUNK])

    def _lock_workspace(self, conn: Connection, base: int, workspace_id: int) -> None:
        if self._pg:
            conn.execute(select(func.pg_advisory_xact_lock(base + workspace_id)))

    def _lock_users(self, conn: Connection, workspace_id: int, mpids: Sequence[int]) -> None:
        """Per-user locks, taken in key order in one statement (so two groups never deadlock)."""
        if not self._pg or not mpids:
            return
        keys = sorted({(_PG_LIVE_LOCK << 32 ^ workspace_id << 48 ^ m) & 0x7FFF_FFFF_FFFF_FFFF for m in mpids})
        source = (
            func.unnest(cast(bindparam("keys", keys), postgresql.ARRAY(BigInteger)))
            .table_valued("k")
            .render_derived()
        )
        conn.execute(select(func.pg_advisory_xact_lock(source.c.k)).select_from(source).order_by(source.c.k))

    def _load_rows(self, conn: Connection, workspace_id: int, mpids: Sequence[int]) -> dict[int, StateRow]:
        rows: dict[int, StateRow] = {}
        if not self._pg:  # read for every processing group: SQLAlchemy's per-row work skipped
            wanted = sorted(set(mpids))
            for start in range(0, len(wanted), _IN_CHUNK):
                part = wanted[start : start + _IN_CHUNK]
                found = conn.exec_driver_sql(
                    _SQLITE_LOAD_STATES % ",".join("?" * len(part)), (workspace_id, *part)
                )
                for mpid, base, live, seeds in found:
                    rows[mpid] = StateRow(mpid=mpid, base=base, live=live, seeds=seeds)
            return rows
        for cond in self._in(states_t.c.mpid, sorted(set(mpids))):
            query = select(states_t).where(states_t.c.workspace_id == workspace_id, cond)
            for row in conn.execute(query):
                rows[row.mpid] = _state_row(row)
        return rows

    def _save(
        self, conn: Connection, stmt: Any, part: str, workspace_id: int, writes: Sequence[StateWrite]
    ) -> None:
        if writes:
            conn.execute(stmt, [{"workspace_id": workspace_id, "mpid": w.mpid, part: w.doc} for w in writes])

    def apply_live(
        self,
        workspace_id: int,
        mpids: Sequence[int],
        batch_ids: Sequence[int],
        compute: LiveCompute,
        now_ms: int,
    ) -> None:
        with self._write.begin() as conn:
            self._lock_users(conn, workspace_id, mpids)
            if self._pg:
                query = (
                    select(cas_t)
                    .where(cas_t.c.workspace_id == workspace_id, cas_t.c.active.is_not(None))
                    .order_by(cas_t.c.id)
                )
                cas = [self._records.record_of(r) for r in conn.execute(query)]
            else:  # read for every processing group: SQLAlchemy's statement work skipped
                found = conn.exec_driver_sql(SQLITE_ACTIVE % "?", (workspace_id,))
                cas = [self._records.record_of(r) for r in found]
            if not cas:
                return
            rows = self._load_rows(conn, workspace_id, mpids)
            applied = self._applied(conn, batch_ids)
            writes = compute(cas, rows, applied)
            if self._raw_live is not None:
                self._raw_live.run(
                    conn, [{"workspace_id": workspace_id, "mpid": w.mpid, "live": w.doc} for w in writes]
                )
            else:
                self._save(conn, self._live_upsert, "live", workspace_id, writes)
            fresh = [b for b in batch_ids if b not in applied]
            if fresh:
                marks = [{"batch_id": b, "workspace_id": workspace_id, "applied_ms": now_ms} for b in fresh]
                if self._raw_marks is not None:
                    self._raw_marks.run(conn, marks)
                else:
                    conn.execute(self._mark_applied, marks)

    def _applied(self, conn: Connection, batch_ids: Sequence[int]) -> set[int]:
        applied: set[int] = set()
        if not self._pg:  # read for every processing group: SQLAlchemy's IN-list expansion skipped
            ids = list(batch_ids)
            for start in range(0, len(ids), _IN_CHUNK):
                part = ids[start : start + _IN_CHUNK]
                found = conn.exec_driver_sql(_SQLITE_APPLIED % ",".join("?" * len(part)), tuple(part))
                applied.update(r[0] for r in found)
            return applied
        for cond in self._in(applied_t.c.batch_id, list(batch_ids)):
            applied.update(conn.execute(select(applied_t.c.batch_id).where(cond)).scalars())
        return applied

    def prune_applied(self, before_ms: int) -> int:
        with self._write.begin() as conn:
            gone: int = conn.execute(delete(applied_t).where(applied_t.c.applied_ms < before_ms)).rowcount
        return gone

    def states(self, workspace_id: int, mpids: Sequence[int]) -> list[StateRow]:
        with self._engine.connect() as conn:
            return list(self._load_rows(conn, workspace_id, mpids).values())

    def set_seeds(self, workspace_id: int, seeds: Sequence[tuple[int, int, SeedPart, int]]) -> None:
        if not seeds:
            return
        with self._write.begin() as conn:
            self._lock_workspace(conn, _PG_SEED_LOCK, workspace_id)
            rows = self._load_rows(conn, workspace_id, [s[1] for s in seeds])
            docs: dict[int, dict[int, SeedEntry]] = {}
            for ca_id, mpid, part, cutoff in seeds:
                if mpid not in docs:
                    row = rows.get(mpid)
                    docs[mpid] = decode_seeds(row.seeds if row else None)
                docs[mpid][ca_id] = SeedEntry(part, cutoff)
            writes = [StateWrite(mpid=m, doc=encode_doc(d)) for m, d in docs.items()]
            self._save(conn, self._seed_upsert, "seeds", workspace_id, writes)

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
            self._lock_workspace(conn, _PG_BASE_LOCK, workspace_id)
            query = select(cas_t.c.id, cas_t.c.generation).where(
                cas_t.c.id.in_(list(progress)), cas_t.c.lease_owner == owner, cas_t.c.status == "calculating"
            )
            held = {r.id: r.generation for r in conn.execute(query)}
            if not held:
                return False
            rows = self._load_rows(conn, workspace_id, [w.mpid for w in writes])
            merged = []
            for w in writes:
                new = {ca: e for ca, e in decode_states(w.doc).items() if held.get(ca) == e.g}
                row = rows.get(w.mpid)
                doc = merge_user_states(decode_states(row.base if row else None), new, MAX_DISTINCT)
                merged.append(StateWrite(mpid=w.mpid, doc=encode_doc(doc)))
            self._save(conn, self._base_upsert, "base", workspace_id, merged)
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
