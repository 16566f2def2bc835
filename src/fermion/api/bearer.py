"""Bearer-token checks shared by the Profile API and the User Activity API (401 vs 404)."""

from __future__ import annotations

import asyncio

from fermion.api.errors import ApiError
from fermion.model.tenancy import Workspace
from fermion.services.bearer_auth import BearerAuth
from fermion.services.profile_queries import parse_mpid


def token_of(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "A bearer token is required.", "Authorization")
    return token.strip()


async def reachable_workspace(auth: BearerAuth, authorization: str | None, workspace_id: int) -> Workspace:
    """The workspace, if the token is valid (else 401) and may reach it (else 404)."""
    token = token_of(authorization)
    if await asyncio.to_thread(auth.scope_of, token) is None:
        raise ApiError(401, "The token is not valid or has expired.", "Authorization")
    ws = await asyncio.to_thread(auth.workspace_for, token, workspace_id)
    if ws is None:
        raise ApiError(404, f"No workspace {workspace_id}.", "workspace_id")
    return ws


def mpid_of(text: str, field: str = "mpid") -> int:
    mpid = parse_mpid(text)
    if mpid is None:
        raise ApiError(400, "An MPID is a 64-bit integer.", field)
    return mpid
