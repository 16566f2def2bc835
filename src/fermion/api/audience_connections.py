"""Audience connections over HTTP: connect an audience to an audience output (e.g. Amazon Kinesis
Firehose), list, change and delete its connections (bearer tokens, workspace-checked). Dead letters,
dead-letter replay, alerts and the outbound Live Stream use the ordinary connection routes."""

# No `from __future__ import annotations`: FastAPI must see the real types of dependencies declared
# inside audience_connections_router.

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from fermion.api.bearer import reachable_workspace
from fermion.api.delivery import DeliveryApi, QueuedChoice, deletion_response, delivery_error, json_response
from fermion.api.params import Int64
from fermion.delivery.edits import ConfigEdits, ConnectionChanges, Queued
from fermion.delivery.outputs import DeliveryError
from fermion.delivery.views import audience_connection_json
from fermion.model.tenancy import Workspace
from fermion.services.bearer_auth import BearerAuth


class NewAudienceConnectionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    output_id: Int64
    settings: dict[str, Any] = Field(default_factory=dict)
    status: Literal["active", "inactive"] = "active"


class AudienceConnectionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["active", "inactive"] | None = None
    # Replaces every connection setting (validated again); a secret left out or sent as *** is kept.
    settings: dict[str, Any] | None = None


# The workspace an audience belongs to, or None when there is no such (undeleted) audience.
AudienceWorkspace = Callable[[int], int | None]


def audience_connections_router(
    auth: BearerAuth, api: DeliveryApi, audience_workspace: AudienceWorkspace
) -> APIRouter:
    router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/audiences/{audience_id}/connections")
    outputs = api.outputs
    edits = ConfigEdits(outputs, api.queue)

    async def workspace_of(
        workspace_id: Int64, authorization: Annotated[str | None, Header()] = None
    ) -> Workspace:
        return await reachable_workspace(auth, authorization, workspace_id)

    Ws = Annotated[Workspace, Depends(workspace_of)]
    AudienceId = Annotated[Int64, Path(ge=1)]

    @router.get("")
    async def list_connections(ws: Ws, audience_id: AudienceId) -> Response:
        found = await asyncio.to_thread(outputs.list_audience_connections, ws.id, audience_id)
        return json_response({"connections": [audience_connection_json(c, s) for c, s in found]})

    @router.post("", status_code=201)
    async def create_connection(ws: Ws, audience_id: AudienceId, body: NewAudienceConnectionBody) -> Response:
        try:
            if await asyncio.to_thread(audience_workspace, audience_id) != ws.id:
                raise DeliveryError.one("audience_id", f"no audience {audience_id}", 404)
            conn, settings = await asyncio.to_thread(
                outputs.create_audience_connection,
                ws.id,
                audience_id,
                body.output_id,
                body.settings,
                body.status,
            )
        except DeliveryError as exc:
            return delivery_error(exc)
        return json_response(audience_connection_json(conn, settings), 201)

    @router.get("/{connection_id}")
    async def get_connection(ws: Ws, audience_id: AudienceId, connection_id: Int64) -> Response:
        try:
            conn, settings = await asyncio.to_thread(
                outputs.get_audience_connection, ws.id, audience_id, connection_id
            )
        except DeliveryError as exc:
            return delivery_error(exc)
        queue = await asyncio.to_thread(api.queue.count_by_status, conn.id)
        return json_response({**audience_connection_json(conn, settings), "queue": queue})

    @router.patch("/{connection_id}")
    async def update_connection(
        ws: Ws, audience_id: AudienceId, connection_id: Int64, body: AudienceConnectionPatch
    ) -> Response:
        try:
            conn, settings = await asyncio.to_thread(
                edits.update_audience_connection,
                ws.id,
                audience_id,
                connection_id,
                ConnectionChanges(status=body.status, settings=body.settings),
            )
        except DeliveryError as exc:
            return delivery_error(exc)
        return json_response(audience_connection_json(conn, settings))

    @router.delete("/{connection_id}", status_code=204)
    async def delete_connection(
        ws: Ws, audience_id: AudienceId, connection_id: Int64, queued: QueuedChoice = Queued.DELIVER
    ) -> Response:
        try:
            deletion = await asyncio.to_thread(
                edits.delete_audience_connection, ws.id, audience_id, connection_id, queued
            )
        except DeliveryError as exc:
            return delivery_error(exc)
        return deletion_response(deletion)

    return router
