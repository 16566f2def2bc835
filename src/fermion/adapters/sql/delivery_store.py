"""SqlDeliveryQueue: the DeliveryQueue port (per-connection queues, dead letters, replay jobs) over
SQLAlchemy Core. Claims use FOR UPDATE SKIP LOCKED on PostgreSQL; on SQLite the claim's UPDATE runs
under BEGIN IMMEDIATE, which already serializes claimers."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, and_, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from fermion.adapters.sql.delivery_claims import (
    Outcomes,
    claim_statements,
    claimed_items,
    lease_statements,
    stored_payloads_statement,
    without_payload,
)
from fermion.adapters.sql.delivery_log import add_counts
from fermion.adapters.sql.delivery_replay_jobs import ReplayJobs
from fermion.adapters.sql.engine import WRITE_TX, write_engine
from fermion.adapters.sql.raw_many import RawMany, RawQuery
from fermion.adapters.sql.schema import batches
from fermion.adapters.sql.schema_delivery import delivery_queue as q
from fermion.model.delivery import (
    ClaimedItem,
    CountKey,
    DeadLetter,
    ItemStatus,
    QueueItem,
)

_CHUNK = 500
_NEVER_MS = 2**62  # a due time later than any item's
_encode = msgspec.json.Encoder().encode
PENDING, INFLIGHT, DONE, DEAD = (s.value for s in ItemStatus)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def dialect_insert(engine: Engine, table: Any) -> Any:  # a dialect Insert (has on_conflict_*)
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _item_values(item: QueueItem, now_ms: int) -> dict[str, Any]:
    return {
        "connection_id": item.connection_id,
        "workspace_id": item.workspace_id,
        "batch_id": item.batch_id,
        "input_id": item.input_id,
        "environment": item.environment,
        "mpid": item.mpid,
        "received_ms": item.received_ms,
        "enqueued_ms": now_ms,
        "payload": item.payload,
        "summary": _encode(item.summary).decode(),
        "status": PENDING,
        "attempts": 0,
        "next_at_ms": now_ms,
        "claim_token": 0,
        "error_type": "",
        "last_error": "",
        "finished_ms": None,
        "replay_job_id": item.replay_job_id,
    }


_BLANK = QueueItem(
    connection_id=0,
    workspace_id=0,
    batch_id=0,
    input_id=0,
    environment="",
    mpid=0,
    received_ms=0,
    payload=None,
    summary=[],
)
_QUEUE_COLUMNS = tuple(_item_values(_BLANK, 0))  # the columns an enqueue writes


class SqlDeliveryQueue(ReplayJobs):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write = write_engine(engine)
        self._pg = engine.dialect.name == "postgresql"
        self._insert = dialect_insert(engine, q)
        self._enqueue = self._insert.on_conflict_do_nothing(index_elements=["connection_id", "batch_id"])
        # SQLite: straight through the driver's executemany (the processing hot path).
        self._raw_enqueue = None if self._pg else RawMany(self._enqueue, engine.dialect, _QUEUE_COLUMNS)
        self._claims = claim_statements(self._pg)
        self._outcomes = Outcomes(self._pg)
        self._leases = lease_statements()
        # SQLite: the claim and its payload read straight through the driver (the sender's hot path).
        self._raw: tuple[RawQuery, RawQuery, RawQuery] | None = None
        if not self._pg:
            dialect = engine.dialect
            self._raw = (
                RawQuery(self._claims[0], dialect),
                RawQuery(self._claims[1], dialect),
                RawQuery(stored_payloads_statement(), dialect),
            )

    # -- queueing ------------------------------------------------------------------------------

    def enqueue(self, items: Sequence[QueueItem], now_ms: int, counts: Mapping[CountKey, int]) -> int:
        added = 0
        with self._write.begin() as conn:
            if self._raw_enqueue is None:
                stmt = self._enqueue.returning(q.c.id)  # counts what was new (executemany rowcounts
                for chunk in _chunks(items):  # are unreliable on PostgreSQL)
                    added += len(conn.execute(stmt, [_item_values(i, now_ms) for i in chunk]).all())
            elif items:
                # A plain executemany is several times faster than RETURNING; the driver's change
                # counter says how many rows went in.
                raw = conn.connection.dbapi_connection
                before = raw.total_changes  # type: ignore[union-attr]
                self._raw_enqueue.run(conn, [_item_values(i, now_ms) for i in items])
                added = raw.total_changes - before  # type: ignore[union-attr]
            add_counts(conn, self._engine, counts)
        return added

    def requeue(self, items: Sequence[QueueItem], now_ms: int) -> int:
        stmt = self._insert.on_conflict_do_update(
            index_elements=["connection_id", "batch_id"],
            set_={
                "payload": self._insert.excluded.payload,
                "summary": self._insert.excluded.summary,
                "status": PENDING,
                "attempts": 0,
                "next_at_ms": now_ms,
                "claim_token": 0,  # an earlier claim's report no longer counts
                "error_type": "",
                "last_error": "",
                "finished_ms": None,
                "replay_job_id": self._insert.excluded.replay_job_id,
            },
        )
        with self._write.begin() as conn:
            for chunk in _chunks(items):
                conn.execute(stmt, [_item_values(i, now_ms) for i in chunk])
        return len(items)

    def stored_batch_ids(self, batch_ids: Sequence[int]) -> set[int]:
        found: set[int] = set()
        with self._engine.connect() as conn:
            for chunk in _chunks(list(batch_ids)):
                found.update(
                    conn.execute(select(batches.c.batch_id).where(batches.c.batch_id.in_(chunk))).scalars()
                )
        return found

    # -- claiming ------------------------------------------------------------------------------

    def claim(self, connection_id: int, limit: int, now_ms: int, lease_ms: int) -> list[ClaimedItem]:
        # Claims whose lease ran out (their sender died) first, then due pending items.
        return self._claim(connection_id, limit, now_ms, now_ms + lease_ms, (INFLIGHT, PENDING))

    def claim_probe(self, connection_id: int, now_ms: int, lease_ms: int) -> list[ClaimedItem]:
        # "Due" by the end of time: the pending item due first, however late.
        return self._claim(connection_id, 1, _NEVER_MS, now_ms + lease_ms, (PENDING,))

    def _claim(
        self, connection_id: int, limit: int, due_ms: int, until_ms: int, statuses: tuple[str, ...]
    ) -> list[ClaimedItem]:
        if self._raw is not None:
            return self._claim_raw(self._raw, connection_id, limit, due_ms, until_ms, statuses)
        anything, claim = self._claims
        with self._engine.connect() as conn:  # the common idle case takes no write lock
            if conn.execute(anything, {"c_cid": connection_id, "c_now": due_ms}).first() is None:
                return []
        token = random.randint(1, 2**62)
        params = {"c_cid": connection_id, "c_now": due_ms, "c_until": until_ms, "c_token": token}
        rows: list[Any] = []  # rows of _CLAIM_COLUMNS
        with self._write.begin() as conn:
            for status in statuses:
                if len(rows) >= limit:
                    break
                found = conn.execute(claim, {**params, "c_status": status, "c_limit": limit - len(rows)})
                rows.extend(found.all())
        # Stored batches never change: read them after the claim's transaction has let go of the lock.
        wanted = without_payload(rows)
        stored: dict[int, bytes] = {}
        if wanted:
            with self._engine.connect() as conn:
                stored = self._stored_payloads(conn, wanted)
        return claimed_items(rows, stored, token)

    def _claim_raw(
        self,
        raw: tuple[RawQuery, RawQuery, RawQuery],
        connection_id: int,
        limit: int,
        due_ms: int,
        until_ms: int,
        statuses: tuple[str, ...],
    ) -> list[ClaimedItem]:
        """_claim() on SQLite, the same statements run through the driver."""
        anything, claim, payloads = raw
        with self._engine.connect() as conn:  # the common idle case takes no write lock
            if not anything.run(conn, {"c_cid": connection_id, "c_now": due_ms}, begin=False):
                return []
            token = random.randint(1, 2**62)
            params = {"c_cid": connection_id, "c_now": due_ms, "c_until": until_ms, "c_token": token}
            rows: list[Any] = []  # rows of _CLAIM_COLUMNS
            with conn.execution_options(**{WRITE_TX: True}).begin():
                for status in statuses:
                    if len(rows) >= limit:
                        break
                    rows.extend(claim.run(conn, {**params, "c_status": status, "c_limit": limit - len(rows)}))
            wanted = without_payload(rows)
            stored: dict[int, bytes] = {}
            if wanted:  # after the claim's transaction: stored batches never change
                stored = dict(payloads.run(conn, {"s_ids": _encode(wanted).decode()}, begin=False))
        return claimed_items(rows, stored, token)

    @staticmethod
    def _stored_payloads(conn: Connection, batch_ids: list[int]) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        for chunk in _chunks(batch_ids):
            query = select(batches.c.batch_id, batches.c.payload).where(batches.c.batch_id.in_(chunk))
            found.update((bid, bytes(payload)) for bid, payload in conn.execute(query).all())
        return found

    def due(self, connection_id: int, now_ms: int) -> tuple[int, int | None, int | None]:
        mine = q.c.connection_id == connection_id
        # An inflight item due is a claim whose lease ran out: claimable again.
        due_now = and_(mine, q.c.status.in_((PENDING, INFLIGHT)), q.c.next_at_ms <= now_ms)
        with self._engine.connect() as conn:
            capped = select(q.c.enqueued_ms).where(due_now).order_by(q.c.next_at_ms).limit(10_000).subquery()
            count, oldest = conn.execute(select(func.count(), func.min(capped.c.enqueued_ms))).one()
            later = conn.execute(
                select(func.min(q.c.next_at_ms)).where(
                    mine, q.c.status.in_((PENDING, INFLIGHT)), q.c.next_at_ms > now_ms
                )
            ).scalar()
        return int(count), oldest, later

    # -- outcomes ------------------------------------------------------------------------------

    def _outcome(
        self, conn: Connection, items: Sequence[ClaimedItem], stmt: Any, params: dict[str, Any]
    ) -> int:
        """Run an outcome update per claim token: it only touches items still under their claim."""
        by_token: dict[int, list[int]] = {}
        for item in items:
            by_token.setdefault(item.token, []).append(item.id)
        changed = 0
        for token, ids in by_token.items():
            found = conn.execute(stmt, {**params, "o_token": token, "o_ids": self._outcomes.ids(ids)})
            changed += max(found.rowcount, 0)
        return changed

    def complete(self, items: Sequence[ClaimedItem], now_ms: int, counts: Mapping[CountKey, int]) -> int:
        # A delivered item keeps only its key (payload dropped): it stays to dedupe a re-enqueue.
        with self._write.begin() as conn:
            changed = self._outcome(conn, items, self._outcomes.complete, {"o_now": now_ms})
            add_counts(conn, self._engine, counts)
        return changed

    def retry(
        self, items: Sequence[ClaimedItem], next_at_ms: int, error_type: str, error: str, refund: bool = False
    ) -> int:
        params = {"o_next": next_at_ms, "o_type": error_type, "o_error": error}
        stmt = self._outcomes.refund if refund else self._outcomes.retry
        with self._write.begin() as conn:
            return self._outcome(conn, items, stmt, params)

    def extend(self, claims: Sequence[tuple[int, int]], until_ms: int) -> int:
        if not claims:
            return 0
        changed = 0
        with self._write.begin() as conn:  # one statement per claim: executemany rowcounts vary
            for cid, token in claims:
                params = {"l_cid": cid, "l_token": token, "l_until": until_ms}
                changed += max(conn.execute(self._leases[0], params).rowcount, 0)
        return changed

    def resume(self, connection_id: int, now_ms: int) -> int:
        with self._write.begin() as conn:
            return max(conn.execute(self._leases[1], {"l_cid": connection_id, "l_now": now_ms}).rowcount, 0)

    def bury(self, items: Sequence[ClaimedItem], error_type: str, error: str, now_ms: int) -> int:
        params = {"o_now": now_ms, "o_type": error_type, "o_error": error}
        with self._write.begin() as conn:
            return self._outcome(conn, items, self._outcomes.bury, params)

    # -- dead letters and replay ---------------------------------------------------------------

    def dead_letters(self, connection_id: int, limit: int = 100, after_id: int = 0) -> list[DeadLetter]:
        query = (
            select(q)
            .where(q.c.connection_id == connection_id, q.c.status == DEAD, q.c.id > after_id)
            .order_by(q.c.id)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            DeadLetter(
                id=r.id,
                connection_id=r.connection_id,
                batch_id=r.batch_id,
                environment=r.environment,
                received_ms=r.received_ms,
                attempts=r.attempts,
                error_type=r.error_type,
                last_error=r.last_error,
                failed_ms=r.finished_ms or 0,
            )
            for r in rows
        ]

    def count_by_status(self, connection_id: int) -> dict[str, int]:
        query = (
            select(q.c.status, func.count()).where(q.c.connection_id == connection_id).group_by(q.c.status)
        )
        with self._engine.connect() as conn:
            found = {status: int(n) for status, n in conn.execute(query).all()}
        return {s.value: found.get(s.value, 0) for s in ItemStatus}

    def requeue_dead(self, connection_id: int, replay_job_id: int, now_ms: int) -> int:
        stmt = (
            update(q)
            .where(q.c.connection_id == connection_id, q.c.status == DEAD)
            .values(
                status=PENDING,
                attempts=0,
                next_at_ms=now_ms,
                claim_token=0,
                finished_ms=None,
                replay_job_id=replay_job_id,
            )
        )
        with self._write.begin() as conn:
            return max(conn.execute(stmt).rowcount, 0)

    def purge_done(self, before_ms: int) -> int:
        # The status as a literal: only then do SQLite and PostgreSQL's generic plans use the partial
        # index on done rows' finished_ms.
        stmt = q.delete().where(text(f"delivery_queue.status = '{DONE}'"), q.c.finished_ms < before_ms)
        with self._write.begin() as conn:
            return max(conn.execute(stmt).rowcount, 0)
