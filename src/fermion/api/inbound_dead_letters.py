"""Inbound dead letters of a workspace: batches accepted (202) whose processing failed too often, listed
and replayed into the inbound log (bearer-token auth, as the admin API)."""

# No `from __future__ import annotations`: FastAPI must see the real types of the dependencies.

from typing import Annotated

import msgspec
from fastapi import APIRouter, Body, Depends, Header, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from fermion.api.bearer import reachable_workspace
from fermion.model.tenancy import Workspace
from fermion.ports import InboundDeadLetters
from fermion.services.bearer_auth import BearerAuth
from fermion.services.inbound_dead_letters import MAX_LIST, MAX_REPLAY_IDS, dead_letter_json

_MAX_ID = 2**63 - 1


class ReplayBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # None or absent: every dead letter of the workspace.
    ids: list[Annotated[int, Field(ge=1, le=_MAX_ID)]] | None = Field(default=None, max_length=MAX_REPLAY_IDS)


def _json(value: object) -> Response:
    return Response(msgspec.json.encode(value), media_type="application/json")


def inbound_dead_letters_router(auth: BearerAuth, dead: InboundDeadLetters) -> APIRouter:
    router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/inbound/dead-letters")

    async def workspace_of(
        workspace_id: Annotated[int, Path(ge=1, le=_MAX_ID)],
        authorization: Annotated[str | None, Header()] = None,
    ) -> Workspace:
        return await reachable_workspace(auth, authorization, workspace_id)

    Ws = Annotated[Workspace, Depends(workspace_of)]

    @router.get("")
    async def list_dead_letters(ws: Ws, limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 100) -> Response:
        letters = await dead.dead_letters(ws.id, limit)
        summary = await dead.dead_letter_summary(ws.id)
        return _json({"count": summary.count, "dead_letters": [dead_letter_json(d) for d in letters]})

    @router.post("/replay")
    async def replay_dead_letters(ws: Ws, body: Annotated[ReplayBody | None, Body()] = None) -> Response:
        ids = None if body is None else body.ids
        replayed = await dead.replay_dead_letters(ws.id, ids)
        return _json({"replayed": replayed})

    return router
