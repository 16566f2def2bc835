"""SqlProfileStore: the ProfileStore port over SQLAlchemy Core (SQLite and PostgreSQL).

Every write is an INSERT ... ON CONFLICT DO UPDATE whose SET keeps the newer version of each
versioned value and the min/max of seen-times, so saves commute and repeat safely.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Engine,
    Table,
    and_,
    any_,
    bindparam,
    case,
    cast,
    func,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from fermion.adapters.sql.engine import write_engine
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


def _newer(ts: Any, batch: Any, old_ts: Any, old_batch: Any) -> ColumnElement[bool]:
    return or_(ts > old_ts, and_(ts == old_ts, batch > old_batch))


def _least(new: Any, old: Any) -> Any:
    return case((new < old, new), else_=old)


def _greatest(new: Any, old: Any) -> Any:
    return case((new > old, new), else_=old)


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
        self._raw: dict[tuple[str, tuple[str, ...]], RawMany] = {}  # (table, columns) -> upsert
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
        self._loads = {table.name: self._load_query(table) for table, _ in self._statements}

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
        return _newer(ex.ts, ex.batch, table.c.ts, table.c.batch)

    @staticmethod
    def _all_set(table: Table, ex: Excluded) -> dict[str, Any]:
        return {c.name: ex[c.name] for c in table.columns if not c.primary_key}

    @staticmethod
    def _seen_set(table: Table, ex: Excluded) -> dict[str, Any]:
        t = table.c
        return {
            "first_seen_ms": _least(ex.first_seen_ms, t.first_seen_ms),
            "last_seen_ms": _greatest(ex.last_seen_ms, t.last_seen_ms),
        }

    @classmethod
    def _profile_set(cls, table: Table, ex: Excluded) -> dict[str, Any]:
        t = table.c
        newer = _newer(ex.opted_out_ts, ex.opted_out_batch, t.opted_out_ts, t.opted_out_batch)
        return {
            **cls._seen_set(table, ex),
            "last_stored_ms": _greatest(ex.last_stored_ms, t.last_stored_ms),
            # SET expressions all read the row as it was, so each CASE sees the old version.
            **{c: case((newer, ex[c]), else_=t[c]) for c in ("opted_out", "opted_out_ts", "opted_out_batch")},
        }

    @classmethod
    def _device_set(cls, table: Table, ex: Excluded) -> dict[str, Any]:
        t = table.c
        platform = _newer(ex.platform_ts, ex.platform_batch, t.platform_ts, t.platform_batch)
        lat = _newer(ex.lat_ts, ex.lat_batch, t.lat_ts, t.lat_batch)
        return {
            **cls._seen_set(table, ex),
            **{c: case((platform, ex[c]), else_=t[c]) for c in ("platform", "platform_ts", "platform_batch")},
            **{c: case((lat, ex[c]), else_=t[c]) for c in ("limit_ad_tracking", "lat_ts", "lat_batch")},
        }

    @staticmethod
    def _device_id_set(table: Table, ex: Excluded) -> dict[str, Any]:
        return {"last_seen_ms": _greatest(ex.last_seen_ms, table.c.last_seen_ms)}

    # -- writing -------------------------------------------------------------------------------

    def save(self, writes: Sequence[ProfileWrite]) -> None:
        rows: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {t.name: {} for t, _ in self._statements}
        for w in writes:
            owner = {"workspace_id": w.workspace_id, "mpid": w.mpid}
            if w.header is not None:
                _add(rows, profiles, _header_row(owner, w.header))
            for name, attr in w.attributes.items():
                _add(rows, profile_attributes, _attribute_row(owner, name, attr))
            for c in w.consent:
                _add(rows, profile_consent, _consent_row(owner, c))
            for d in w.devices:
                _add(rows, profile_devices, _device_row(owner, d))
            for i in w.device_ids:
                _add(rows, profile_device_ids, _device_id_row(owner, i))
            for s in w.inputs:
                _add(rows, profile_inputs, {**owner, **_seen(s)})
        if not any(rows.values()):
            return
        with self._write.begin() as conn:
            # Tables in one order and rows sorted by key: concurrent PostgreSQL writers then lock rows
            # in the same order and cannot deadlock.
            for table, stmt in self._statements:
                ordered = [row for _, row in sorted(rows[table.name].items())]
                if self._sqlite and ordered:  # the driver's executemany: the processing hot path
                    self._raw_upsert(table, stmt, tuple(ordered[0])).run(conn, ordered)
                    continue
                for chunk in _chunks(ordered):
                    conn.execute(stmt, list(chunk))

    def _raw_upsert(self, table: Table, stmt: Any, names: tuple[str, ...]) -> RawMany:
        key = (table.name, names)
        raw = self._raw.get(key)
        if raw is None:
            raw = self._raw[key] = RawMany(stmt, self._engine.dialect, names)
        return raw

    # -- reading -------------------------------------------------------------------------------

    def _load_query(self, table: Table) -> tuple[RawQuery, Callable[[Any], Any]]:
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
        row_type: Any = namedtuple(table.name, query.columns)  # type: ignore[misc]
        return query, row_type._make

    def load(self, workspace_id: int, mpids: Sequence[int]) -> dict[int, Profile]:
        wanted = sorted(set(mpids))
        if not wanted:
            return {}
        params = {"ws": workspace_id, "mpids": _json(wanted) if self._sqlite else wanted}
        parts: dict[str, list[Any]] = {}
        with self._engine.connect() as conn:  # one read transaction: the tables agree
            for name, (query, row_of) in self._loads.items():
                parts[name] = list(map(row_of, query.run(conn, params)))
        found: dict[int, dict[str, Any]] = {}
        for row in parts["profiles"]:
            found[row.mpid] = {"header": _header(row)}
        for table_name, target in (
            ("profile_attributes", "attributes"),
            ("profile_consent", "consent"),
            ("profile_devices", "devices"),
            ("profile_device_ids", "device_ids"),
            ("profile_inputs", "inputs"),
        ):
            for row in parts[table_name]:
                if row.mpid in found:
                    key, value = _READERS[table_name](row)
                    found[row.mpid].setdefault(target, {})[key] = value
        return {mpid: Profile(workspace_id=workspace_id, mpid=mpid, **kw) for mpid, kw in found.items()}

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


def _add(rows: dict[str, dict[tuple[Any, ...], dict[str, Any]]], table: Table, row: dict[str, Any]) -> None:
    rows[table.name][_KEY_OF[table.name](row)] = row  # later writes of a key carry the merged state


# The primary key of a row (a tuple, for sorting), by table: one C-level call per row.
_TABLES = (profiles, profile_attributes, profile_consent, profile_devices, profile_device_ids, profile_inputs)
_KEY_OF: dict[str, Callable[[dict[str, Any]], tuple[Any, ...]]] = {
    t.name: itemgetter(*[c.name for c in t.primary_key.columns]) for t in _TABLES
}


def _seen(s: InputSeen) -> dict[str, Any]:
    return {"input_id": s.input_id, "first_seen_ms": s.first_seen_ms, "last_seen_ms": s.last_seen_ms}


def _header_row(owner: dict[str, int], h: Header) -> dict[str, Any]:
    return {
        **owner,
        "first_seen_ms": h.first_seen_ms,
        "last_seen_ms": h.last_seen_ms,
        "last_stored_ms": h.last_stored_ms,
        "opted_out": h.opted_out,
        "opted_out_ts": h.opted_out_version[0],
        "opted_out_batch": h.opted_out_version[1],
    }


def _attribute_row(owner: dict[str, int], name: str, a: Attribute) -> dict[str, Any]:
    return {
        **owner,
        "name": name,
        "value": None if a.deleted else _json(a.value),
        "deleted": a.deleted,
        "ts": a.ts_ms,
        "batch": a.batch_id,
        "prev_exists": a.prev_exists,
        "prev_value": _json(a.prev_value) if a.prev_exists else None,
    }


def _consent_row(owner: dict[str, int], c: ConsentEntry) -> dict[str, Any]:
    return {
        **owner,
        "regulation": c.regulation,
        "purpose": c.purpose,
        "consented": c.consented,
        "document": c.document,
        "location": c.location,
        "hardware_id": c.hardware_id,
        "ts": c.ts_ms,
        "batch": c.batch_id,
    }


def _device_row(owner: dict[str, int], d: Device) -> dict[str, Any]:
    return {
        **owner,
        "device_key": d.key,
        "first_seen_ms": d.first_seen_ms,
        "last_seen_ms": d.last_seen_ms,
        "platform": d.platform,
        "platform_ts": d.platform_version[0],
        "platform_batch": d.platform_version[1],
        "limit_ad_tracking": d.limit_ad_tracking,
        "lat_ts": d.lat_version[0],
        "lat_batch": d.lat_version[1],
    }


def _device_id_row(owner: dict[str, int], i: DeviceIdentity) -> dict[str, Any]:
    return {
        **owner,
        "id_type": i.id_type,
        "value": i.value,
        "device_key": i.device_key,
        "last_seen_ms": i.last_seen_ms,
    }


def _header(row: Any) -> Header:
    return Header(
        first_seen_ms=row.first_seen_ms,
        last_seen_ms=row.last_seen_ms,
        last_stored_ms=row.last_stored_ms,
        opted_out=None if row.opted_out is None else bool(row.opted_out),
        opted_out_version=(row.opted_out_ts, row.opted_out_batch),
    )


def _attribute(row: Any) -> tuple[str, Attribute]:
    return row.name, Attribute(
        value=_unjson(row.value),
        ts_ms=row.ts,
        batch_id=row.batch,
        deleted=bool(row.deleted),
        prev_exists=bool(row.prev_exists),
        prev_value=_unjson(row.prev_value),
    )


def _consent(row: Any) -> tuple[tuple[str, str], ConsentEntry]:
    entry = ConsentEntry(
        regulation=row.regulation,
        purpose=row.purpose,
        consented=bool(row.consented),
        ts_ms=row.ts,
        batch_id=row.batch,
        document=row.document,
        location=row.location,
        hardware_id=row.hardware_id,
    )
    return entry.key, entry


def _device(row: Any) -> tuple[str, Device]:
    return row.device_key, Device(
        key=row.device_key,
        first_seen_ms=row.first_seen_ms,
        last_seen_ms=row.last_seen_ms,
        platform=row.platform,
        platform_version=(row.platform_ts, row.platform_batch),
        limit_ad_tracking=None if row.limit_ad_tracking is None else bool(row.limit_ad_tracking),
        lat_version=(row.lat_ts, row.lat_batch),
    )


def _device_id(row: Any) -> tuple[tuple[str, str], DeviceIdentity]:
    return (row.id_type, row.value), DeviceIdentity(row.device_key, row.id_type, row.value, row.last_seen_ms)


def _input(row: Any) -> tuple[int, InputSeen]:
    return row.input_id, InputSeen(row.input_id, row.first_seen_ms, row.last_seen_ms)


_READERS: dict[str, Callable[[Any], tuple[Any, Any]]] = {
    "profile_attributes": _attribute,
    "profile_consent": _consent,
    "profile_devices": _device,
    "profile_device_ids": _device_id,
    "profile_inputs": _input,
}
