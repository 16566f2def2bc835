"""The delivery queue's claim and outcome statements, built once (the sender claims and reports all the
time, and building and cache-keying SQLAlchemy expressions each time cost more than the queries), and
claimed rows as items."""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import msgspec
from sqlalchemy import BigInteger, any_, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from fermion.adapters.sql.schema import batches
from fermion.adapters.sql.schema_delivery import delivery_queue as q
from fermion.model.delivery import ClaimedItem, ItemStatus

_decode_summary = msgspec.json.Decoder(list[tuple[str, str, int]]).decode
_encode_ids = msgspec.json.Encoder().encode
PENDING, INFLIGHT, DONE, DEAD = (s.value for s in ItemStatus)

_CLAIM_COLUMNS = (
    q.c.id,
    q.c.connection_id,
    q.c.workspace_id,
    q.c.batch_id,
    q.c.input_id,
    q.c.environment,
    q.c.mpid,
    q.c.received_ms,
    q.c.enqueued_ms,
    q.c.attempts,
    q.c.payload,
    q.c.summary,
)


def claim_statements(pg: bool) -> tuple[Any, Any]:
    """(anything due?, claim): parameters c_cid, c_now; and c_status, c_limit, c_until, c_token."""
    due = (q.c.connection_id == bindparam("c_cid"), q.c.next_at_ms <= bindparam("c_now"))
    # Two equalities, not IN: an expanding IN cannot be compiled once (RawQuery); SQLite turns
    # them into the same IN lookup.
    anything = select(q.c.id).where(*due, or_(q.c.status == PENDING, q.c.status == INFLIGHT)).limit(1)
    ids = select(q.c.id).where(*due, q.c.status == bindparam("c_status"))
    ids = ids.order_by(q.c.next_at_ms).limit(bindparam("c_limit"))
    if pg:
        ids = ids.with_for_update(skip_locked=True)
    claim = (
        update(q)
        .where(q.c.id.in_(ids.scalar_subquery()))
        .values(
            status=INFLIGHT,
            attempts=q.c.attempts + 1,
            next_at_ms=bindparam("c_until"),
            claim_token=bindparam("c_token"),
        )
        .returning(*_CLAIM_COLUMNS)
    )
    return anything, claim


def stored_payloads_statement() -> Any:
    """(batch_id, payload) of the stored batches whose ids are in the JSON array parameter s_ids."""
    listed = func.json_each(bindparam("s_ids")).table_valued("value")
    return select(batches.c.batch_id, batches.c.payload).where(
        batches.c.batch_id.in_(select(listed.c.value).scalar_subquery())
    )


def without_payload(rows: Sequence[Any]) -> list[int]:
    """Batch ids of claimed rows that carry no payload of their own (they send the stored batch)."""
    return [row[3] for row in rows if row[10] is None]


def claimed_items(rows: Sequence[Any], stored: dict[int, bytes], token: int) -> list[ClaimedItem]:
    """Rows of _CLAIM_COLUMNS as items, in queue order; a row without its own payload takes the stored
    batch's. Items with the same summary text share its decoded list (read-only; most batches of a
    connection carry the same few)."""
    summaries: dict[str, list[tuple[str, str, int]]] = {}
    for text in {row[11] for row in rows}:
        summaries[text] = _decode_summary(text)
    return [
        ClaimedItem(
            id=item_id,
            connection_id=connection,
            workspace_id=workspace,
            batch_id=batch_id,
            input_id=input_id,
            environment=environment,
            mpid=mpid,
            received_ms=received,
            enqueued_ms=enqueued,
            attempts=attempts,
            payload=bytes(payload) if payload is not None else stored.get(batch_id, b""),
            summary=summaries[summary],
            token=token,
        )
        for (
            item_id,
            connection,
            workspace,
            batch_id,
            input_id,
            environment,
            mpid,
            received,
            enqueued,
            attempts,
            payload,
            summary,
        ) in sorted(rows, key=itemgetter(0))
    ]


class Outcomes:
    """The outcome updates (complete, retry, bury) of claimed items, by claim token and item ids.

    The ids go in as ONE parameter (a JSON array read with json_each on SQLite, an array on
    PostgreSQL): an expanding IN of hundreds of bound parameters cost more to render per call than
    the update itself. Only items still under their claim (token, inflight) change."""

    def __init__(self, pg: bool) -> None:
        self._pg = pg
        if pg:
            ids: Any = any_(bindparam("o_ids", type_=ARRAY(BigInteger)))
            held = q.c.id == ids
        else:
            listed = func.json_each(bindparam("o_ids")).table_valued("value")
            held = q.c.id.in_(select(listed.c.value).scalar_subquery())
        base = update(q).where(held, q.c.claim_token == bindparam("o_token"), q.c.status == INFLIGHT)
        self.complete = base.values(
            status=DONE, finished_ms=bindparam("o_now"), payload=None, error_type="", last_error=""
        )
        self.retry = base.values(
            status=PENDING,
            next_at_ms=bindparam("o_next"),
            error_type=bindparam("o_type"),
            last_error=bindparam("o_error"),
        )
        self.refund = base.values(  # a retry whose attempt does not count (its claim counted it)
            status=PENDING,
            attempts=q.c.attempts - 1,
            next_at_ms=bindparam("o_next"),
            error_type=bindparam("o_type"),
            last_error=bindparam("o_error"),
        )
        self.bury = base.values(
            status=DEAD,
            finished_ms=bindparam("o_now"),
            error_type=bindparam("o_type"),
            last_error=bindparam("o_error"),
        )

    def ids(self, ids: Sequence[int]) -> Any:
        """The o_ids parameter for these item ids."""
        return list(ids) if self._pg else _encode_ids(ids).decode()


def lease_statements() -> tuple[Any, Any]:
    """(extend: parameters l_cid, l_token, l_until; resume: l_cid, l_now). Both stay within the
    (connection_id, status, next_at_ms) index."""
    held = (q.c.connection_id == bindparam("l_cid"), q.c.status == INFLIGHT)
    extend = (
        update(q)
        .where(*held, q.c.claim_token == bindparam("l_token"))
        .values(next_at_ms=bindparam("l_until"))
    )
    waiting = (
        q.c.connection_id == bindparam("l_cid"),
        q.c.status == PENDING,
        q.c.next_at_ms > bindparam("l_now"),
    )
    resume = update(q).where(*waiting).values(next_at_ms=bindparam("l_now"))
    return extend, resume
