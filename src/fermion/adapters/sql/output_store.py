"""SqlOutputStore: the OutputStore port (output configurations and connections) over SQLAlchemy Core."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy import Connection as SqlConnection
from sqlalchemy import Engine, Row, Table, and_, delete, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from fermion.adapters.sql.engine import write_engine
from fermion.adapters.sql.schema import inputs, workspaces
from fermion.adapters.sql.schema_delivery import connections, delivery_queue, outputs
from fermion.model.delivery import (
    Connection,
    ConnectionStatus,
    ItemStatus,
    NewConnection,
    NewOutput,
    Output,
    OutputStatus,
)

_decode_settings = msgspec.json.Decoder(dict[str, Any]).decode
_encode = msgspec.json.Encoder().encode


def _now_ms() -> int:
    return int(time.time() * 1000)


def _output(row: Row[Any]) -> Output:
    return Output(
        id=row.id,
        workspace_id=row.workspace_id,
        integration_id=row.integration_id,
        name=row.name,
        settings=_decode_settings(row.settings),
        created_ms=row.created_ms,
        updated_ms=row.updated_ms,
        status=OutputStatus(row.status),
    )


def _connection(row: Row[Any]) -> Connection:
    return Connection(
        id=row.id,
        workspace_id=row.workspace_id,
        input_id=row.input_id,
        output_id=row.output_id,
        integration_id=row.integration_id,
        settings=_decode_settings(row.settings),
        status=ConnectionStatus(row.status),
        send_development=bool(row.send_development),
        send_production=bool(row.send_production),
        created_ms=row.created_ms,
        updated_ms=row.updated_ms,
        audience_id=row.audience_id,
    )


def _pair(new: NewConnection) -> str:
    if new.input_id is not None:
        return f"input {new.input_id} is already connected to output {new.output_id}"
    return f"audience {new.audience_id} is already connected to output {new.output_id}"


_STAMP_SQL = (
    f"SELECT (SELECT count(*) FROM {outputs.name}) + (SELECT count(*) FROM {connections.name}),"
    f" (SELECT coalesce(sum(updated_ms), 0) FROM {outputs.name})"
    f" + (SELECT coalesce(sum(updated_ms), 0) FROM {connections.name})"
)


class SqlOutputStore:
    """Outputs and connections in SQLite or PostgreSQL."""

    def __init__(self, engine: Engine, clock: Callable[[], int] = _now_ms) -> None:
        self._engine = engine
        self._write = write_engine(engine)
        self._clock = clock

    @staticmethod
    def _require(conn: SqlConnection, column: Any, value: int, what: str) -> Row[Any]:
        row = conn.execute(select(column.table).where(column == value)).first()
        if row is None:
            raise LookupError(f"unknown {what} {value}")
        return row

    def create_output(self, new: NewOutput) -> Output:
        now = self._clock()
        with self._write.begin() as conn:
            self._require(conn, workspaces.c.id, new.workspace_id, "workspace")
            output_id = conn.execute(
                insert(outputs)
                .values(
                    workspace_id=new.workspace_id,
                    integration_id=new.integration_id,
                    name=new.name,
                    settings=_encode(new.settings).decode(),
                    created_ms=now,
                    updated_ms=now,
                )
                .returning(outputs.c.id)
            ).scalar_one()
        return Output(
            id=output_id,
            workspace_id=new.workspace_id,
            integration_id=new.integration_id,
            name=new.name,
            settings=new.settings,
            created_ms=now,
            updated_ms=now,
        )

    def get_output(self, output_id: int) -> Output | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(outputs).where(outputs.c.id == output_id)).first()
        return None if row is None else _output(row)

    def list_outputs(self, workspace_id: int | None = None) -> list[Output]:
        query = select(outputs).order_by(outputs.c.id)
        if workspace_id is not None:
            query = query.where(outputs.c.workspace_id == workspace_id)
        with self._engine.connect() as conn:
            return [_output(row) for row in conn.execute(query).all()]

    def _next_updated_ms(self, column: Any) -> Any:
        """updated_ms always moves forward, so config_stamp() changes even within one millisecond."""
        if self._engine.dialect.name == "postgresql":
            return func.greatest(self._clock(), column + 1)
        return func.max(self._clock(), column + 1)

    def _update_row(self, table: Table, what: str, row_id: int, values: dict[str, Any]) -> Row[Any]:
        """Set `values` (and a later updated_ms) on row `row_id` of `table` and read it back; LookupError
        names `what` when there is no such row."""
        values = {"updated_ms": self._next_updated_ms(table.c.updated_ms), **values}
        with self._write.begin() as conn:
            result = conn.execute(update(table).where(table.c.id == row_id).values(values))
            if result.rowcount == 0:
                raise LookupError(f"unknown {what} {row_id}")
            return conn.execute(select(table).where(table.c.id == row_id)).one()

    def update_output(
        self,
        output_id: int,
        name: str | None = None,
        settings: dict[str, Any] | None = None,
        status: OutputStatus | None = None,
    ) -> Output:
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = name
        if settings is not None:
            values["settings"] = _encode(settings).decode()
        if status is not None:
            values["status"] = status.value
        return _output(self._update_row(outputs, "output", output_id, values))

    def delete_output(self, output_id: int) -> bool:
        """Forget an output with its connections and their queued items; False if there was none."""
        used = select(connections.c.id).where(connections.c.output_id == output_id)
        with self._write.begin() as conn:
            conn.execute(delete(delivery_queue).where(delivery_queue.c.connection_id.in_(used)))
            conn.execute(delete(connections).where(connections.c.output_id == output_id))
            result = conn.execute(delete(outputs).where(outputs.c.id == output_id))
        return bool(result.rowcount)

    def finish_deletions(self) -> int:
        """Remove the deleting connections with nothing left to send (no pending or inflight items),
        then the deleting outputs without connections; return how many rows went."""
        waiting = exists().where(
            delivery_queue.c.connection_id == connections.c.id,
            delivery_queue.c.status.in_([ItemStatus.PENDING.value, ItemStatus.INFLIGHT.value]),
        )
        drained = select(connections.c.id).where(
            and_(connections.c.status == ConnectionStatus.DELETING.value, ~waiting)
        )
        with self._write.begin() as conn:
            ids = list(conn.execute(drained).scalars().all())
            if ids:
                conn.execute(delete(delivery_queue).where(delivery_queue.c.connection_id.in_(ids)))
                conn.execute(delete(connections).where(connections.c.id.in_(ids)))
            unused = ~exists().where(connections.c.output_id == outputs.c.id)
            gone = conn.execute(
                delete(outputs).where(outputs.c.status == OutputStatus.DELETING.value, unused)
            ).rowcount
        return len(ids) + int(gone)

    def create_connection(self, new: NewConnection) -> Connection:
        now = self._clock()
        with self._write.begin() as conn:
            self._require(conn, workspaces.c.id, new.workspace_id, "workspace")
            if (new.input_id is None) == (new.audience_id is None):
                raise ValueError("a connection has either an input or an audience")
            if new.input_id is not None:
                self._require(conn, inputs.c.id, new.input_id, "input")
                source = connections.c.input_id == new.input_id
            else:
                source = connections.c.audience_id == new.audience_id
            self._require(conn, outputs.c.id, new.output_id, "output")
            taken = select(connections.c.id).where(source, connections.c.output_id == new.output_id)
            if conn.execute(taken).first() is not None:
                raise ValueError(_pair(new))
            values = {
                "workspace_id": new.workspace_id,
                "input_id": new.input_id,
                "audience_id": new.audience_id,
                "output_id": new.output_id,
                "integration_id": new.integration_id,
                "settings": _encode(new.settings).decode(),
                "status": new.status.value,
                "send_development": new.send_development,
                "send_production": new.send_production,
                "created_ms": now,
                "updated_ms": now,
            }
            try:
                connection_id = conn.execute(
                    insert(connections).values(values).returning(connections.c.id)
                ).scalar_one()
            except IntegrityError as exc:  # lost a race with a concurrent create
                raise ValueError(_pair(new)) from exc
        return Connection(
            id=connection_id,
            workspace_id=new.workspace_id,
            input_id=new.input_id,
            output_id=new.output_id,
            integration_id=new.integration_id,
            settings=new.settings,
            status=new.status,
            send_development=new.send_development,
            send_production=new.send_production,
            created_ms=now,
            updated_ms=now,
            audience_id=new.audience_id,
        )

    def get_connection(self, connection_id: int) -> Connection | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(connections).where(connections.c.id == connection_id)).first()
        return None if row is None else _connection(row)

    def list_connections(
        self,
        workspace_id: int | None = None,
        input_id: int | None = None,
        audience_id: int | None = None,
        output_id: int | None = None,
    ) -> list[Connection]:
        query = select(connections).order_by(connections.c.id)
        if output_id is not None:
            query = query.where(connections.c.output_id == output_id)
        if workspace_id is not None:
            query = query.where(connections.c.workspace_id == workspace_id)
        if input_id is not None:
            query = query.where(connections.c.input_id == input_id)
        if audience_id is not None:
            query = query.where(connections.c.audience_id == audience_id)
        with self._engine.connect() as conn:
            return [_connection(row) for row in conn.execute(query).all()]

    def update_connection(
        self,
        connection_id: int,
        status: ConnectionStatus | None = None,
        send_development: bool | None = None,
        send_production: bool | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Connection:
        values: dict[str, Any] = {}
        if status is not None:
            values["status"] = status.value
        if send_development is not None:
            values["send_development"] = send_development
        if send_production is not None:
            values["send_production"] = send_production
        if settings is not None:
            values["settings"] = _encode(settings).decode()
        return _connection(self._update_row(connections, "connection", connection_id, values))

    def delete_connection(self, connection_id: int) -> bool:
        """Forget a connection and its queued items (dead letters too); False if there was none."""
        with self._write.begin() as conn:
            conn.execute(delete(delivery_queue).where(delivery_queue.c.connection_id == connection_id))
            result = conn.execute(delete(connections).where(connections.c.id == connection_id))
        return bool(result.rowcount)

    def config_stamp(self) -> tuple[int, int]:
        """(number of outputs + connections, sum of their update times): a row's updated_ms only grows,
        so any create or update changes it."""
        with self._engine.connect() as conn:  # plain SQL: every processed group asks, so skip compiling
            n, total = conn.exec_driver_sql(_STAMP_SQL).one()
        return int(n), int(total)
