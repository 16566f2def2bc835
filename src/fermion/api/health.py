"""Health and readiness endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def health_routes(readiness: Callable[[], dict[str, object]]) -> list[Route]:
    """`readiness` raises when a dependency is unreachable, else returns details to show."""

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        try:
            details = await asyncio.to_thread(readiness)
        except Exception as exc:  # readiness reports any failure rather than raising
            return JSONResponse({"status": "unavailable", "reason": str(exc)}, status_code=503)
        return JSONResponse({"status": "ready", **details})

    return [Route("/healthz", healthz), Route("/readyz", readyz)]
