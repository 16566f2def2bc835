"""Delivery HTTP API: integrations, outputs, connections, dead letters, replay, System Alerts, the Event
Forwarding report and the outbound Live Stream (bearer-token auth, as the admin API)."""

# No `from __future__ import annotations`: FastAPI must see the real types of dependencies declared
# inside delivery_router.

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette.sse import EventSourceResponse
from starlette.responses import Response

from fermion.api.bearer import reachable_workspace
from fermion.api.errors import errors_response
from fermion.api.params import Int64, NonNegative64
from fermion.delivery.edits import ConfigEdits, ConnectionChanges, Deletion, Queued
from fermion.delivery.outputs import DeliveryError, OutputsService
from fermion.delivery.replay import ReplayService
from fermion.delivery.reports import OutboundLiveStream, ReportsService, entry_json
from fermion.delivery.views import connection_json, deletion_json, job_json, output_json, progress_json
from fermion.integrations import registry
from fermion.model.tenancy import Workspace
from fermion.ports import DeliveryQueue, InboundDeadLetters
from fermion.services.bearer_auth import BearerAuth
from fermion.services.inbound_dead_letters import summary_json

_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 409: "CONFLICT"}


@dataclass(frozen=True)
class DeliveryApi:
    outputs: OutputsService
    queue: DeliveryQueue
    replay: ReplayService
    reports: ReportsService
    live: OutboundLiveStream


class NewOutputBody(BaseModel):
    integration: str = Field(min_length=1, max_length=100)
    name: str = Field(default="", max_length=200)
    settings: dict[str, Any] = Field(default_factory=dict)


class NewConnectionBody(BaseModel):
    input_id: Int64
    output_id: Int64
    settings: dict[str, Any] = Field(default_factory=dict)
    status: Literal["active", "inactive"] = "active"
    send_development: bool = True
    send_production: bool = True


class OutputPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    # Replaces the settings (validated again); a secret left out or sent as *** keeps its value.
    settings: dict[str, Any] | None = None


class ConnectionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["active", "inactive"] | None = None
    send_development: bool | None = None
    send_production: bool | None = None
    # Replaces the connection settings (validated again); secrets and consent_rules as for outputs.
    settings: dict[str, Any] | None = None


QueuedChoice = Annotated[
    Queued,
    Query(
        description="Queued deliveries: deliver (default; the connection goes once they are sent) or drop."
    ),
]


class ReplayBody(BaseModel):
    dead_letters: bool = False
    since_ms: NonNegative64 | None = None
    until_ms: NonNegative64 | None = None


def json_response(value: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(value), status_code=status, media_type="application/json")


def delivery_error(exc: DeliveryError) -> Response:
    errors = [
        {"code": _CODES.get(exc.status, "ERROR"), "message": e.message, "field": e.field} for e in exc.errors
    ]
    return errors_response(exc.status, errors)


def deletion_response(deletion: Deletion) -> Response:
    """204 when gone; 202 while the connections wait for their queued deliveries."""
    if deletion.done:
        return Response(status_code=204)
    return json_response(deletion_json(deletion), 202)


