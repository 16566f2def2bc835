"""Admin API for IDSync (bearer tokens): identity settings per workspace, explanations of how a
request would resolve, identity lookups, and server-to-server alias requests."""

# No `from __future__ import annotations`: FastAPI must see the real types of dependencies declared
# inside identity_admin_router.

import asyncio
import secrets
from collections.abc import Callable
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import Response

from fermion.api.bearer import WorkspaceAuth, reachable_workspace
from fermion.api.errors import ApiError, errors_response
from fermion.api.identity_wire import (
    AliasBody,
    IdentityBody,
    WireError,
    alias_of,
    decode,
    identities_of,
    json_response,
    mpid_of,
)
from fermion.api.params import Int64
from fermion.identity.alias import AliasRefused
from fermion.identity.resolve import RequestKind
from fermion.identity.settings import IdentitySettings, SettingsError
from fermion.model.limits import json_problem
from fermion.model.tenancy import Workspace
from fermion.services.identity import IdentityBusy, IdentityService


class ExplainBody(IdentityBody):
    request_type: str = "identify"


def settings_json(workspace_id: int, settings: IdentitySettings) -> dict[str, Any]:
    return {"workspace_id": workspace_id, **msgspec.to_builtins(settings)}


def _wire(err: WireError) -> Response:
    return errors_response(
        err.status, [{"code": err.code, "message": m, **({"field": f} if f else {})} for f, m in err.errors]
    )


def identity_admin_router(
    auth: WorkspaceAuth, service: IdentityService, in_workspace: Callable[[Workspace, int], bool]
) -> APIRouter:
    """`in_workspace(ws, mpid)`: whether the user is the workspace's (ProfileQueries.in_workspace);
    the identity reads answer only about those, though identities belong to the organization."""
    router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}")

    async def workspace_of(
        workspace_id: Int64, authorization: Annotated[str | None, Header()] = None
    ) -> Workspace:
        return await reachable_workspace(auth, authorization, workspace_id)

    Ws = Annotated[Workspace, Depends(workspace_of)]

    async def json_object(request: Request) -> dict[str, Any]:
        try:
            value = msgspec.json.decode(await request.body())
        except msgspec.DecodeError as exc:
            raise ApiError(400, f"The body is not valid JSON: {exc}", "body") from None
        except (UnicodeDecodeError, RecursionError) as exc:
            raise ApiError(400, json_problem(exc), "body") from None
        if not isinstance(value, dict):
            raise ApiError(400, "The body must be a JSON object.", "body")
        return value

    async def change_settings(ws: Workspace, request: Request, replace: bool) -> Response:
        changes = await json_object(request)
        try:
            settings = await asyncio.to_thread(service.update_settings, ws.id, changes, replace)
        except SettingsError as exc:
            return errors_response(
                400, [{"code": "BAD_REQUEST", "message": m, "field": f} for f, m in exc.errors]
            )
        return json_response(settings_json(ws.id, settings))

    @router.get("/identity-settings")
    async def get_settings(ws: Ws) -> Response:
        return json_response(settings_json(ws.id, await asyncio.to_thread(service.get_settings, ws.id)))

    @router.put("/identity-settings")
    async def put_settings(ws: Ws, request: Request) -> Response:
        """Replace: fields left out take the (given or current) strategy's defaults."""
        return await change_settings(ws, request, replace=True)

    @router.patch("/identity-settings")
    async def patch_settings(ws: Ws, request: Request) -> Response:
        """Merge: fields left out keep their values (a new strategy resets unique/login/immutable)."""
        return await change_settings(ws, request, replace=False)

    @router.post("/identity/explain")
    async def explain(ws: Ws, request: Request) -> Response:
        """How an IDSync request would resolve now, without writing anything."""
        try:
            body: ExplainBody = decode(await request.body(), ExplainBody)
            try:
                kind = RequestKind(body.request_type)
            except ValueError:
                names = [k.value for k in RequestKind]
                raise WireError(400, [("request_type", f"must be one of {names}")]) from None
            previous = mpid_of(body.previous_mpid, "previous_mpid")
            identities = identities_of(body, required=kind is not RequestKind.LOGOUT)
        except WireError as err:
            return _wire(err)
        try:
            decision = await asyncio.to_thread(service.resolve, ws.id, kind, identities, previous, True)
        except IdentityBusy:
            raise ApiError(503, "Identity writes are contended; retry shortly.") from None
        assert decision.explanation is not None
        return json_response(
            {
                "mpid": None if decision.mpid is None else str(decision.mpid),
                "would_create": decision.created,
                "is_logged_in": decision.is_logged_in,
                "matched_identities": dict(decision.matched),
                "explanation": decision.explanation.to_json(),
            }
        )

    @router.get("/identity/profiles/{mpid}")
    async def profile_identities(ws: Ws, mpid: str) -> Response:
        try:
            number = mpid_of(mpid, "mpid")
        except WireError as err:
            return _wire(err)
        mine = await asyncio.to_thread(in_workspace, ws, number or 0)
        pairs = await asyncio.to_thread(service.identities, ws.id, number or 0) if mine else []
        if not pairs:
            raise ApiError(404, f"No identities for MPID {mpid}.", "mpid")
        return json_response(
            {"mpid": str(number), "identities": [{"identity_type": t, "value": v} for t, v in pairs]}
        )

    @router.get("/identity/lookup")
    async def lookup(
        ws: Ws,
        identity_type: Annotated[str, Query(min_length=1, max_length=64)],
        value: Annotated[str, Query(min_length=1, max_length=512)],
    ) -> Response:
        mpid = await asyncio.to_thread(service.find_mpid, ws.id, identity_type, value)
        if mpid is not None and not await asyncio.to_thread(in_workspace, ws, mpid):
            mpid = None  # another workspace's user: as unknown here
        if mpid is None:
            raise ApiError(404, "No profile holds this identity.", "value")
        return json_response({"mpid": str(mpid)})

    @router.post("/identity/alias", status_code=202)
    async def alias(ws: Ws, request: Request) -> Response:
        """A server-to-server alias request (the SDK body; needs no input key)."""
        try:
            req = alias_of(decode(await request.body(), AliasBody), "s2s-" + secrets.token_hex(12))
            outcome = await asyncio.to_thread(service.alias, ws.id, req)
        except WireError as err:
            return _wire(err)
        except AliasRefused as exc:
            return errors_response(
                exc.status,
                [
                    {"code": "BAD_REQUEST" if exc.status == 400 else "FORBIDDEN", "message": exc.message}
                    | ({"field": exc.field} if exc.field else {})
                ],
            )
        return json_response(
            {
                "request_id": req.request_id,
                "status": outcome.status,
                "reason": outcome.reason,
                "moved_events": outcome.moved_events,
            },
            status=202,
        )

    return router
