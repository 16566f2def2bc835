"""Bearer-token checks shared by the Profile API and the User Activity API (401 vs 404)."""

from __future__ import annotations

import asyncio
from typing import Protocol

from fermion.api.errors import ApiError
from fermion.model.tenancy import Workspace
from fermion.services.profile_queries import parse_mpid


class WorkspaceAuth(Protocol):
    """AdminAuth or BearerAuth: who a bearer token is, and whether it reaches a workspace."""

    def org_of(self, token: str) -> int | None: ...
    def workspace_for(self, token: str, workspace_id: int) -> Workspace | None: ...


def token_of(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "A bearer token is required.", "Authorization")
    return token.strip()


async def reachable_workspace(auth: WorkspaceAuth, authorization: str | None, workspace_id: int) -> Workspace:
    """The workspace, if the token is valid (else 401) and may reach it (else 404)."""
    token = token_of(authorization)
    if await asyncio.to_thread(auth.org_of, token) is None:
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
