"""CA Seeding API on the Events host: `POST /v2/calculatedattributes` (one user) and
`/v2/bulkcalculatedattributes` (many), Basic auth with an input's key and secret."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from fermion.services.calculated_seeding import SeedingService
from fermion.services.ingest import Outcome

MAX_BODY = 1024 * 1024


def _render(outcome: Outcome) -> Response:
    if outcome.status == 202:
        return Response(status_code=202, headers=outcome.headers)
    return Response(
        orjson.dumps({"errors": outcome.errors}),
        status_code=outcome.status,
        media_type="application/json",
        headers=outcome.headers,
    )


def seeding_router(seeding: SeedingService) -> APIRouter:
    router = APIRouter(prefix="/v2")

    async def handle(request: Request, bulk: bool) -> Response:
        found = await seeding.authorize(request.headers.get("authorization"))
        if isinstance(found, Outcome):
            return _render(found)
        body = await request.body()
        if len(body) > MAX_BODY:
            return _render(Outcome.error(413, "PAYLOAD_TOO_LARGE", f"The request exceeds {MAX_BODY} bytes."))
        client = request.client.host if request.client else ""
        return _render(await seeding.seed(*found, body, bulk, client))

    @router.post("/calculatedattributes")
    async def seed_one(request: Request) -> Response:
        return await handle(request, bulk=False)

    @router.post("/bulkcalculatedattributes")
    async def seed_bulk(request: Request) -> Response:
        return await handle(request, bulk=True)

    return router
