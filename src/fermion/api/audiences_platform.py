"""The Platform API's audience routes (docs developers/apis/platform/audiences): list an account's
audiences, list a workspace's, delete one. Bearer tokens; a token reaches only its workspaces."""

# No `from __future__ import annotations`: FastAPI must see the real types of route parameters.

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from starlette.responses import Response

from fermion.api.admin import json_response
from fermion.api.audiences import ConnectedOutputs
from fermion.api.bearer import token_of
from fermion.api.errors import ApiError
from fermion.api.params import Int64
from fermion.audiences.records import Audience
from fermion.model.tenancy import Workspace
from fermion.services.audience_admin import AudienceAdmin
from fermion.services.bearer_auth import BearerAuth

_COMBINATORS = frozenset({"and", "or", "not", "exclude"})


def platform_json(a: Audience, ws: Workspace, outputs: list[str]) -> dict[str, Any]:
    root = a.criteria if a.criteria is not None else a.draft_criteria
    return {
        "id": a.id,
        "name": a.name,
        "external_name": a.external_name or a.name,
        # True when boolean logic combines criteria (the docs' definition).
        "is_calculated": isinstance(root, dict) and bool(_COMBINATORS & set(root)),
        "connected_outputs": outputs,
        "workspaces": [{"workspace_id": ws.id, "name": ws.name}],
        "status": a.status.value,
        "kind": a.kind.value,
    }


def audiences_platform_router(
    auth: BearerAuth, admin: AudienceAdmin, connected_outputs: ConnectedOutputs
) -> APIRouter:
    router = APIRouter(prefix="/v1")
    AccountId = Annotated[Int64 | None, Query(alias="accountId", ge=1)]

    def reachable(token: str, account_id: int | None) -> dict[int, Workspace]:
        if account_id is None:
            raise ApiError(400, "accountId is required.", "accountId")
        if auth.org_of(token) is None:
            raise ApiError(401, "The token is not valid or has expired.", "Authorization")
        found = {
            ws.id: ws
            for ws in auth.config.list_workspaces()
            if ws.account_id == account_id and auth.workspace_for(token, ws.id) is not None
        }
        if not found:
            raise ApiError(404, f"No account {account_id}.", "accountId")
        return found

    def listing(token: str, account_id: int | None, workspace_id: int | None) -> list[dict[str, Any]]:
        spaces = reachable(token, account_id)
        if workspace_id is not None:
            if workspace_id not in spaces:
                raise ApiError(404, f"No workspace {workspace_id} in account {account_id}.", "workspace_id")
            spaces = {workspace_id: spaces[workspace_id]}
        found = admin.list_audiences(sorted(spaces))
        return [platform_json(a, spaces[a.workspace_id], connected_outputs(a.id)) for a in found]

    @router.get("/audiences")
    async def list_all(
        account_id: AccountId = None, authorization: Annotated[str | None, Header()] = None
    ) -> Response:
        return json_response(await asyncio.to_thread(listing, token_of(authorization), account_id, None))

    @router.get("/workspace/{workspace_id}/audiences")
    async def list_workspace(
        workspace_id: Int64,
        account_id: AccountId = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Response:
        return json_response(
            await asyncio.to_thread(listing, token_of(authorization), account_id, workspace_id)
        )

    @router.delete("/audiences/{audience_id}")
    async def delete(
        audience_id: Int64,
        account_id: AccountId = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Response:
        token = token_of(authorization)

        def run() -> None:
            spaces = reachable(token, account_id)
            found = admin.find(audience_id)
            if found is None or found.workspace_id not in spaces:
                raise ApiError(404, f"No audience {audience_id} in account {account_id}.", "audience_id")
            admin.delete(found)

        await asyncio.to_thread(run)
        return Response(status_code=204)

    return router
