"""RawMany and RawQuery: a bulk INSERT/UPSERT or a SELECT compiled once, run straight through the DB-API.

SQLAlchemy processes every row's parameters in Python before handing them to the driver; for the
processing hot path (thousands of rows per group) that costs more than SQLite's own work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Boolean, Connection, Dialect, LargeBinary, Select
from sqlalchemy.sql.dml import ValuesBase


class RawMany:
    """One compiled statement; `run` binds rows (mappings by column name) and returns the row count.

    Only for statements whose parameters the driver takes as they are: integers and text, and booleans
    and bytes (passed as Python bool/bytes, which SQLite stores as SQLAlchemy would); the constructor
    refuses other types that need bind processing rather than store wrong values.
    """

    def __init__(self, stmt: ValuesBase, dialect: Dialect, names: Sequence[str]) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(names))
        if compiled.positiontup is None:
            raise ValueError(f"{dialect.name} does not use positional parameters")
        self.sql = compiled.string
        order: list[str] = list(compiled.positiontup)
        self.order = tuple(order)  # the parameters of `run_tuples`' rows
        fixed = {k: v for k, v in compiled.params.items() if k not in names}
        for key in order:
            kind = compiled.binds[key].type
            processor = kind.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None and not isinstance(kind, Boolean | LargeBinary):
                raise ValueError(f"parameter {key!r} needs bind processing; use Connection.execute")
        self._getters: list[Callable[[Mapping[str, Any]], Any]] = [
            _constant(fixed[key]) if key in fixed else _item(key) for key in order
        ]
        # Without fixed parameters a row's tuple is one C-level itemgetter call.
        self._tuple_of = itemgetter(*order) if len(order) > 1 and not fixed else None

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Execute for every row inside `conn`'s transaction; the rows the statement changed."""
        if not rows:
            return 0
        if self._tuple_of is not None:
            params = list(map(self._tuple_of, rows))
        else:
            getters = self._getters
            params = [tuple(get(row) for get in getters) for row in rows]
        return self.run_tuples(conn, params)

    def run_tuples(self, conn: Connection, params: Sequence[Sequence[Any]]) -> int:
        """As `run`, for rows already built as tuples of the parameters in `order` (no mappings to
        read: the hot path's caller builds them directly)."""
        if not params:
            return 0
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(self.sql, params)
            return int(cursor.rowcount)
        finally:
            cursor.close()


def _item(key: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda row: row[key]


def _constant(value: Any) -> Callable[[Mapping[str, Any]], Any]:
    return lambda _row: value


class RawQuery:
    """A SELECT (or a statement with RETURNING) compiled once and run straight through the DB-API
    cursor; rows come back as tuples in the order of the statement's columns (`columns`). Building,
    caching and executing a SQLAlchemy statement, and wrapping each row, costs more than the indexed
    lookups of the processing hot path.

    Works with positional (SQLite) and named (psycopg) parameter styles. Only for parameters the
    driver takes as they are and for columns read without result processing (integers, text, and
    booleans read through `bool()`); values the statement fixed itself (e.g. in UPDATE ... SET) are
    bound as compiled. By default runs inside `conn`'s transaction, which it begins if needed (so
    several queries in one `with engine.connect()` read one snapshot, as through `conn.execute`).
    """

    def __init__(self, stmt: Select[Any] | ValuesBase, dialect: Dialect) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql = compiled.string
        self.columns = tuple(str(c.key) for c in stmt.exported_columns)
        for key, bind in compiled.binds.items():
            if bind.type.dialect_impl(dialect).bind_processor(dialect) is not None:
                raise ValueError(f"parameter {key!r} needs bind processing; use Connection.execute")
        self._order: tuple[str, ...] | None = (
            tuple(compiled.positiontup) if compiled.positiontup is not None else None
        )
        self._fixed = {k: v for k, v in compiled.params.items() if v is not None}

    def run(self, conn: Connection, params: Mapping[str, Any], begin: bool = True) -> list[Any]:
        """`begin=False` runs the statement as it stands: in the transaction the caller began, or
        outside any (a SQLite read in autocommit)."""
        if begin and not conn.in_transaction():
            conn.begin()  # the engine's "begin" hook emits BEGIN (SQLite); psycopg begins on its own
        if self._fixed:
            params = {**self._fixed, **params}
        args: Any = params if self._order is None else tuple(params[k] for k in self._order)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(self.sql, args)
            return list(cursor.fetchall())
        finally:
            cursor.close()


class RawArrays:
    """A PostgreSQL statement whose parameters are whole columns (arrays), run straight through
    psycopg with each array sent in binary format.

    psycopg dumps a list given to a "%s" placeholder as a text array, in Python, quoting and escaping
    every element (several microseconds for a JSON payload); "%b" sends it binary (a length and the
    raw bytes per element). `run` takes rows as tuples in `names` order and returns the rows the
    statement returns (empty if it returns none).
    """

    def __init__(self, stmt: ValuesBase, dialect: Dialect, names: Sequence[str]) -> None:
        sql = stmt.compile(dialect=dialect).string
        for name in names:
            placeholder = f"%({name})s"
            if placeholder not in sql:
                raise ValueError(f"no parameter {name!r} in {sql!r}")
            sql = sql.replace(placeholder, f"%({name})b")
        self.sql = sql
        self.names = tuple(names)

    def run(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> list[Any]:
        if not rows:
            return []
        columns = zip(*rows, strict=True)
        params = {name: list(values) for name, values in zip(self.names, columns, strict=True)}
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(self.sql, params)
            return list(cursor.fetchall()) if cursor.description is not None else []
        finally:
            cursor.close()
