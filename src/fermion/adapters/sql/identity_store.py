"""SqlIdentityStore: the IdentityStore port over SQLAlchemy Core (SQLite and PostgreSQL).

Writes are optimistic: a decision is made on a Snapshot, then `apply` checks inside one write
transaction that nothing it rests on moved (row versions, locked FOR UPDATE on PostgreSQL; SQLite's
BEGIN IMMEDIATE already serializes writers) and that every never-seen value is still unclaimed (the
`identity_keys` primary key). Losers get IdentityConflict and redo their decision on fresh data.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import msgspec
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Engine,
    String,
    any_,
    bindparam,
    cast,
    delete,
    func,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from fermion.adapters.sql.engine import write_engine
from fermion.adapters.sql.raw_many import RawMany, RawQuery
from fermion.adapters.sql.schema_identity import (
    identity_aliases,
    identity_keys,
    identity_links,
    identity_profiles,
    identity_settings,
)
from fermion.identity.alias import AliasRecord, AliasRequest
from fermion.identity.records import IdentityChanges, IdentityConflict, LinkRow, ProfileRow, Snapshot
from fermion.identity.settings import IdentitySettings
from fermion.identity.types import Key, canonical_type

# PostgreSQL errors that mean "another transaction got in the way": retry the decision.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure
_decode_settings = msgspec.json.Decoder(IdentitySettings).decode
_KEY_COLUMNS = ("org_id", "identity_type", "value", "created_by")
_LINK_COLUMNS = ("org_id", "identity_type", "value", "mpid", "created_ms", "created_by")
_encode = msgspec.json.Encoder().encode


def _by_type(keys: Iterable[Key]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for identity_type, value in dict.fromkeys(keys):
        grouped.setdefault(identity_type, []).append(value)
    return grouped


class SqlIdentityStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write = write_engine(engine)
        self._pg = engine.dialect.name == "postgresql"
        # Built once: constructing a statement costs more than running these indexed lookups.
        links, profiles, keys = identity_links, identity_profiles, identity_keys
        org, kind = bindparam("org", type_=BigInteger()), bindparam("kind", type_=String())
        # The hot lookups run through the DB-API (RawQuery), their rows in LinkRow/ProfileRow order.
        link_row = (
            links.c.identity_type,
            links.c.value,
            links.c.mpid,
            links.c.created_ms,
            links.c.created_by,
        )
        dialect = engine.dialect
        self._q_links_of_values = RawQuery(
            select(*link_row).where(
                links.c.org_id == org, links.c.identity_type == kind, self._in(links.c.value)
            ),
            dialect,
        )
        self._q_links_of_mpids = RawQuery(
            select(*link_row).where(links.c.org_id == org, self._in(links.c.mpid)), dialect
        )
        self._q_profiles = select(profiles).where(profiles.c.org_id == org, self._in(profiles.c.mpid))
        self._q_profile_rows = RawQuery(
            select(
                profiles.c.mpid, profiles.c.created_ms, profiles.c.workspace_id, profiles.c.created_by
            ).where(profiles.c.org_id == org, self._in(profiles.c.mpid)),
            dialect,
        )
        self._q_lock_keys = (
            select(keys.c.value)
            .where(keys.c.org_id == org, keys.c.identity_type == kind, self._in(keys.c.value))
            .order_by(keys.c.value)
            .with_for_update()
        )
        self._q_lock_profiles = (
            select(profiles.c.mpid)
            .where(profiles.c.org_id == org, self._in(profiles.c.mpid))
            .order_by(profiles.c.mpid)
            .with_for_update()
        )
        self._i_keys = self._insert(keys).on_conflict_do_nothing()
        self._i_links = self._insert(links).on_conflict_do_nothing()
        # On SQLite the bulk inserts go straight through the DB-API (a new user's first batch writes
        # its links; SQLAlchemy's per-row parameter processing cost more than SQLite's work).
        self._raw_keys: RawMany | None = None
        self._raw_links: RawMany | None = None
        if not self._pg:
            self._raw_keys = RawMany(self._i_keys, dialect, _KEY_COLUMNS)
            self._raw_links = RawMany(self._i_links, dialect, _LINK_COLUMNS)
        self._i_profiles = self._insert(profiles).on_conflict_do_nothing().returning(profiles.c.mpid)
        self._d_link = delete(links).where(
            links.c.org_id == org,
            links.c.identity_type == kind,
            links.c.value == bindparam("value"),
            links.c.mpid == bindparam("mpid"),
        )

    def _in(self, column: Column[Any]) -> ColumnElement[bool]:
        """ "column IN :values", with all the values in one parameter (see `_values`): an array on
        PostgreSQL, a JSON list read by json_each() on SQLite. The SQL text never changes with the
        number of values, so each statement is compiled and prepared once."""
        if self._pg:
            return column == any_(cast(bindparam("values"), postgresql.ARRAY(column.type)))
        return column.in_(select(func.json_each(bindparam("values")).table_valued("value").c.value))

    def _values(self, values: Iterable[Any]) -> Any:
        return list(values) if self._pg else _encode(list(values)).decode()

    # -- lookups -------------------------------------------------------------------------------

    def find_mpid(self, org_id: int, identity_type: str, value: str) -> int | None:
        canonical = canonical_type(identity_type) or identity_type
        t = identity_links
        query = (
            select(t.c.mpid)
            .where(t.c.org_id == org_id, t.c.identity_type == canonical, t.c.value == value)
            .order_by(t.c.created_ms.desc(), t.c.mpid.desc())
            .limit(1)
        )
        with self._engine.connect() as conn:
            mpid: int | None = conn.execute(query).scalar()
        return mpid

    def identities_of(self, org_id: int, mpid: int) -> list[tuple[str, str]]:
        t = identity_links
        query = (
            select(t.c.identity_type, t.c.value)
            .where(t.c.org_id == org_id, t.c.mpid == mpid)
            .order_by(t.c.created_ms, t.c.identity_type, t.c.value)
        )
        with self._engine.connect() as conn:
            return [(row.identity_type, row.value) for row in conn.execute(query)]

    def home_workspace(self, org_id: int, mpid: int) -> int | None:
        t = identity_profiles.c
        with self._engine.connect() as conn:
            found = conn.execute(select(t.workspace_id).where(t.org_id == org_id, t.mpid == mpid)).scalar()
        return None if found is None else int(found)

    def existing_mpids(self, org_id: int, mpids: Iterable[int]) -> frozenset[int]:
        wanted = sorted(set(mpids))
        if not wanted:
            return frozenset()
        with self._engine.connect() as conn:
            rows = conn.execute(self._q_profiles, {"org": org_id, "values": self._values(wanted)})
            return frozenset(row.mpid for row in rows)

    def load(self, org_id: int, keys: Iterable[Key], mpids: Iterable[int] = ()) -> Snapshot:
        asked_keys = frozenset(keys)
        asked_mpids = frozenset(mpids)
        links: dict[tuple[str, str, int], LinkRow] = {}
        with self._engine.connect() as conn:
            for row in self._links_of_keys(conn, org_id, asked_keys):
                links[(row.identity_type, row.value, row.mpid)] = row
            holders = sorted({link.mpid for link in links.values()} | asked_mpids)
            if holders:  # mostly the links just read again: only the others become LinkRows
                params = {"org": org_id, "values": self._values(holders)}
                for row in self._q_links_of_mpids.run(conn, params):
                    if (row[0], row[1], row[2]) not in links:
                        links[(row[0], row[1], row[2])] = LinkRow(*row)
            profiles: list[ProfileRow] = []
            if asked_mpids:  # the others are known well enough through their links
                params = {"org": org_id, "values": self._values(sorted(asked_mpids))}
                profiles = [ProfileRow(*r) for r in self._q_profile_rows.run(conn, params)]
        return Snapshot(asked_keys, asked_mpids, list(links.values()), profiles)

    def _links_of_keys(self, conn: Connection, org_id: int, keys: Iterable[Key]) -> Iterator[LinkRow]:
        for identity_type, values in _by_type(keys).items():
            params = {"org": org_id, "kind": identity_type, "values": self._values(values)}
            for row in self._q_links_of_values.run(conn, params):
                yield LinkRow(*row)

    def _links_of_profiles(self, conn: Connection, org_id: int, mpids: Sequence[int]) -> Iterator[LinkRow]:
        if mpids:
            for row in self._q_links_of_mpids.run(conn, {"org": org_id, "values": self._values(mpids)}):
                yield LinkRow(*row)

    # -- writing -------------------------------------------------------------------------------

    def apply(self, org_id: int, changes: IdentityChanges) -> None:
        if changes.empty:
            return
        try:
            with self._write.begin() as conn:
                self._check_keys(conn, org_id, changes)
                self._create_profiles(conn, org_id, changes)
                self._check_profiles(conn, org_id, changes.identities)
                if changes.remove_links:
                    removed = [
                        {"org": org_id, "kind": t, "value": v, "mpid": m} for t, v, m in changes.remove_links
                    ]
                    conn.execute(self._d_link, removed)
                if changes.add_links:
                    rows = [
                        {
                            "org_id": org_id,
                            "identity_type": r.identity_type,
                            "value": r.value,
                            "mpid": r.mpid,
                            "created_ms": r.created_ms,
                            "created_by": r.created_by,
                        }
                        for r in changes.add_links
                    ]
                    if self._raw_links is not None:
                        self._raw_links.run(conn, rows)
                    else:
                        conn.execute(self._i_links, rows)
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES:
                raise IdentityConflict(str(exc.orig)) from exc
            raise

    def _insert(self, table: Any) -> Any:
        return postgresql.insert(table) if self._pg else sqlite.insert(table)

    def _check_keys(self, conn: Connection, org_id: int, changes: IdentityChanges) -> None:
        """Lock every changed value's key row (creating it for a never-seen value), then make sure
        its holders are still those the decision saw."""
        if not changes.holders:
            return
        rows = [
            {"org_id": org_id, "identity_type": t, "value": v, "created_by": changes.creators.get((t, v))}
            for t, v in changes.holders
        ]
        if self._raw_keys is not None:
            self._raw_keys.run(conn, rows)
        else:
            conn.execute(self._i_keys, rows)
        if self._pg:  # in one order everywhere, so writers queue rather than deadlock (mostly)
            for identity_type, values in _by_type(sorted(changes.holders)).items():
                params = {"org": org_id, "kind": identity_type, "values": self._values(values)}
                conn.execute(self._q_lock_keys, params).all()
        current: dict[Key, set[int]] = {key: set() for key in changes.holders}
        for row in self._links_of_keys(conn, org_id, changes.holders):
            current[(row.identity_type, row.value)].add(row.mpid)
        for key, expected in changes.holders.items():
            if current[key] != expected:
                raise IdentityConflict(f"identity {key[0]} changed meanwhile")

    def _check_profiles(self, conn: Connection, org_id: int, expected: dict[int, frozenset[Key]]) -> None:
        """Lock every changed profile, then make sure it still holds what the decision saw."""
        if not expected:
            return
        mpids = sorted(expected)
        if self._pg:
            conn.execute(self._q_lock_profiles, {"org": org_id, "values": self._values(mpids)}).all()
        current: dict[int, set[Key]] = {m: set() for m in mpids}
        for row in self._links_of_profiles(conn, org_id, mpids):
            current[row.mpid].add((row.identity_type, row.value))
        for mpid in mpids:
            if current[mpid] != expected[mpid]:
                raise IdentityConflict(f"profile {mpid} changed meanwhile")

    def _create_profiles(self, conn: Connection, org_id: int, changes: IdentityChanges) -> None:
        if not changes.new_profiles:
            return
        rows = [
            {
                "org_id": org_id,
                "mpid": p.mpid,
                "workspace_id": p.workspace_id,
                "created_ms": p.created_ms,
                "created_by": p.created_by,
            }
            for p in changes.new_profiles
        ]
        created = set(conn.execute(self._i_profiles, rows).scalars())
        for p in changes.new_profiles:
            if p.mpid in created or not p.fresh:
                continue
            # Taken: fine only if this same batch created it in an earlier, interrupted run.
            owner = conn.execute(
                select(identity_profiles.c.created_by).where(
                    identity_profiles.c.org_id == org_id, identity_profiles.c.mpid == p.mpid
                )
            ).scalar()
            if p.created_by is None or owner != p.created_by:
                raise IdentityConflict(f"MPID {p.mpid} is taken")

    # -- settings ------------------------------------------------------------------------------

    def get_settings(self, workspace_id: int) -> IdentitySettings | None:
        t = identity_settings
        with self._engine.connect() as conn:
            raw = conn.execute(select(t.c.settings).where(t.c.workspace_id == workspace_id)).scalar()
        return None if raw is None else _decode_settings(raw)

    def save_settings(self, workspace_id: int, settings: IdentitySettings) -> None:
        values = {
            "workspace_id": workspace_id,
            "settings": _encode(settings).decode(),
            "updated_ms": int(time.time() * 1000),
        }
        stmt = self._insert(identity_settings).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[identity_settings.c.workspace_id],
            set_={"settings": stmt.excluded.settings, "updated_ms": stmt.excluded.updated_ms},
        )
        with self._write.begin() as conn:
            conn.execute(stmt)

    # -- aliases -------------------------------------------------------------------------------

    def alias_history(self, org_id: int, mpids: Sequence[int]) -> list[AliasRecord]:
        t = identity_aliases
        query = select(t).where(
            t.c.org_id == org_id, or_(t.c.source_mpid.in_(list(mpids)), t.c.destination_mpid.in_(list(mpids)))
        )
        with self._engine.connect() as conn:
            return [
                AliasRecord(r.source_mpid, r.destination_mpid, r.start_ms, r.end_ms, r.status)
                for r in conn.execute(query.order_by(t.c.id))
            ]

    def record_alias(
        self, org_id: int, workspace_id: int, req: AliasRequest, status: str, reason: str, moved_events: int
    ) -> tuple[str, str, int]:
        values = {
            "org_id": org_id,
            "workspace_id": workspace_id,
            "request_id": req.request_id,
            "source_mpid": req.source_mpid,
            "destination_mpid": req.destination_mpid,
            "start_ms": req.start_ms,
            "end_ms": req.end_ms,
            "scope": req.scope[:32],
            "status": status,
            "reason": reason,
            "moved_events": moved_events,
            "created_ms": int(time.time() * 1000),
        }
        stmt = self._insert(identity_aliases).values(values).on_conflict_do_nothing()
        with self._write.begin() as conn:
            if conn.execute(stmt.returning(identity_aliases.c.id)).first() is not None:
                return status, reason, moved_events
        stored = self.find_alias(org_id, req.request_id)
        assert stored is not None
        return stored

    def find_alias(self, org_id: int, request_id: str) -> tuple[str, str, int] | None:
        t = identity_aliases
        query = select(t.c.status, t.c.reason, t.c.moved_events).where(
            t.c.org_id == org_id, t.c.request_id == request_id
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else (row.status, row.reason, row.moved_events)
