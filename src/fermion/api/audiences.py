"""Audiences over HTTP (bearer tokens): Fermion's own routes under /api/v1/workspaces/{id}/audiences
and the Platform API's /v1/audiences routes (see api/audiences_platform.py)."""

# No `from __future__ import annotations`: FastAPI must see the real types of dependencies declared
# inside audiences_router.

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query
from starlette.responses import Response

from fermion.api.admin import json_response
from fermion.api.bearer import mpid_of, reachable_workspace
from fermion.api.errors import ApiError, errors_response
from fermion.api.params import Int64
from fermion.audiences.records import Audience
from fermion.audiences.views import audience_json, history_json, member_json, standing_json
from fermion.model.tenancy import Workspace
from fermion.services.audience_admin import AudienceAdmin, Conflict, InvalidAudience
from fermion.services.bearer_auth import BearerAuth

# The names of the outputs an audience is connected to (empty until audience connections exist).
ConnectedOutputs = Callable[[int], list[str]]


def invalid(exc: InvalidAudience) -> Response:
    return errors_response(400, [{"code": "BAD_REQUEST", "message": m, "field": f} for f, m in exc.errors])


def audiences_router(auth: BearerAuth, admin: AudienceAdmin) -> APIRouter:
    router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/audiences")

    async def workspace_of(
        workspace_id: Int64, authorization: Annotated[str | None, Header()] = None
    ) -> Workspace:
        return await reachable_workspace(auth, authorization, workspace_id)

    Ws = Annotated[Workspace, Depends(workspace_of)]

    async def audience_of(ws: Ws, audience_id: Int64) -> Audience:
        found = await asyncio.to_thread(admin.get, ws.id, audience_id)
        if found is None:
            raise ApiError(404, f"No audience {audience_id} in workspace {ws.id}.", "audience_id")
        return found

    Aud = Annotated[Audience, Depends(audience_of)]
    JsonBody = Annotated[dict[str, Any], Body()]

    @router.post("")
    async def create(ws: Ws, body: JsonBody) -> Response:
        try:
            created = await asyncio.to_thread(admin.create, ws.id, ws.account_id, body)
        except InvalidAudience as exc:
            return invalid(exc)
        return json_response(audience_json(created), 201)

    @router.get("")
    async def list_audiences(ws: Ws) -> Response:
        found = await asyncio.to_thread(admin.list_audiences, [ws.id])
        return json_response({"audiences": [audience_json(a) for a in found]})

    @router.get("/{audience_id}")
    async def get(audience: Aud) -> Response:
        return json_response(audience_json(audience))

    @router.put("/{audience_id}")
    async def update(audience: Aud, body: JsonBody) -> Response:
        try:
            updated = await asyncio.to_thread(admin.update, audience, body)
        except InvalidAudience as exc:
            return invalid(exc)
        return json_response(audience_json(updated))

    async def _activate(audience: Audience) -> Response:
        try:
            activated = await asyncio.to_thread(admin.activate, audience)
        except InvalidAudience as exc:
            return invalid(exc)
        except Conflict as exc:
            raise ApiError(409, str(exc), "status") from None
        return json_response(audience_json(activated), 202)

    @router.post("/{audience_id}/activate")
    async def activate(audience: Aud) -> Response:
        return await _activate(audience)

    @router.post("/{audience_id}/deactivate")
    async def deactivate(audience: Aud) -> Response:
        try:
            done = await asyncio.to_thread(admin.deactivate, audience)
        except Conflict as exc:
            raise ApiError(409, str(exc), "status") from None
        return json_response(audience_json(done))

    @router.post("/{audience_id}/calculate")
    async def calculate(audience: Aud) -> Response:
        if audience.kind.value != "standard":
            raise ApiError(
                409, "Only standard audiences are calculated on request; activate real-time ones.", "kind"
            )
        return await _activate(audience)

    @router.post("/{audience_id}/send")
    async def send(audience: Aud) -> Response:
        try:
            sent = await asyncio.to_thread(admin.send, audience)
        except Conflict as exc:
            raise ApiError(409, str(exc), "status") from None
        return json_response({"audience_id": audience.id, "sent": sent})

    @router.delete("/{audience_id}")
    async def delete(audience: Aud) -> Response:
        await asyncio.to_thread(admin.delete, audience)
        return Response(status_code=204)

    @router.get("/{audience_id}/members")
    async def members(
        audience: Aud,
        after: Annotated[str | None, Query(max_length=24)] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    ) -> Response:
        after_mpid = mpid_of(after, "after") if after is not None else None
        standing = standing_json(audience)
        if audience.first_calculation_pending:  # not known yet
            return json_response({"members": [], "next_after": None, **standing})
        page = await asyncio.to_thread(admin.members, audience, after_mpid, limit)
        nxt = str(page[-1].mpid) if len(page) == limit else None
        return json_response({"members": [member_json(m) for m in page], "next_after": nxt, **standing})

    @router.get("/{audience_id}/size")
    async def size(audience: Aud) -> Response:
        found = await asyncio.to_thread(admin.metrics, audience)
        size = None if audience.first_calculation_pending else found.size  # not known yet
        return json_response({"audience_id": audience.id, "estimated_size": size, **standing_json(audience)})

    @router.get("/{audience_id}/metrics")
    async def metrics(audience: Aud) -> Response:
        found = await asyncio.to_thread(admin.metrics, audience)
        return json_response(
            {
                "audience_id": audience.id,
                **standing_json(audience),
                "size": None if audience.first_calculation_pending else found.size,
                "adds_24h": found.adds_24h,
                "drops_24h": found.drops_24h,
                "volatility": round(found.volatility, 4),
            }
        )

    @router.get("/{audience_id}/history")
    async def history(
        audience: Aud,
        mpid: Annotated[str | None, Query(max_length=24)] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> Response:
        who = mpid_of(mpid) if mpid is not None else None
        found = await asyncio.to_thread(admin.history, audience, who, limit)
        return json_response({"history": [history_json(h) for h in found]})

    return router
