"""Data points catalog and per-connection data filters over HTTP (bearer tokens: admin or OAuth)."""

# No `from __future__ import annotations`: FastAPI must see the real types of dependencies declared
# inside catalog_router.

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from fermion.api.admin import json_response
from fermion.api.bearer import reachable_workspace
from fermion.api.errors import ApiError, errors_response
from fermion.api.params import Int64
from fermion.dataplans.catalog import ConnectionFilter, DataPoint, Kind, kind_from_text
from fermion.model.tenancy import Workspace
from fermion.ports import DataPointRow
from fermion.services.bearer_auth import BearerAuth
from fermion.services.catalog import CatalogService, InvalidFilter, parse_entries

# The workspace a connection belongs to, or None when there is no such connection.
ConnectionWorkspace = Callable[[int], int | None]


class FilterBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    send_new_data_points_by_default: bool | None = None
    data_points: list[Any] | None = None


def point_json(point: DataPoint) -> dict[str, Any]:
    return {
        "type": point.kind,
        "name": point.name,
        "event_type": point.event_type or None,
        "attribute_name": point.attribute_name or None,
    }


def row_json(row: DataPointRow) -> dict[str, Any]:
    return {
        **point_json(row.point),
        "count": row.count,
        "first_seen_ms": row.first_seen_ms,
        "last_seen_ms": row.last_seen_ms,
    }


def filter_json(connection_id: int, flt: ConnectionFilter, rows: list[DataPointRow]) -> dict[str, Any]:
    """Every catalogued or explicitly set point: its own setting, and whether it is sent (`effective`,
    which also needs every parent on)."""
    entries = flt.entries or {}
    listed: dict[DataPoint, dict[str, Any]] = {r.point: row_json(r) for r in rows}
    for point in entries:
        listed.setdefault(point, point_json(point))
    points = []
    for point, body in sorted(listed.items()):
        points.append(
            {
                **body,
                "enabled": entries.get(point, flt.send_new_by_default),
                "explicit": point in entries,
                "effective": flt.allows(point),
            }
        )
    return {
        "connection_id": connection_id,
        "send_new_data_points_by_default": flt.send_new_by_default,
        "data_points": points,
    }


def catalog_router(
    auth: BearerAuth, catalog: CatalogService, connection_workspace: ConnectionWorkspace
) -> APIRouter:
    router = APIRouter(prefix="/api/v1")

    async def workspace_of(
        workspace_id: Int64, authorization: Annotated[str | None, Header()] = None
    ) -> Workspace:
        return await reachable_workspace(auth, authorization, workspace_id)

    Ws = Annotated[Workspace, Depends(workspace_of)]

    async def connection_of(ws: Ws, connection_id: Int64) -> int:
        if await asyncio.to_thread(connection_workspace, connection_id) != ws.id:
            raise ApiError(404, f"No connection {connection_id} in workspace {ws.id}.", "connection_id")
        return connection_id

    Cid = Annotated[int, Depends(connection_of)]

    @router.get("/workspaces/{workspace_id}/data-points")
    async def list_data_points(
        ws: Ws,
        type_: Annotated[str | None, Query(alias="type", max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
    ) -> Response:
        kind: Kind | None = None
        if type_ is not None:
            kind = kind_from_text(type_)
            if kind is None:
                raise ApiError(400, f"type must be one of: {', '.join(k.value for k in Kind)}.", "type")
        rows = await asyncio.to_thread(catalog.data_points, ws.id, kind.value if kind else None, limit)
        return json_response({"data_points": [row_json(r) for r in rows]})

    @router.get("/workspaces/{workspace_id}/connections/{connection_id}/filters")
    async def get_filters(ws: Ws, connection_id: Cid) -> Response:
        flt = await asyncio.to_thread(catalog.get_filter, connection_id)
        rows = await asyncio.to_thread(catalog.data_points, ws.id)
        return json_response(filter_json(connection_id, flt, rows))

    @router.put("/workspaces/{workspace_id}/connections/{connection_id}/filters")
    async def put_filters(ws: Ws, connection_id: Cid, body: FilterBody) -> Response:
        try:
            entries = parse_entries(body.data_points or [])
        except InvalidFilter as exc:
            return errors_response(
                400, [{"code": "BAD_REQUEST", "message": m, "field": f} for f, m in exc.errors]
            )
        flt = await asyncio.to_thread(
            catalog.set_filter, ws.id, connection_id, body.send_new_data_points_by_default, entries
        )
        rows = await asyncio.to_thread(catalog.data_points, ws.id)
        return json_response(filter_json(connection_id, flt, rows))

    return router
