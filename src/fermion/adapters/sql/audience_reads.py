"""Reads of the audience store that change nothing: members, size, history and change counts of an
audience, and the event store's batches an activation over history walks (a base of SqlAudienceStore)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import Engine, and_, func, select

from fermion.adapters.sql.schema import batches
from fermion.adapters.sql.schema_audiences import audience_history, audience_members, audience_users
from fermion.audiences.records import HistoryEntry, Membership

CHUNK = 500  # keys per IN list / rows per statement
_decode_ids = msgspec.json.Decoder(dict[str, str]).decode


def chunks(values: Sequence[Any]) -> list[Sequence[Any]]:
    return [values[i : i + CHUNK] for i in range(0, len(values), CHUNK)]


def membership(row: Any) -> Membership:
    return Membership(
        audience_id=row.audience_id,
        workspace_id=row.workspace_id,
        mpid=row.mpid,
        member=bool(row.member),
        joined_ms=row.joined_ms,
        left_ms=row.left_ms,
        identities=_decode_ids(row.identities),
    )


class AudienceReads:
    _engine: Engine

    def members(self, audience_id: int, after_mpid: int | None, limit: int) -> list[Membership]:
        t = audience_members.c
        stmt = select(audience_members).where(t.audience_id == audience_id, t.member.is_(True))
        if after_mpid is not None:
            stmt = stmt.where(t.mpid > after_mpid)
        with self._engine.connect() as conn:
            return [membership(r) for r in conn.execute(stmt.order_by(t.mpid).limit(limit))]

    def size(self, audience_id: int) -> int:
        t = audience_members.c
        stmt = select(func.count()).where(t.audience_id == audience_id, t.member.is_(True))
        with self._engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def history(self, audience_id: int, mpid: int | None, limit: int) -> list[HistoryEntry]:
        t = audience_history.c
        stmt = select(audience_history).where(t.audience_id == audience_id)
        if mpid is not None:
            stmt = stmt.where(t.mpid == mpid)
        with self._engine.connect() as conn:
            rows = conn.execute(stmt.order_by(t.id).limit(limit)).all()
        return [
            HistoryEntry(audience_id=r.audience_id, mpid=r.mpid, action=r.action, changed_ms=r.changed_ms)
            for r in rows
        ]

    def change_counts(self, audience_id: int, since_ms: int) -> tuple[int, int]:
        t = audience_history.c
        stmt = (
            select(t.action, func.count())
            .where(t.audience_id == audience_id, t.changed_ms >= since_ms)
            .group_by(t.action)
        )
        with self._engine.connect() as conn:
            counts = {a: int(n) for a, n in conn.execute(stmt)}
        return counts.get("add", 0), counts.get("remove", 0)

    # -- reading the event store's batches (activation over history) -------------------------------

    def max_seq(self, workspace_id: int) -> int:
        stmt = select(func.max(batches.c.seq)).where(batches.c.workspace_id == workspace_id)
        with self._engine.connect() as conn:
            return int(conn.execute(stmt).scalar() or 0)

    def stored_seqs(self, workspace_id: int, batch_ids: Sequence[int]) -> dict[int, int]:
        found: dict[int, int] = {}
        t = batches.c
        with self._engine.connect() as conn:
            for part in chunks(sorted(set(batch_ids))):
                stmt = select(t.batch_id, t.seq).where(
                    and_(t.workspace_id == workspace_id, t.batch_id.in_(part))
                )
                found.update({b: s for b, s in conn.execute(stmt)})
        return found

    def mpids_with_state(self, workspace_id: int, after_mpid: int | None, limit: int) -> list[int]:
        t = audience_users.c
        stmt = select(t.mpid).where(t.workspace_id == workspace_id)
        if after_mpid is not None:
            stmt = stmt.where(t.mpid > after_mpid)
        with self._engine.connect() as conn:
            return [r[0] for r in conn.execute(stmt.order_by(t.mpid).limit(limit))]
