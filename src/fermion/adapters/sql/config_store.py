"""SqlConfigStore: the ConfigStore port (tenancy and inputs) over SQLAlchemy Core."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, Insert, Row, Select, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from fermion.adapters.sql.engine import write_engine
from fermion.adapters.sql.schema import accounts, inputs, meta, organizations, workspaces
from fermion.adapters.sql.schema_delivery import connections
from fermion.model.tenancy import Account, Input, InputKind, Organization, Workspace
from fermion.ports import NewInput


def _now_ms() -> int:
    return int(time.time() * 1000)


_WORKSPACE_COLUMNS = (
    workspaces.c.id,
    workspaces.c.account_id,
    accounts.c.org_id,
    workspaces.c.name,
    workspaces.c.created_ms,
    workspaces.c.rate_limit_per_s,
)


def _workspace_query() -> Select[Any]:
    on = workspaces.c.account_id == accounts.c.id
    return select(*_WORKSPACE_COLUMNS).join_from(workspaces, accounts, on)


def _workspace(row: Row[Any]) -> Workspace:
    return Workspace(
        id=row.id,
        account_id=row.account_id,
        org_id=row.org_id,
        name=row.name,
        created_ms=row.created_ms,
        rate_limit_per_s=row.rate_limit_per_s,
    )


def _input(row: Row[Any]) -> Input:
    return Input(
        id=row.id,
        workspace_id=row.workspace_id,
        kind=InputKind(row.kind),
        platform=row.platform,
        name=row.name,
        key=row.key,
        secret_hash=row.secret_hash,
        created_ms=row.created_ms,
        active=bool(row.active),
    )


class SqlConfigStore:
    """Tenancy and inputs. Unknown parent ids raise LookupError; a duplicate input key, ValueError."""

    def __init__(self, engine: Engine, clock: Callable[[], int] = _now_ms) -> None:
        self._engine = engine
        self._write = write_engine(engine)
        self._clock = clock

    def _require(self, conn: Connection, column: Any, value: int, what: str) -> Row[Any]:
        row = conn.execute(select(column.table).where(column == value)).first()
        if row is None:
            raise LookupError(f"unknown {what} {value}")
        return row

    def create_organization(self, name: str) -> Organization:
        created_ms = self._clock()
        with self._write.begin() as conn:
            org_id = conn.execute(
                insert(organizations).values(name=name, created_ms=created_ms).returning(organizations.c.id)
            ).scalar_one()
        return Organization(id=org_id, name=name, created_ms=created_ms)

    def create_account(self, org_id: int, name: str) -> Account:
        created_ms = self._clock()
        with self._write.begin() as conn:
            self._require(conn, organizations.c.id, org_id, "organization")
            account_id = conn.execute(
                insert(accounts)
                .values(org_id=org_id, name=name, created_ms=created_ms)
                .returning(accounts.c.id)
            ).scalar_one()
        return Account(id=account_id, org_id=org_id, name=name, created_ms=created_ms)

    def create_workspace(self, account_id: int, name: str) -> Workspace:
        created_ms = self._clock()
        with self._write.begin() as conn:
            account = self._require(conn, accounts.c.id, account_id, "account")
            workspace_id = conn.execute(
                insert(workspaces)
                .values(account_id=account_id, name=name, created_ms=created_ms, rate_limit_per_s=0)
                .returning(workspaces.c.id)
            ).scalar_one()
        return Workspace(
            id=workspace_id, account_id=account_id, org_id=account.org_id, name=name, created_ms=created_ms
        )

    def get_workspace(self, workspace_id: int) -> Workspace | None:
        with self._engine.connect() as conn:
            row = conn.execute(_workspace_query().where(workspaces.c.id == workspace_id)).first()
        return None if row is None else _workspace(row)

    def list_workspaces(self) -> list[Workspace]:
        with self._engine.connect() as conn:
            rows = conn.execute(_workspace_query().order_by(workspaces.c.id)).all()
        return [_workspace(row) for row in rows]

    def set_workspace_rate_limit(self, workspace_id: int, per_s: int) -> None:
        if per_s < 0:
            raise ValueError(f"rate limit must be >= 0, got {per_s}")
        with self._write.begin() as conn:
            result = conn.execute(
                update(workspaces).where(workspaces.c.id == workspace_id).values(rate_limit_per_s=per_s)
            )
            if result.rowcount == 0:
                raise LookupError(f"unknown workspace {workspace_id}")

    def create_input(self, new: NewInput) -> Input:
        created_ms = self._clock()
        with self._write.begin() as conn:
            self._require(conn, workspaces.c.id, new.workspace_id, "workspace")
            if conn.execute(select(inputs.c.id).where(inputs.c.key == new.key)).first() is not None:
                raise ValueError(f"an input with key {new.key!r} already exists")
            try:
                input_id = self._insert_input(conn, new, created_ms)
            except IntegrityError as exc:  # lost a race with a concurrent create_input
                raise ValueError(f"an input with key {new.key!r} already exists") from exc
        return Input(
            id=input_id,
            workspace_id=new.workspace_id,
            kind=new.kind,
            platform=new.platform,
            name=new.name,
            key=new.key,
            secret_hash=new.secret_hash,
            created_ms=created_ms,
            active=True,
        )

    @staticmethod
    def _insert_input(conn: Connection, new: NewInput, created_ms: int) -> int:
        values = {
            "workspace_id": new.workspace_id,
            "kind": new.kind.value,
            "platform": new.platform,
            "name": new.name,
            "key": new.key,
            "secret_hash": new.secret_hash,
            "active": True,
            "created_ms": created_ms,
        }
        input_id: int = conn.execute(insert(inputs).values(values).returning(inputs.c.id)).scalar_one()
        return input_id

    def get_input(self, input_id: int) -> Input | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(inputs).where(inputs.c.id == input_id)).first()
        return None if row is None else _input(row)

    def get_input_by_key(self, key: str) -> Input | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(inputs).where(inputs.c.key == key)).first()
        return None if row is None else _input(row)

    def list_inputs(self, workspace_id: int | None = None) -> list[Input]:
        query = select(inputs).order_by(inputs.c.id)
        if workspace_id is not None:
            query = query.where(inputs.c.workspace_id == workspace_id)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_input(row) for row in rows]

    def set_input_active(self, input_id: int, active: bool) -> Input | None:
        return self._update_input(input_id, active=active)

    def set_input_secret_hash(self, input_id: int, secret_hash: str) -> Input | None:
        return self._update_input(input_id, secret_hash=secret_hash)

    def _update_input(self, input_id: int, **values: Any) -> Input | None:
        with self._write.begin() as conn:
            conn.execute(update(inputs).where(inputs.c.id == input_id).values(**values))
            row = conn.execute(select(inputs).where(inputs.c.id == input_id)).first()
        return None if row is None else _input(row)

    def delete_input(self, input_id: int) -> list[int]:
        with self._write.begin() as conn:
            self._require(conn, inputs.c.id, input_id, "input")
            used_by = conn.execute(
                select(connections.c.id).where(connections.c.input_id == input_id).order_by(connections.c.id)
            ).scalars()
            blocking = [int(c) for c in used_by]
            if not blocking:
                conn.execute(delete(inputs).where(inputs.c.id == input_id))
        return blocking

    # -- meta: small key/value settings (e.g. hashed admin tokens) -----------------------------

    def get_meta(self, key: str) -> str | None:
        with self._engine.connect() as conn:
            value: str | None = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
        return value

    def list_meta(self, prefix: str) -> list[tuple[str, str]]:
        query = select(meta.c.key, meta.c.value).where(meta.c.key.startswith(prefix, autoescape=True))
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(meta.c.key)).all()
        return [(row.key, row.value) for row in rows]

    def set_meta(self, key: str, value: str) -> None:
        """Insert or replace the value stored under key."""
        stmt: Insert
        if self._engine.dialect.name == "postgresql":
            pg = postgresql.insert(meta).values(key=key, value=value)
            stmt = pg.on_conflict_do_update(index_elements=[meta.c.key], set_={"value": pg.excluded.value})
        else:
            lite = sqlite.insert(meta).values(key=key, value=value)
            stmt = lite.on_conflict_do_update(
                index_elements=[meta.c.key], set_={"value": lite.excluded.value}
            )
        with self._write.begin() as conn:
            conn.execute(stmt)

    def delete_meta(self, key: str) -> None:
        with self._write.begin() as conn:
            conn.execute(delete(meta).where(meta.c.key == key))
