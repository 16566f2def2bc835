"""Admin HTTP API: workspaces, inputs (create, deactivate, rotate the secret, delete), stored events and
the inbound Live Stream (bearer-token auth)."""

# No `from __future__ import annotations`: FastAPI must see the real types of dependencies declared
# inside admin_router.

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse
from starlette.responses import Response

from fermion.api.bearer import reachable_workspace
from fermion.api.errors import ApiError
from fermion.api.params import Int64, NonNegative64
from fermion.model.tenancy import Input, Workspace
from fermion.ports import BatchFilter, BatchRow, EventRow, EventStore
from fermion.services.admin_auth import AdminAuth
from fermion.services.bearer_auth import BearerAuth
from fermion.services.livestream import LiveStream
from fermion.services.tenancy import InputInUse, InvalidRequest, TenancyService, input_json

MAX_ID = 2**63 - 1


class NewInputBody(BaseModel):
    kind: Literal["platform", "feed"] = "platform"
    platform: str = Field(min_length=1, max_length=64)
    name: str = Field(default="", max_length=200)


class InputChangeBody(BaseModel, extra="forbid"):
    active: bool


def json_response(value: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(value), status_code=status, media_type="application/json")


def batch_json(row: BatchRow) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "batch_id": row.batch_id,
        "mpid": str(row.mpid),
        "input_id": row.input_id,
        "environment": row.environment,
        "received_ms": row.received_ms,
        "historical": row.historical,
        "device_ids": row.device_ids,
        "batch": msgspec.Raw(row.payload),
    }


def event_json(row: EventRow) -> dict[str, Any]:
    return {
        "event_id": str(row.event_id),
        "batch_id": row.batch_id,
        "mpid": str(row.mpid),
        "event_type": row.event_type,
        "event_name": row.event_name,
        "timestamp_ms": row.timestamp_ms,
        "environment": row.environment,
        "input_id": row.input_id,
        "event": msgspec.Raw(row.payload),
    }


def admin_router(
    auth: AdminAuth | BearerAuth, tenancy: TenancyService, events: EventStore, live: LiveStream
) -> APIRouter:
    # BearerAuth takes admin tokens and OAuth access tokens alike (an OAuth token scoped to some
    # workspaces gets 404 for the others).
    router = APIRouter(prefix="/api/v1")

    async def workspace_of(
        workspace_id: Int64, authorization: Annotated[str | None, Header()] = None
    ) -> Workspace:
        return await reachable_workspace(auth, authorization, workspace_id)

    Ws = Annotated[Workspace, Depends(workspace_of)]

    @router.get("/workspaces/{workspace_id}")
    async def get_workspace(ws: Ws) -> Response:
        return json_response(msgspec.to_builtins(ws))

    @router.get("/workspaces/{workspace_id}/inputs")
    async def list_inputs(ws: Ws) -> Response:
        inputs = await asyncio.to_thread(tenancy.list_inputs, ws.id)
        return json_response({"inputs": [input_json(i) for i in inputs]})

    @router.post("/workspaces/{workspace_id}/inputs", status_code=201)
    async def create_input(ws: Ws, body: NewInputBody) -> Response:
        try:
            created = await asyncio.to_thread(
                tenancy.create_input, ws.id, body.kind, body.platform, body.name
            )
        except InvalidRequest as exc:
            raise ApiError(400, exc.message, exc.field) from None
        return json_response(input_json(created.input, created.secret), 201)

    async def input_of(ws: Ws, input_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Input:
        inp = await asyncio.to_thread(tenancy.get_input, ws.id, input_id)
        if inp is None:
            raise ApiError(404, f"No input {input_id} in workspace {ws.id}.", "input_id")
        return inp

    In = Annotated[Input, Depends(input_of)]

    @router.get("/workspaces/{workspace_id}/inputs/{input_id}")
    async def get_input(inp: In) -> Response:
        return json_response(input_json(inp))

    @router.patch("/workspaces/{workspace_id}/inputs/{input_id}")
    async def change_input(inp: In, body: InputChangeBody) -> Response:
        """`{"active": false}` refuses the input's key and secret everywhere within seconds."""
        changed = await asyncio.to_thread(tenancy.set_active, inp, body.active)
        return json_response(input_json(changed))

    @router.post("/workspaces/{workspace_id}/inputs/{input_id}/rotate-secret")
    async def rotate_secret(inp: In) -> Response:
        """A new secret, answered only now; the old one stops working within seconds."""
        rotated = await asyncio.to_thread(tenancy.rotate_secret, inp)
        return json_response(input_json(rotated.input, rotated.secret))

    @router.delete("/workspaces/{workspace_id}/inputs/{input_id}", status_code=204)
    async def delete_input(inp: In) -> Response:
        try:
            await asyncio.to_thread(tenancy.delete_input, inp)
        except InputInUse as exc:
            raise ApiError(
                409, f"Connections {exc.connection_ids} use this input; delete them first.", "input_id"
            ) from None
        return Response(status_code=204)

    @router.get("/workspaces/{workspace_id}/events")
    async def list_events(
        ws: Ws,
        mpid: Annotated[int | None, Query(ge=-(2**63), le=2**63 - 1)] = None,
        since_ms: Annotated[NonNegative64 | None, Query()] = None,
        until_ms: Annotated[NonNegative64 | None, Query()] = None,
        event_type: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    ) -> Response:
        rows = await asyncio.to_thread(events.events, ws.id, mpid, since_ms, until_ms, event_type, limit)
        return json_response({"events": [event_json(r) for r in rows]})

    def live_filter(
        ws: Ws,
        input_id: Annotated[Int64 | None, Query()] = None,
        environment: Annotated[Literal["development", "production", "all"], Query()] = "development",
        mpid: Annotated[int | None, Query(ge=-(2**63), le=2**63 - 1)] = None,
        device_id: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> BatchFilter:
        return BatchFilter(
            workspace_id=ws.id,
            input_id=input_id,
            environment=None if environment == "all" else environment,
            mpid=mpid,
            device_id=device_id,
            limit=limit,
        )

    Flt = Annotated[BatchFilter, Depends(live_filter)]

    @router.get("/workspaces/{workspace_id}/livestream")
    async def livestream(flt: Flt) -> Response:
        rows = await asyncio.to_thread(live.latest, flt)
        return json_response({"batches": [batch_json(r) for r in rows]})

    @router.get("/workspaces/{workspace_id}/livestream/stream")
    async def livestream_sse(flt: Flt, request: Request) -> EventSourceResponse:
        stop = asyncio.Event()

        async def feed() -> AsyncIterator[dict[str, str]]:
            async for row in live.follow(flt, stop):
                if await request.is_disconnected():
                    stop.set()
                    break
                yield {
                    "event": "batch",
                    "id": str(row.seq),
                    "data": msgspec.json.encode(batch_json(row)).decode(),
                }

        return EventSourceResponse(feed(), ping=15)

    return router
