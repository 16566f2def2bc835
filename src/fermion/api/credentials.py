"""Credentials by API: OAuth clients (`/api/v1/oauth-clients`) and admin tokens
(`/api/v1/admin-tokens`) of the caller's organization: create (the secret answered once), list, revoke.
Only an admin token may manage them (an OAuth token gets 403). A revoked client's tokens and a deleted
admin token stop working on every API process within config_cache_ttl_s."""

# No `from __future__ import annotations`: FastAPI must see the real types of the dependencies.

import asyncio
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Header, Path
from pydantic import BaseModel, Field
from starlette.responses import Response

from fermion.api.bearer import token_of
from fermion.api.errors import ApiError
from fermion.services.bearer_auth import BearerAuth
from fermion.services.oauth import client_json
from fermion.services.tenancy import InvalidRequest


class NewClientBody(BaseModel, extra="forbid"):
    # None: every workspace of the organization.
    workspace_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] | None = Field(
        default=None, max_length=1000
    )


def _json(value: Any, status: int = 200) -> Response:
    return Response(
        msgspec.json.encode(value),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def credentials_router(auth: BearerAuth) -> APIRouter:
    router = APIRouter(prefix="/api/v1")

    async def admin_org(authorization: Annotated[str | None, Header()] = None) -> int:
        scope = await asyncio.to_thread(auth.scope_of, token_of(authorization))
        if scope is None:
            raise ApiError(401, "The token is not valid or has expired.", "Authorization")
        if scope.client_id != "admin":
            raise ApiError(403, "Only an admin token can manage credentials.", "Authorization")
        return scope.org_id

    Org = Annotated[int, Depends(admin_org)]

    @router.get("/oauth-clients")
    async def list_clients(org: Org) -> Response:
        clients = await asyncio.to_thread(auth.oauth.list_clients, org)
        return _json({"clients": [client_json(c) for c in clients]})

    @router.post("/oauth-clients", status_code=201)
    async def create_client(org: Org, body: NewClientBody) -> Response:
        try:
            created = await asyncio.to_thread(auth.oauth.create_client, org, body.workspace_ids)
        except InvalidRequest as exc:
            raise ApiError(400, exc.message, "workspace_ids") from None
        return _json({**client_json(created.client), "client_secret": created.secret}, 201)

    @router.delete("/oauth-clients/{client_id}", status_code=204)
    async def revoke_client(org: Org, client_id: Annotated[str, Path(max_length=100)]) -> Response:
        if not await asyncio.to_thread(auth.oauth.revoke_client, client_id, org):
            raise ApiError(404, f"No OAuth client {client_id}.", "client_id")
        return Response(status_code=204)

    @router.get("/admin-tokens")
    async def list_tokens(org: Org) -> Response:
        tokens = await asyncio.to_thread(auth.admin.list_tokens, org)
        return _json({"tokens": [{"token_id": t.token_id, "org_id": t.org_id} for t in tokens]})

    @router.post("/admin-tokens", status_code=201)
    async def create_token(org: Org) -> Response:
        token = await asyncio.to_thread(auth.admin.issue_token, org)
        return _json({"token_id": auth.admin.token_id(token), "org_id": org, "token": token}, 201)

    @router.delete("/admin-tokens/{token_id}", status_code=204)
    async def revoke_token(org: Org, token_id: Annotated[str, Path(max_length=100)]) -> Response:
        if not token_id.startswith("tok_") or not await asyncio.to_thread(
            auth.admin.revoke_token, token_id, org
        ):
            raise ApiError(404, f"No admin token {token_id}.", "token_id")
        return Response(status_code=204)

    return router
