"""Platform API v2 calculated attributes (`/platform/v2/workspaces/{id}/calculatedattributes`), with
bearer tokens (admin or OAuth) and the workspace check."""

# No `from __future__ import annotations`: FastAPI must see the real types of the dependencies.

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from starlette.responses import Response

from fermion.api.admin import json_response
from fermion.api.bearer import reachable_workspace, token_of
from fermion.api.errors import errors_response
from fermion.api.params import Int64
from fermion.model.tenancy import Workspace
from fermion.services.bearer_auth import BearerAuth
from fermion.services.calculated_admin import CalculatedAdmin, CaProblem, activation_json, ca_json

T = TypeVar("T")


def problem_response(problem: CaProblem) -> Response:
    return errors_response(
        problem.status,
        [
            {"code": "BAD_REQUEST" if problem.status == 400 else "NOT_FOUND", "message": m, "field": f}
            for f, m in problem.errors
        ],
    )


async def _call(fn: Callable[..., T], *args: Any) -> T | Response:
    try:
        return await asyncio.to_thread(fn, *args)
    except CaProblem as problem:
        return problem_response(problem)


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CaProblem(400, [("body", f"Invalid JSON: {exc}")]) from None


def calculated_router(auth: BearerAuth, admin: CalculatedAdmin) -> APIRouter:
    router = APIRouter(prefix="/platform/v2/workspaces/{workspace_id}/calculatedattributes")

    async def workspace_of(
        workspace_id: Int64, authorization: Annotated[str | None, Header()] = None
    ) -> Workspace:
        return await reachable_workspace(auth, authorization, workspace_id)

    Ws = Annotated[Workspace, Depends(workspace_of)]
    Name = Annotated[str | None, Query(max_length=255)]
    CaId = Annotated[int, Path(ge=1, le=2**63 - 1)]

    def full(ws_id: int, ca_id: int) -> dict[str, Any]:
        record = admin.get(ws_id, ca_id)
        return ca_json(record, admin.calculation(record))

    def listed(ws_id: int, name: str | None) -> list[dict[str, Any]]:
        return [ca_json(r, admin.calculation(r)) for r in admin.list(ws_id, name)]

    @router.get("")
    async def list_cas(ws: Ws, name: Name = None) -> Response:
        found = await _call(listed, ws.id, name)
        return found if isinstance(found, Response) else json_response(found)

    @router.head("")
    async def exists(ws: Ws, name: Name = None) -> Response:
        found = await asyncio.to_thread(admin.list, ws.id, name)
        return Response(status_code=204 if found else 404)

    @router.post("")
    async def create(ws: Ws, request: Request) -> Response:
        try:
            body = await _body(request)
        except CaProblem as problem:
            return problem_response(problem)
        created = await _call(admin.create, ws.id, body)
        return created if isinstance(created, Response) else json_response(created.id)

    @router.get("/{ca_id}")
    async def get_one(ws: Ws, ca_id: CaId) -> Response:
        found = await _call(full, ws.id, ca_id)
        return found if isinstance(found, Response) else json_response(found)

    @router.put("/{ca_id}")
    async def update(ws: Ws, ca_id: CaId, request: Request) -> Response:
        try:
            body = await _body(request)
        except CaProblem as problem:
            return problem_response(problem)
        done = await _call(admin.update, ws.id, ca_id, body)
        return done if isinstance(done, Response) else Response(status_code=204)

    @router.delete("/{ca_id}")
    async def delete(ws: Ws, ca_id: CaId) -> Response:
        done = await _call(admin.delete, ws.id, ca_id)
        return done if isinstance(done, Response) else Response(status_code=204)

    @router.post("/{ca_id}/activation")
    async def activate(
        ws: Ws, ca_id: CaId, authorization: Annotated[str | None, Header()] = None
    ) -> Response:
        org = await asyncio.to_thread(auth.org_of, token_of(authorization))
        done = await _call(admin.activate, ws.id, ca_id, f"organization {org} token")
        return done if isinstance(done, Response) else Response(status_code=204)

    @router.get("/{ca_id}/activation")
    async def activation(ws: Ws, ca_id: CaId) -> Response:
        found = await _call(admin.get, ws.id, ca_id)
        return found if isinstance(found, Response) else json_response(activation_json(found))

    @router.delete("/{ca_id}/draft")
    async def delete_draft(ws: Ws, ca_id: CaId) -> Response:
        done = await _call(admin.delete_draft, ws.id, ca_id)
        return done if isinstance(done, Response) else Response(status_code=204)

    @router.get("/{ca_id}/calculation")
    async def calculation(ws: Ws, ca_id: CaId) -> Response:
        found = await _call(admin.get, ws.id, ca_id)
        if isinstance(found, Response):
            return found
        return json_response({"id": found.id, "name": found.name, **admin.calculation(found)})

    return router
