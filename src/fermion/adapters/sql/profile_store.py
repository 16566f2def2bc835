"""SqlProfileStore: the ProfileStore port over SQLAlchemy Core (SQLite and PostgreSQL).

Every write is an INSERT ... ON CONFLICT DO UPDATE whose SET keeps the newer version of each
versioned value and the min/max of seen-times, so saves commute and repeat safely.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Engine,
    Table,
    any_,
    bindparam,
    case,
    cast,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from fermion.adapters.sql.engine import write_engine
from fermion.adapters.sql.profile_versions import greatest, least, newer_version
from fermion.adapters.sql.raw_many import RawMany, RawQuery
from fermion.adapters.sql.schema_profiles import (
    profile_attributes,
    profile_consent,
    profile_device_ids,
    profile_devices,
    profile_inputs,
    profiles,
)
from fermion.profiles.state import (
    Attribute,
    ConsentEntry,
    Device,
    DeviceIdentity,
    Header,
    InputSeen,
    Profile,
    ProfileWrite,
)

_CHUNK = 500  # mpids per IN (...) list and rows per executemany

Excluded = Any  # the dialect's `excluded` pseudo-table (rows proposed for insertion)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _unjson(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqlProfileStore:
    """Per-workspace profiles in SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write = write_engine(engine)
        dialect = engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database dialect {dialect!r}")
        self._dialect_insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        self._sqlite = dialect == "sqlite"
        self._raw: dict[str, RawMany] = {}  # table name -> upsert of all its columns
        self._statements = [
            (profiles, self._upsert(profiles, self._profile_set, None)),
            (profile_attributes, self._upsert(profile_attributes, self._all_set, self._versioned)),
            (profile_consent, self._upsert(profile_consent, self._all_set, self._versioned)),
            (profile_devices, self._upsert(profile_devices, self._device_set, None)),
            (profile_device_ids, self._upsert(profile_device_ids, self._device_id_set, None)),
            (profile_inputs, self._upsert(profile_inputs, self._seen_set, None)),
        ]
        # Built once, all of a group's mpids in one parameter (a JSON list read by json_each() on
        # SQLite, an array on PostgreSQL), run through the DB-API: the processing hot path.
        self._loads = [self._load_query(table) for table, _ in self._statements]

    # -- statements ----------------------------------------------------------------------------

    def _upsert(
        self,
        table: Table,
        set_of: Callable[[Table, Excluded], dict[str, Any]],
        where_of: Callable[[Table, Excluded], ColumnElement[bool]] | None,
    ) -> Any:
        stmt = self._dialect_insert(table)
        ex = stmt.excluded
        return stmt.on_conflict_do_update(
            index_elements=[c.name for c in table.primary_key.columns],
            set_=set_of(table, ex),
            where=where_of(table, ex) if where_of is not None else None,
        )

    @staticmethod
    def _versioned(table: Table, ex: Excluded) -> ColumnElement[bool]:
        return newer_version(ex.ts, ex.batch, table.c.ts, table.c.batch)

    @staticmethod
    def _all_set(table: Table, ex: Excluded) -> dict[str, Any]:
        return {c.name: ex[c.name] for c in table.columns if not c.primary_key}

    @staticmethod
    def _seen_set(table: Table, ex: Excluded) -> dict[str, Any]:
        t = table.c
        return {
            "first_seen_ms": least(ex.first_seen_ms, t.first_seen_ms),
            "last_seen_ms": greatest(ex.last_seen_ms, t.last_seen_ms),
        }

    @classmethod
    def _profile_set(cls, table: Table, ex: Excluded) -> dict[str, Any]:
        t = table.c
        newer = newer_version(ex.opted_out_ts, ex.opted_out_batch, t.opted_out_ts, t.opted_out_batch)
        return {
            **cls._seen_set(table, ex),
            "last_stored_ms": greatest(ex.last_stored_ms, t.last_stored_ms),
            # SET expressions all read the row as it was, so each CASE sees the old version.
            **{c: case((newer, ex[c]), else_=t[c]) for c in ("opted_out", "opted_out_ts", "opted_out_batch")},
        }

    @classmethod
    def _device_set(cls, table: Table, ex: Excluded) -> dict[str, Any]:
        t = table.c
        platform = newer_version(ex.platform_ts, ex.platform_batch, t.platform_ts, t.platform_batch)
        lat = newer_version(ex.lat_ts, ex.lat_batch, t.lat_ts, t.lat_batch)
        return {
            **cls._seen_set(table, ex),
            **{c: case((platform, ex[c]), else_=t[c]) for c in ("platform", "platform_ts", "platform_batch")},
            **{c: case((lat, ex[c]), else_=t[c]) for c in ("limit_ad_tracking", "lat_ts", "lat_batch")},
        }

    @staticmethod
    def _device_id_set(table: Table, ex: Excluded) -> dict[str, Any]:
        return {"last_seen_ms": greatest(ex.last_seen_ms, table.c.last_seen_ms)}

    # -- writing -------------------------------------------------------------------------------

    def save(self, writes: Sequence[ProfileWrite]) -> None:
        # Rows as tuples in the tables' column order, by primary key (a later write of a key carries
        # the merged state); the key columns lead each table (checked in `_check_columns`).
        header_rows: dict[Any, tuple[Any, ...]] = {}
        attribute_rows: dict[Any, tuple[Any, ...]] = {}
        consent_rows: dict[Any, tuple[Any, ...]] = {}
        device_rows: dict[Any, tuple[Any, ...]] = {}
        device_id_rows: dict[Any, tuple[Any, ...]] = {}
        input_rows: dict[Any, tuple[Any, ...]] = {}
        for w in writes:
            ws, mpid = w.workspace_id, w.mpid
            h = w.header
            if h is not None:
                header_rows[(ws, mpid)] = (
                    ws,
                    mpid,
                    h.first_seen_ms,
                    h.last_seen_ms,
                    h.last_stored_ms,
                    h.opted_out,
                    h.opted_out_version[0],
                    h.opted_out_version[1],
                )
            for name, a in w.attributes.items():
                attribute_rows[(ws, mpid, name)] = (
                    ws,
                    mpid,
                    name,
                    None if a.deleted else _json(a.value),
                    a.deleted,
                    a.ts_ms,
                    a.batch_id,
                    a.prev_exists,
                    _json(a.prev_value) if a.prev_exists else None,
                )
            for c in w.consent:
                consent_rows[(ws, mpid, c.regulation, c.purpose)] = (
                    ws,
                    mpid,
                    c.regulation,
                    c.purpose,
                    c.consented,
                    c.document,
                    c.location,
                    c.hardware_id,
                    c.ts_ms,
                    c.batch_id,
                )
            for d in w.devices:
                device_rows[(ws, mpid, d.key)] = (
                    ws,
                    mpid,
                    d.key,
                    d.first_seen_ms,
                    d.last_seen_ms,
                    d.platform,
                    d.platform_version[0],
                    d.platform_version[1],
                    d.limit_ad_tracking,
                    d.lat_version[0],
                    d.lat_version[1],
                )
            for i in w.device_ids:
                device_id_rows[(ws, mpid, i.id_type, i.value)] = (
                    ws,
                    mpid,
                    i.id_type,
                    i.value,
                    i.device_key,
                    i.last_seen_ms,
                )
            for n in w.inputs:
                input_rows[(ws, mpid, n.input_id)] = (ws, mpid, n.input_id, n.first_seen_ms, n.last_seen_ms)
        by_table = (header_rows, attribute_rows, consent_rows, device_rows, device_id_rows, input_rows)
        if not any(by_table):
            return
        with self._write.begin() as conn:
            # Tables in one order and rows sorted by key: concurrent PostgreSQL writers then lock rows
            # in the same order and cannot deadlock.
            for (table, stmt), rows in zip(self._statements, by_table, strict=True):
                if not rows:
                    continue
                ordered = [row for _, row in sorted(rows.items())]
                if self._sqlite:  # the driver's executemany: the processing hot path
                    self._raw_upsert(table, stmt).run_tuples(conn, ordered)
                    continue
                names = [c.name for c in table.columns]
                for chunk in _chunks(ordered):
                    conn.execute(stmt, [dict(zip(names, row, strict=True)) for row in chunk])

    def _raw_upsert(self, table: Table, stmt: Any) -> RawMany:
        raw = self._raw.get(table.name)
        if raw is None:
            names = tuple(c.name for c in table.columns)
            raw = RawMany(stmt, self._engine.dialect, names)
            if raw.order != names:
                raise ValueError(f"{table.name}: upsert parameters {raw.order} are not the columns {names}")
            self._raw[table.name] = raw
        return raw

    # -- reading -------------------------------------------------------------------------------

    def _load_query(self, table: Table) -> RawQuery:
        mpid = table.c.mpid
        wanted: ColumnElement[bool]
        if self._sqlite:
            wanted = mpid.in_(select(func.json_each(bindparam("mpids")).table_valued("value").c.value))
        else:
            wanted = mpid == any_(cast(bindparam("mpids"), postgresql.ARRAY(BigInteger())))
        query = RawQuery(
            select(table).where(table.c.workspace_id == bindparam("ws", type_=BigInteger()), wanted),
            self._engine.dialect,
        )
        if query.columns != _COLUMNS[table.name]:
            raise ValueError(f"{table.name}: columns {query.columns}, expected {_COLUMNS[table.name]}")
        return query

    def load(self, workspace_id: int, mpids: Sequence[int]) -> dict[int, Profile]:
        wanted = sorted(set(mpids))
        if not wanted:
            return {}
        params = {"ws": workspace_id, "mpids": _json(wanted) if self._sqlite else wanted}
        with self._engine.connect() as conn:  # one read transaction: the tables agree
            rows = [query.run(conn, params) for query in self._loads]
        header_rows, attribute_rows, consent_rows, device_rows, device_id_rows, input_rows = rows
        # Rows unpacked in `_COLUMNS` order, straight into the state Structs: the processing hot path.
        headers: dict[int, Header] = {}
        for _, mpid, first, last, stored, opted, opted_ts, opted_batch in header_rows:
            opted_out = None if opted is None else bool(opted)
            headers[mpid] = Header(first, last, stored, opted_out, (opted_ts, opted_batch))
        attributes: dict[int, dict[str, Attribute]] = {}
        for _, mpid, name, value, deleted, ts, batch, prev_exists, prev_value in attribute_rows:
            if mpid in headers:
                attributes.setdefault(mpid, {})[name] = Attribute(
                    _unjson(value), ts, batch, bool(deleted), bool(prev_exists), _unjson(prev_value)
                )
        consent: dict[int, dict[tuple[str, str], ConsentEntry]] = {}
        for _, mpid, regulation, purpose, consented, document, location, hardware, ts, batch in consent_rows:
            if mpid in headers:
                consent.setdefault(mpid, {})[(regulation, purpose)] = ConsentEntry(
                    regulation, purpose, bool(consented), ts, batch, document, location, hardware
                )
        devices: dict[int, dict[str, Device]] = {}
        for _, mpid, key, first, last, platform, p_ts, p_batch, lat, lat_ts, lat_batch in device_rows:
            if mpid in headers:
                limit = None if lat is None else bool(lat)
                devices.setdefault(mpid, {})[key] = Device(
                    key, first, last, platform, (p_ts, p_batch), limit, (lat_ts, lat_batch)
                )
        device_ids: dict[int, dict[tuple[str, str], DeviceIdentity]] = {}
        for _, mpid, id_type, value, device_key, last in device_id_rows:
            if mpid in headers:
                device_ids.setdefault(mpid, {})[(id_type, value)] = DeviceIdentity(
                    device_key, id_type, value, last
                )
        inputs: dict[int, dict[int, InputSeen]] = {}
        for _, mpid, input_id, first, last in input_rows:
            if mpid in headers:
                inputs.setdefault(mpid, {})[input_id] = InputSeen(input_id, first, last)
        return {
            mpid: Profile(
                workspace_id,
                mpid,
                header,
                attributes.get(mpid, {}),
                consent.get(mpid, {}),
                devices.get(mpid, {}),
                device_ids.get(mpid, {}),
                inputs.get(mpid, {}),
            )
            for mpid, header in headers.items()
        }

    def get(self, workspace_id: int, mpid: int) -> Profile | None:
        return self.load(workspace_id, [mpid]).get(mpid)

    def find_by_device_id(self, workspace_id: int, value: str) -> list[int]:
        t = profile_device_ids.c
        query = select(t.mpid).where(t.workspace_id == workspace_id, t.value == value).distinct()
        with self._engine.connect() as conn:
            return sorted(conn.execute(query).scalars())

    def seen_across(self, mpid: int, workspace_ids: Sequence[int]) -> tuple[int, int] | None:
        if not workspace_ids:
            return None
        t = profiles.c
        query = select(func.min(t.first_seen_ms), func.max(t.last_seen_ms)).where(
            t.mpid == mpid, t.workspace_id.in_(list(workspace_ids))
        )
        with self._engine.connect() as conn:
            first, last = conn.execute(query).one()
        return None if first is None else (int(first), int(last))


# Each table's columns, in the order the rows of `save` and `load` hold them; the primary key leads.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "profiles": (
        "workspace_id",
        "mpid",
        "first_seen_ms",
        "last_seen_ms",
        "last_stored_ms",
        "opted_out",
        "opted_out_ts",
        "opted_out_batch",
    ),
    "profile_attributes": (
        "workspace_id",
        "mpid",
        "name",
        "value",
        "deleted",
        "ts",
        "batch",
        "prev_exists",
        "prev_value",
    ),
    "profile_consent": (
        "workspace_id",
        "mpid",
        "regulation",
        "purpose",
        "consented",
        "document",
        "location",
        "hardware_id",
        "ts",
        "batch",
    ),
    "profile_devices": (
        "workspace_id",
        "mpid",
        "device_key",
        "first_seen_ms",
        "last_seen_ms",
        "platform",
        "platform_ts",
        "platform_batch",
        "limit_ad_tracking",
        "lat_ts",
        "lat_batch",
    ),
    "profile_device_ids": ("workspace_id", "mpid", "id_type", "value", "device_key", "last_seen_ms"),
    "profile_inputs": ("workspace_id", "mpid", "input_id", "first_seen_ms", "last_seen_ms"),
}
