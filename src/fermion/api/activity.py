"""User Activity API: find a user, read their profile sections and event timeline, and edit attributes,
consent and identities through a chosen input (bearer auth: admin or OAuth tokens)."""

# No `from __future__ import annotations`: FastAPI must see the real types of dependencies declared
# inside activity_router.

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from fermion.api.admin import json_response
from fermion.api.bearer import mpid_of, reachable_workspace
from fermion.api.errors import ApiError, errors_response
from fermion.api.params import Int64, NonNegative64
from fermion.model.tenancy import Workspace
from fermion.ports import TimelineQuery
from fermion.profiles.identity_types import lookup_type
from fermion.services.bearer_auth import BearerAuth
from fermion.services.ingest import Outcome
from fermion.services.profile_edits import ProfileEditor
from fermion.services.profile_queries import DEVICE_ID, MPID, ProfileQueries
from fermion.services.tenancy import InvalidRequest

Name = Annotated[str, Field(min_length=1, max_length=256)]
AttributeValue = str | int | float | bool | None | list[str]


class EditBody(BaseModel):
    input_id: int = Field(ge=1, le=2**63 - 1)
    environment: Literal["development", "production"] = "production"


class AttributesEdit(EditBody):
    user_attributes: dict[Name, AttributeValue] = Field(default_factory=dict, max_length=1000)
    deleted_user_attributes: list[Name] = Field(default_factory=list, max_length=1000)


class ConsentEdit(EditBody):
    gdpr: dict[Name, bool] = Field(default_factory=dict, max_length=100)
    ccpa: dict[Literal["data_sale_opt_out"], bool] = Field(default_factory=dict)


class IdentitiesEdit(EditBody):
    identities: dict[Annotated[str, Field(min_length=1, max_length=64)], str | None] = Field(max_length=50)


def activity_router(auth: BearerAuth, queries: ProfileQueries, editor: ProfileEditor) -> APIRouter:
    router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/activity")

    async def workspace_of(
        workspace_id: Int64, authorization: Annotated[str | None, Header()] = None
    ) -> Workspace:
        return await reachable_workspace(auth, authorization, workspace_id)

    Ws = Annotated[Workspace, Depends(workspace_of)]

    @router.get("/search")
    async def search(
        ws: Ws,
        q: Annotated[str, Query(min_length=1, max_length=1024)],
        type: Annotated[str, Query(max_length=64)] = "any",
    ) -> Response:
        search_type = None if type == "any" else type
        if search_type not in (None, MPID, DEVICE_ID) and lookup_type(type) is None:
            raise ApiError(400, "type must be any, mpid, device_id or an identity type.", "type")
        results = await asyncio.to_thread(queries.search, ws, q, search_type)
        return json_response({"profiles": results})

    @router.get("/users/{mpid}")
    async def profile(ws: Ws, mpid: str) -> Response:
        found = await asyncio.to_thread(queries.activity_profile, ws, mpid_of(mpid))
        if found is None:
            raise ApiError(404, "No such profile in this workspace.", "mpid")
        return json_response(found)

    @router.get("/users/{mpid}/events")
    async def events(
        ws: Ws,
        mpid: str,
        since_ms: Annotated[NonNegative64 | None, Query()] = None,
        until_ms: Annotated[NonNegative64 | None, Query()] = None,
        input_id: Annotated[Int64 | None, Query(ge=1)] = None,
        event_type: Annotated[str | None, Query(max_length=64)] = None,
        device_id: Annotated[str | None, Query(max_length=256)] = None,
        limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    ) -> Response:
        query = TimelineQuery(
            workspace_id=ws.id,
            mpid=mpid_of(mpid),
            since_ms=since_ms,
            until_ms=until_ms,
            input_id=input_id,
            event_type=event_type,
            device_id=device_id,
            limit=limit,
        )
        return json_response({"batches": await asyncio.to_thread(queries.timeline, query)})

    async def send(
        ws: Workspace, mpid: str, body: EditBody, build: Callable[[int], dict[str, Any]]
    ) -> Response:
        value = mpid_of(mpid)
        # Edits go to the workspace's own users only (an edit would create a profile here otherwise).
        if not await asyncio.to_thread(queries.in_workspace, ws, value):
            raise ApiError(404, "No such profile in this workspace.", "mpid")
        try:
            inp = await asyncio.to_thread(editor.input_for, ws, body.input_id)
            batch = await asyncio.to_thread(build, value)
        except InvalidRequest as exc:
            raise ApiError(400, exc.message, exc.field) from None
        outcome: Outcome = await editor.submit(inp, batch)
        if outcome.status != 202:
            return errors_response(outcome.status, outcome.errors, outcome.headers)
        accepted = {"mpid": str(value), "input_id": inp.id, "request_id": outcome.headers.get("X-Request-Id")}
        return json_response(accepted, 202)

    @router.post("/users/{mpid}/attributes", status_code=202)
    async def edit_attributes(ws: Ws, mpid: str, body: AttributesEdit) -> Response:
        if not body.user_attributes and not body.deleted_user_attributes:
            raise ApiError(400, "Set or delete at least one attribute.", "user_attributes")
        return await send(
            ws,
            mpid,
            body,
            lambda m: editor.attributes_batch(
                ws, m, body.environment, body.user_attributes, body.deleted_user_attributes
            ),
        )

    @router.post("/users/{mpid}/consent", status_code=202)
    async def edit_consent(ws: Ws, mpid: str, body: ConsentEdit) -> Response:
        if not body.gdpr and not body.ccpa:
            raise ApiError(400, "Give at least one gdpr or ccpa consent value.", "gdpr")
        ccpa = {str(k): v for k, v in body.ccpa.items()}
        return await send(
            ws, mpid, body, lambda m: editor.consent_batch(ws, m, body.environment, body.gdpr, ccpa)
        )

    @router.post("/users/{mpid}/identities", status_code=202)
    async def edit_identities(ws: Ws, mpid: str, body: IdentitiesEdit) -> Response:
        if not body.identities:
            raise ApiError(400, "Give at least one identity.", "identities")
        return await send(
            ws, mpid, body, lambda m: editor.identities_batch(ws, m, body.environment, body.identities)
        )

    return router
