"""The ingest ceiling: a bare ASGI endpoint that parses a batch like Fermion does and answers 202."""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fermion.model.codec import decode_batch


async def events(request: Request) -> Response:
    decode_batch(await request.body())
    return Response(status_code=202)


app = Starlette(routes=[Route("/v2/events", events, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
