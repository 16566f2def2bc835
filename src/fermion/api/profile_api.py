"""Profile API (spec 3): a user's profile by MPID or by identity, behind OAuth bearer tokens."""

# No `from __future__ import annotations`: FastAPI must see the real types of dependencies declared
# inside profile_router.

import asyncio
import math
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from fermion.api.admin import json_response
from fermion.api.bearer import mpid_of, reachable_workspace
from fermion.api.errors import ApiError
from fermion.api.params import Int64
from fermion.model.tenancy import Workspace
from fermion.profiles.identity_types import user_identity_name
from fermion.profiles.views import PROFILE_FIELDS
from fermion.services.bearer_auth import BearerAuth
from fermion.services.profile_queries import ProfileQueries
from fermion.services.rate_limit import RateLimiter

# Spec 3: "Rate limit: 15 RPS by default" (per workspace here).
DEFAULT_REQUESTS_PER_S = 15


class IdentityBody(BaseModel):
    type: str = Field(min_length=1, max_length=64)
    value: str = Field(min_length=1, max_length=1024)


class ResolveBody(BaseModel):
    environment_type: Literal["development", "production"] = "production"
    identity: IdentityBody


def parse_fields(fields: str | None) -> frozenset[str]:
    if fields is None or not fields.strip():
        raise ApiError(
            400, f"fields is required: a comma-separated list of {sorted(PROFILE_FIELDS)}.", "fields"
        )
    wanted = frozenset(f.strip() for f in fields.split(",") if f.strip())
    unknown = sorted(wanted - PROFILE_FIELDS)
    if unknown:
        raise ApiError(400, f"Unknown fields {unknown}; allowed: {sorted(PROFILE_FIELDS)}.", "fields")
    return wanted


def profile_router(
    auth: BearerAuth, queries: ProfileQueries, requests_per_s: int = DEFAULT_REQUESTS_PER_S
) -> APIRouter:
    """`requests_per_s` per workspace (0: no limit); above it, 429 with Retry-After."""
    router = APIRouter(prefix="/userprofile/v1")
    limiter = RateLimiter()

    async def workspace_of(
        org_id: Int64,
        account_id: Int64,
        workspace_id: Int64,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Workspace:
        ws = await reachable_workspace(auth, authorization, workspace_id)
        # A workspace named under another organization or account is not there for this caller.
        if ws.org_id != org_id:
            raise ApiError(404, f"No organization {org_id} with workspace {workspace_id}.", "org_id")
        if ws.account_id != account_id:
            raise ApiError(404, f"No account {account_id} with workspace {workspace_id}.", "account_id")
        if requests_per_s > 0:
            wait_s, _ = limiter.take(ws.id, requests_per_s, 1, time.monotonic())
            if wait_s > 0:
                raise ApiError(
                    429,
                    f"More than {requests_per_s} Profile API requests a second for this workspace.",
                    "workspace_id",
                    {"Retry-After": str(max(1, math.ceil(wait_s)))},
                )
        return ws

    Ws = Annotated[Workspace, Depends(workspace_of)]
    Fields = Annotated[str | None, Query(max_length=500)]

    def render(profile: dict[str, Any] | None, field: str) -> Response:
        if profile is None:
            raise ApiError(404, "No such profile in this workspace.", field)
        return json_response(profile)

    # Registered first: a POST to /resolve/... would otherwise match the by-MPID route.
    @router.post("/resolve/{org_id}/{account_id}/{workspace_id}")
    async def resolve(ws: Ws, body: ResolveBody, fields: Fields = None) -> Response:
        wanted = parse_fields(fields)
        if user_identity_name(body.identity.type) is None:
            raise ApiError(400, "Resolve by a user identity type such as customer_id.", "identity.type")
        found = await asyncio.to_thread(queries.resolve, ws, body.identity.type, body.identity.value)
        if found is None:
            raise ApiError(404, "No profile has this identity.", "identity")
        return render(await asyncio.to_thread(queries.profile_api, ws, found, wanted), "identity")

    # The docs name POST for this route but their example uses GET: both work.
    # Two routes, not one with two methods, so each has its own OpenAPI operation id.
    @router.get("/{org_id}/{account_id}/{workspace_id}/{mpid}")
    @router.post("/{org_id}/{account_id}/{workspace_id}/{mpid}")
    async def by_mpid(ws: Ws, mpid: str, fields: Fields = None) -> Response:
        wanted = parse_fields(fields)
        value = mpid_of(mpid)
        return render(await asyncio.to_thread(queries.profile_api, ws, value, wanted), "mpid")

    return router
