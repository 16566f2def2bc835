"""SqlAudienceStore: the AudienceStore port (definitions, user state, memberships, history) over
SQLAlchemy Core, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter, itemgetter
from typing import Any

import msgspec
from sqlalchemy import Engine, case, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from fermion.adapters.sql.audience_reads import AudienceReads, chunks, membership
from fermion.adapters.sql.audience_sqlite import member_rows, version_rows
from fermion.adapters.sql.engine import write_engine
from fermion.adapters.sql.raw_many import RawMany
from fermion.adapters.sql.schema import batches
from fermion.adapters.sql.schema_audiences import (
    audience_applied,
    audience_history,
    audience_members,
    audience_users,
    audiences,
)
from fermion.audiences.records import Audience, HistoryEntry, Kind, Membership, Status, UserState
from fermion.ports.audiences import AlreadyApplied, StaleState

_STATES_KEPT = 5_000  # decoded user states kept between loads (a few KB each)
_PG_EVENT_SAVE_LOCK = 0x6665726D696F6E  # the event store's save lock ("fermion")
_USER_COLUMNS = ("workspace_id", "mpid", "state", "updated_ms", "next_check_ms", "version")
_MEMBER_COLUMNS = ("audience_id", "mpid", "workspace_id", "member", "joined_ms", "left_ms", "identities")
_HISTORY_COLUMNS = ("audience_id", "mpid", "action", "changed_ms")
_SQLITE_LOAD_USERS = "SELECT mpid, state, version FROM audience_users WHERE workspace_id = ? AND mpid IN (%s)"
_encode = msgspec.json.Encoder().encode
# User state is read and written for every user of every processing group: MessagePack is quicker
# to encode and decode than JSON, and smaller.
_encode_state = msgspec.msgpack.Encoder().encode
_decode_state = msgspec.msgpack.Decoder(UserState).decode
_decode_any = msgspec.json.Decoder().decode


_first = itemgetter(0)
_membership_key = attrgetter("audience_id", "mpid")


def _audience(row: Any) -> Audience:
    return Audience(
        id=row.id,
        workspace_id=row.workspace_id,
        account_id=row.account_id,
        name=row.name,
        external_name=row.external_name,
        kind=Kind(row.kind),
        status=Status(row.status),
        draft_criteria=_decode_any(row.draft_criteria),
        criteria=_decode_any(row.criteria),
        created_ms=row.created_ms,
        updated_ms=row.updated_ms,
        boundary_seq=row.boundary_seq,
        progress_seq=row.progress_seq,
        activated_ms=row.activated_ms,
        calculated_ms=row.calculated_ms,
        sent_ms=row.sent_ms,
    )


def _audience_values(a: Audience) -> dict[str, Any]:
    return {
        "workspace_id": a.workspace_id,
        "account_id": a.account_id,
        "name": a.name,
        "external_name": a.external_name,
        "kind": a.kind.value,
        "status": a.status.value,
        "draft_criteria": _encode(a.draft_criteria).decode(),
        "criteria": _encode(a.criteria).decode(),
        "created_ms": a.created_ms,
        "updated_ms": a.updated_ms,
        "boundary_seq": a.boundary_seq,
        "progress_seq": a.progress_seq,
        "activated_ms": a.activated_ms,
        "calculated_ms": a.calculated_ms,
        "sent_ms": a.sent_ms,
    }


class SqlAudienceStore(AudienceReads):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write = write_engine(engine)
        self._dialect = engine.dialect.name
        stmt = self._insert(audience_users)
        self._upsert_users = stmt.on_conflict_do_update(
            index_elements=[audience_users.c.workspace_id, audience_users.c.mpid],
            set_={k: stmt.excluded[k] for k in ("state", "updated_ms", "next_check_ms", "version")},
            where=audience_users.c.version == stmt.excluded.version - 1,
        )
        # SQLite: straight through the DB-API (SQLAlchemy's per-row parameter work costs more than
        # SQLite's own on this per-group write).
        self._insert_markers = self._insert(audience_applied).on_conflict_do_nothing()
        self._raw_markers = (
            RawMany(self._insert_markers, engine.dialect, ("workspace_id", "batch_id"))
            if self._dialect == "sqlite"
            else None
        )
        self._raw_users = (
            RawMany(self._upsert_users, engine.dialect, _USER_COLUMNS) if self._dialect == "sqlite" else None
        )
        members = self._insert(audience_members)
        t, new = audience_members.c, members.excluded
        self._upsert_members = members.on_conflict_do_update(
            index_elements=[t.audience_id, t.mpid],
            # A change carries only its own time (0 for the other): keep the later.
            set_={
                "member": new.member,
                "identities": new.identities,
                "joined_ms": case((new.joined_ms > t.joined_ms, new.joined_ms), else_=t.joined_ms),
                "left_ms": case((new.left_ms > t.left_ms, new.left_ms), else_=t.left_ms),
            },
        )
        self._insert_history = insert(audience_history)
        sqlite_only = self._dialect == "sqlite"
        self._raw_members = (
            RawMany(self._upsert_members, engine.dialect, _MEMBER_COLUMNS) if sqlite_only else None
        )
        self._raw_history = (
            RawMany(self._insert_history, engine.dialect, _HISTORY_COLUMNS) if sqlite_only else None
        )
        # The user states this store saved, by (workspace, mpid), with the version their row got: a
        # load of a row still at that version hands the object out instead of decoding the row (which
        # with freeing the last group's objects was a fifth of the audience phase). An entry is taken
        # out when loaded (its caller changes it) and put back only by a save that committed, so a
        # kept state is always the row's content; a row any other writer saved has a newer version.
        self._states: dict[tuple[int, int], tuple[int, UserState]] = {}

    def _insert(self, table: Any) -> Any:
        return (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(table)

    # -- definitions -----------------------------------------------------------------------------

    def create(self, audience: Audience) -> Audience:
        with self._write.begin() as conn:
            new_id = conn.execute(
                insert(audiences).values(**_audience_values(audience)).returning(audiences.c.id)
            ).scalar_one()
        return msgspec.structs.replace(audience, id=int(new_id))

    def get(self, audience_id: int) -> Audience | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(audiences).where(audiences.c.id == audience_id)).first()
        return None if row is None or row.status == Status.DELETED else _audience(row)

    def list_audiences(
        self, workspace_ids: Sequence[int] | None = None, status: Status | None = None
    ) -> list[Audience]:
        stmt = select(audiences).where(audiences.c.status != Status.DELETED.value).order_by(audiences.c.id)
        if status is not None:
            stmt = stmt.where(audiences.c.status == status.value)
        if workspace_ids is not None:
            stmt = stmt.where(audiences.c.workspace_id.in_(list(workspace_ids)))
        with self._engine.connect() as conn:
            return [_audience(r) for r in conn.execute(stmt)]

    def start_calculation(self, audience: Audience) -> Audience:
        """The audience as `audience` says, now calculating over history up to the newest stored batch:
        the boundary is read while no batch is being stored (the event store's save lock on PostgreSQL;
        SQLite's write lock), so every batch is either at most the boundary or processed after the
        audience is seen calculating."""
        with self._write.begin() as conn:
            if self._dialect == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(_PG_EVENT_SAVE_LOCK)))
            boundary = conn.execute(
                select(func.coalesce(func.max(batches.c.seq), 0)).where(
                    batches.c.workspace_id == audience.workspace_id
                )
            ).scalar_one()
            started = msgspec.structs.replace(
                audience, status=Status.CALCULATING, boundary_seq=int(boundary), progress_seq=0
            )
            conn.execute(
                update(audiences).where(audiences.c.id == audience.id).values(**_audience_values(started))
            )
        return started

    def versions(self, workspace_id: int) -> list[tuple[int, str, int, int]]:
        if self._dialect == "sqlite":  # read for every processing group: SQLAlchemy's work skipped
            with self._engine.connect() as conn:
                return version_rows(conn, workspace_id, Status.DELETED.value)
        t = audiences.c
        stmt = (
            select(t.id, t.status, t.activated_ms, t.updated_ms)
            .where(t.workspace_id == workspace_id, t.status != Status.DELETED.value)
            .order_by(t.id)
        )
        with self._engine.connect() as conn:
            return [(r[0], r[1], r[2], r[3]) for r in conn.execute(stmt)]

    def update(self, audience: Audience) -> None:
        with self._write.begin() as conn:
            conn.execute(
                update(audiences).where(audiences.c.id == audience.id).values(**_audience_values(audience))
            )
            if audience.status == Status.DELETED:
                conn.execute(delete(audience_members).where(audience_members.c.audience_id == audience.id))

    # -- per-user state and memberships ------------------------------------------------------------

    def load_users(self, workspace_id: int, mpids: Sequence[int]) -> dict[int, UserState]:
        """The users' stored states, each the caller's own to change and save until it saves it:
        a saved state is not the caller's any more (this store may hand it out again while its row
        is unchanged, to a caller in another thread that changes it), so it is not read after."""
        found: dict[int, UserState] = {}
        t = audience_users.c
        with self._engine.connect() as conn:
            for part in chunks(sorted(set(mpids))):
                if self._dialect == "sqlite":  # read for every group: SQLAlchemy's row work skipped
                    rows = conn.exec_driver_sql(
                        _SQLITE_LOAD_USERS % ",".join("?" * len(part)), (workspace_id, *part)
                    )
                else:
                    rows = conn.execute(
                        select(t.mpid, t.state, t.version).where(
                            t.workspace_id == workspace_id, t.mpid.in_(part)
                        )
                    )
                kept = self._states
                for mpid, state, version in rows:
                    held = kept.pop((workspace_id, mpid), None) if kept else None
                    if held is not None and held[0] == version:
                        found[mpid] = held[1]
                    else:
                        found[mpid] = _decode_state(state)
                    found[mpid].version = version
        return found

    def memberships_of(
        self, workspace_id: int, mpids: Sequence[int], audience_ids: Sequence[int] | None = None
    ) -> dict[int, dict[int, Membership]]:
        found: dict[int, dict[int, Membership]] = {}
        t = audience_members.c
        with self._engine.connect() as conn:
            if self._dialect == "sqlite":  # read for most processing groups: SQLAlchemy's work skipped
                audience_part = sorted(set(audience_ids)) if audience_ids is not None else None
                for part in chunks(sorted(set(mpids))):
                    for row in member_rows(conn, workspace_id, part, audience_part):
                        found.setdefault(row.mpid, {})[row.audience_id] = membership(row)
                return found
            for part in chunks(sorted(set(mpids))):
                stmt = select(audience_members).where(
                    t.workspace_id == workspace_id, t.mpid.in_(part), t.member.is_(True)
                )
                if audience_ids is not None:
                    stmt = stmt.where(t.audience_id.in_(sorted(set(audience_ids))))
                for row in conn.execute(stmt):
                    found.setdefault(row.mpid, {})[row.audience_id] = membership(row)
        return found

    def unapplied(self, workspace_id: int, batch_ids: Sequence[int]) -> set[int]:
        wanted = set(batch_ids)
        t = audience_applied.c
        with self._engine.connect() as conn:
            for part in chunks(sorted(wanted)):
                stmt = select(t.batch_id).where(t.workspace_id == workspace_id, t.batch_id.in_(part))
                wanted -= {r[0] for r in conn.execute(stmt)}
        return wanted

    def save(
        self,
        workspace_id: int,
        users: dict[int, UserState],
        memberships: Sequence[Membership],
        history: Sequence[HistoryEntry],
        applied_batch_ids: Sequence[int] = (),
        now_ms: int = 0,
        progress: tuple[int, int] | None = None,
    ) -> None:
        with self._write.begin() as conn:
            for part in chunks(sorted(set(applied_batch_ids))):
                rows = [{"workspace_id": workspace_id, "batch_id": b} for b in part]
                if self._raw_markers is not None:
                    added = self._raw_markers.run(conn, rows)
                else:
                    added = len(
                        conn.execute(self._insert_markers.returning(audience_applied.c.batch_id), rows).all()
                    )
                if added != len(part):
                    raise AlreadyApplied(f"workspace {workspace_id}: a batch of the group was applied")
            if users:
                # One key order for every writer, so concurrent PostgreSQL workers cannot deadlock.
                rows = [
                    {
                        "workspace_id": workspace_id,
                        "mpid": m,
                        "state": _encode_state(state),
                        "updated_ms": now_ms,
                        "next_check_ms": state.next_check_ms,
                        "version": state.version + 1,
                    }
                    for m, state in sorted(users.items(), key=_first)
                ]
                for part in chunks(rows):
                    if self._raw_users is not None:
                        written = self._raw_users.run(conn, part)
                    else:
                        # The rows actually written (executemany's rowcount is not reliable here).
                        written = len(
                            conn.execute(self._upsert_users.returning(audience_users.c.mpid), part).all()
                        )
                    if written != len(part):
                        raise StaleState(f"workspace {workspace_id}: a user's audience state moved meanwhile")
            if memberships:
                # A user's memberships of one round usually share one identities dict: encoded once.
                encoded: dict[int, tuple[dict[str, str], str]] = {}

                def identities_json(ids: dict[str, str]) -> str:
                    hit = encoded.get(id(ids))
                    if hit is None:  # the dict is kept with its text, so its id stays its own
                        hit = encoded[id(ids)] = (ids, _encode(ids).decode())
                    return hit[1]

                rows = [
                    {
                        "audience_id": m.audience_id,
                        "mpid": m.mpid,
                        "workspace_id": m.workspace_id,
                        "member": m.member,
                        "joined_ms": m.joined_ms,
                        "left_ms": m.left_ms,
                        "identities": identities_json(m.identities),
                    }
                    for m in sorted(memberships, key=_membership_key)
                ]
                for part in chunks(rows):
                    if self._raw_members is not None:
                        self._raw_members.run(conn, part)
                    else:
                        conn.execute(self._upsert_members, part)
            if progress is not None:
                conn.execute(
                    update(audiences).where(audiences.c.id == progress[0]).values(progress_seq=progress[1])
                )
            if history:
                entries = [
                    {
                        "audience_id": h.audience_id,
                        "mpid": h.mpid,
                        "action": h.action,
                        "changed_ms": h.changed_ms,
                    }
                    for h in history
                ]
                if self._raw_history is not None:
                    self._raw_history.run(conn, entries)
                else:
                    conn.execute(self._insert_history, entries)
        if users:  # committed: the states are their rows' content now (callers do not change them after)
            kept = self._states
            if len(kept) + len(users) > _STATES_KEPT:
                # The most recently saved half stays (dict order is save order); in place, as other
                # threads may be taking entries out of this dict.
                for key in list(kept)[: max(0, len(kept) - _STATES_KEPT // 2)]:
                    kept.pop(key, None)
            for m, state in users.items():
                kept[workspace_id, m] = (state.version + 1, state)

    def due(self, now_ms: int, limit: int) -> list[tuple[int, int, int]]:
        t = audience_users.c
        stmt = (
            select(t.workspace_id, t.mpid, t.next_check_ms)
            .where(t.next_check_ms.is_not(None), t.next_check_ms <= now_ms)
            .order_by(t.next_check_ms)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [(r[0], r[1], r[2]) for r in conn.execute(stmt)]
