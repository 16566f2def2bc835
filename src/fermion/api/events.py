"""Events API routes (/v2/events, /v2/bulkevents, /v2/bulkevents/historical): the hot ingest path.

Plain Starlette routes: read the body with a size cap, hand it to the ingest service, render.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fermion.api.errors import error_response, errors_response
from fermion.services.ingest import Endpoint, IngestService


async def _read_capped(request: Request, cap: int) -> bytes | None:
    """The body, or None when it exceeds cap (stops reading as soon as it does)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def events_routes(ingest: IngestService, max_request_bytes: int) -> list[Route]:
    def handler(endpoint: Endpoint) -> Route:
        async def receive(request: Request) -> Response:
            body = await _read_capped(request, max_request_bytes)
            if body is None:
                return error_response(413, f"The request exceeds {max_request_bytes} bytes.", "body")
            client = request.client
            outcome = await ingest.ingest(
                endpoint,
                request.headers.get("authorization"),
                body,
                request.headers.get("content-encoding"),
                client.host if client else "",
            )
            if outcome.status == 202:
                return Response(status_code=202, headers=outcome.headers)
            return errors_response(outcome.status, outcome.errors, outcome.headers)

        return Route(f"/v2/{endpoint.value}", receive, methods=["POST"], name=f"events:{endpoint.value}")

    return [handler(e) for e in Endpoint]


class CollapseSlashes:
    """ASGI middleware: the official SDKs build URLs as host + "/events", so a base URL that ends in
    a slash yields `//events`; treat repeated slashes as one."""

    def __init__(self, app: object) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, object], receive: object, send: object) -> None:
        path = scope.get("path")
        if scope.get("type") == "http" and isinstance(path, str) and "//" in path:
            scope = dict(scope)
            while "//" in path:
                path = path.replace("//", "/")
            scope["path"] = path
            scope["raw_path"] = path.encode()
        await self.app(scope, receive, send)  # type: ignore[operator]