def delivery_router(
    auth: BearerAuth, api: DeliveryApi, inbound: InboundDeadLetters | None = None
) -> APIRouter:
    """With `inbound`, System Alerts also show the workspace's inbound dead letters."""
    router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}")
    edits = ConfigEdits(api.outputs, api.queue)
    background: set[asyncio.Task[Any]] = set()

    async def workspace_of(
        workspace_id: Int64, authorization: Annotated[str | None, Header()] = None
    ) -> Workspace:
        return await reachable_workspace(auth, authorization, workspace_id)

    Ws = Annotated[Workspace, Depends(workspace_of)]

    @router.get("/integrations")
    async def list_integrations(ws: Ws) -> Response:
        return json_response({"integrations": [i.describe() for i in registry.all_integrations()]})

    @router.get("/outputs")
    async def list_outputs(ws: Ws) -> Response:
        found = await asyncio.to_thread(api.outputs.list_outputs, ws.id)
        return json_response({"outputs": [output_json(o, s) for o, s in found]})

    @router.post("/outputs", status_code=201)
    async def create_output(ws: Ws, body: NewOutputBody) -> Response:
        try:
            out, settings = await asyncio.to_thread(
                api.outputs.create_output, ws.id, body.integration, body.name, body.settings
            )
        except DeliveryError as exc:
            return delivery_error(exc)
        return json_response(output_json(out, settings), 201)

    @router.get("/outputs/{output_id}")
    async def get_output(ws: Ws, output_id: Int64) -> Response:
        try:
            out, settings = await asyncio.to_thread(api.outputs.get_output, ws.id, output_id)
        except DeliveryError as exc:
            return delivery_error(exc)
        return json_response(output_json(out, settings))

    @router.patch("/outputs/{output_id}")
    async def update_output(ws: Ws, output_id: Int64, body: OutputPatch) -> Response:
        try:
            out, settings = await asyncio.to_thread(
                edits.update_output, ws.id, output_id, body.name, body.settings
            )
        except DeliveryError as exc:
            return delivery_error(exc)
        return json_response(output_json(out, settings))

    @router.delete("/outputs/{output_id}", status_code=204)
    async def delete_output(
        ws: Ws,
        output_id: Int64,
        queued: QueuedChoice = Queued.DELIVER,
        force: Annotated[bool, Query(description="Delete the output's connections too.")] = False,
    ) -> Response:
        try:
            deletion = await asyncio.to_thread(edits.delete_output, ws.id, output_id, force, queued)
        except DeliveryError as exc:
            return delivery_error(exc)
        return deletion_response(deletion)

    @router.get("/connections")
    async def list_connections(ws: Ws) -> Response:
        found = await asyncio.to_thread(api.outputs.list_connections, ws.id)
        return json_response({"connections": [connection_json(c, s) for c, s in found]})

    @router.post("/connections", status_code=201)
    async def create_connection(ws: Ws, body: NewConnectionBody) -> Response:
        try:
            conn, settings = await asyncio.to_thread(
                api.outputs.create_connection,
                ws.id,
                body.input_id,
                body.output_id,
                body.settings,
                body.status,
                body.send_development,
                body.send_production,
            )
        except DeliveryError as exc:
            return delivery_error(exc)
        return json_response(connection_json(conn, settings), 201)

    @router.get("/connections/{connection_id}")
    async def get_connection(ws: Ws, connection_id: Int64) -> Response:
        try:
            conn = await asyncio.to_thread(api.outputs.get_connection, ws.id, connection_id)
        except DeliveryError as exc:
            return delivery_error(exc)
        queue = await asyncio.to_thread(api.queue.count_by_status, conn.id)
        return json_response({**connection_json(conn), "queue": queue})

    @router.patch("/connections/{connection_id}")
    async def update_connection(ws: Ws, connection_id: Int64, body: ConnectionPatch) -> Response:
        changes = ConnectionChanges(
            status=body.status,
            send_development=body.send_development,
            send_production=body.send_production,
            settings=body.settings,
        )
        try:
            conn, settings = await asyncio.to_thread(edits.update_connection, ws.id, connection_id, changes)
        except DeliveryError as exc:
            return delivery_error(exc)
        return json_response(connection_json(conn, settings))

    @router.delete("/connections/{connection_id}", status_code=204)
    async def delete_connection(
        ws: Ws, connection_id: Int64, queued: QueuedChoice = Queued.DELIVER
    ) -> Response:
        try:
            deletion = await asyncio.to_thread(edits.delete_connection, ws.id, connection_id, queued)
        except DeliveryError as exc:
            return delivery_error(exc)
        return deletion_response(deletion)

    @router.get("/connections/{connection_id}/dead-letters")
    async def dead_letters(
        ws: Ws,
        connection_id: Int64,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        after_id: Annotated[NonNegative64, Query()] = 0,
    ) -> Response:
        try:
            await asyncio.to_thread(api.outputs.get_connection, ws.id, connection_id)
        except DeliveryError as exc:
            return delivery_error(exc)
        rows = await asyncio.to_thread(api.queue.dead_letters, connection_id, limit, after_id)
        return json_response({"dead_letters": [msgspec.to_builtins(r) for r in rows]})

    @router.post("/connections/{connection_id}/replay", status_code=202)
    async def replay(ws: Ws, connection_id: Int64, body: ReplayBody) -> Response:
        try:
            if body.dead_letters:
                if body.since_ms is not None or body.until_ms is not None:
                    raise DeliveryError.one("dead_letters", "replay either the dead letters or a time window")
                job = await asyncio.to_thread(api.replay.replay_dead_letters, ws.id, connection_id)
                return json_response(job_json(job), 202)
            if body.since_ms is None:
                raise DeliveryError.one("since_ms", "required unless dead_letters is true")
            until = (
                body.until_ms if body.until_ms is not None else int(dt.datetime.now().timestamp() * 1000) + 1
            )
            job = await asyncio.to_thread(
                api.replay.create_window_job, ws.id, connection_id, body.since_ms, until
            )
        except DeliveryError as exc:
            return delivery_error(exc)
        task = asyncio.create_task(asyncio.to_thread(api.replay.run_window_job, job))
        background.add(task)
        task.add_done_callback(background.discard)
        return json_response(job_json(job), 202)

    @router.get("/replays/{job_id}")
    async def replay_progress(ws: Ws, job_id: Int64) -> Response:
        try:
            progress = await asyncio.to_thread(api.replay.progress, ws.id, job_id)
        except DeliveryError as exc:
            return delivery_error(exc)
        return json_response(progress_json(progress))

    @router.get("/alerts")
    async def alerts(
        ws: Ws,
        since_ms: Annotated[NonNegative64 | None, Query()] = None,
        until_ms: Annotated[NonNegative64 | None, Query()] = None,
        environment: Annotated[Literal["development", "production", "all"], Query()] = "all",
        connection_id: Annotated[Int64 | None, Query()] = None,
    ) -> Response:
        env = None if environment == "all" else environment
        report = await asyncio.to_thread(api.reports.alerts, ws.id, since_ms, until_ms, env, connection_id)
        if inbound is not None:  # batches that failed processing, whatever the filters: all still there
            report["inbound"] = summary_json(await inbound.dead_letter_summary(ws.id))
        return json_response(report)

    @router.get("/reports/forwarding")
    async def forwarding_report(
        ws: Ws,
        day: Annotated[dt.date | None, Query(description="UTC day, YYYY-MM-DD (default today)")] = None,
        hour: Annotated[int | None, Query(ge=0, le=23)] = None,
        connection_id: Annotated[Int64 | None, Query()] = None,
    ) -> Response:
        when = day or dt.datetime.now(dt.UTC).date()
        report = await asyncio.to_thread(api.reports.forwarding, ws.id, when, hour, connection_id)
        return json_response(report)

    @router.get("/livestream/outbound")
    async def outbound_latest(
        ws: Ws,
        connection_id: Annotated[Int64 | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> Response:
        rows = await asyncio.to_thread(api.live.latest, ws.id, connection_id, limit)
        return json_response({"requests": [entry_json(r) for r in rows]})

    @router.get("/livestream/outbound/stream")
    async def outbound_stream(
        ws: Ws,
        request: Request,
        connection_id: Annotated[Int64 | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> EventSourceResponse:
        stop = asyncio.Event()

        async def feed() -> AsyncIterator[dict[str, str]]:
            async for entry in api.live.follow(ws.id, connection_id, limit, stop):
                if await request.is_disconnected():
                    stop.set()
                    break
                yield {
                    "event": "request",
                    "id": str(entry.id),
                    "data": msgspec.json.encode(entry_json(entry)).decode(),
                }

        return EventSourceResponse(feed(), ping=15)

    return router
