"""Operations endpoints: Prometheus /metrics, and the small ops app that workers and senders serve."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from fermion.api.health import health_routes


def metrics_route(render: Callable[[], tuple[bytes, str]]) -> Route:
    """GET /metrics in the Prometheus text format; `render` returns (body, content type)."""

    async def metrics(_: Request) -> Response:
        body, content_type = render()
        return Response(body, media_type=content_type)

    return Route("/metrics", metrics)


def ops_app(readiness: Callable[[], dict[str, object]], render: Callable[[], tuple[bytes, str]]) -> Starlette:
    """/healthz, /readyz and /metrics, for roles that serve no API."""
    return Starlette(routes=[*health_routes(readiness), metrics_route(render)])


@contextlib.asynccontextmanager
async def serving(app: ASGIApp, host: str, port: int | None) -> AsyncIterator[None]:
    """Serve `app` on host:port in the running event loop for the duration (nothing when port is None)."""
    if port is None:
        yield
        return
    import uvicorn  # only when serving: a worker under `serve` has no ops port (and skips the import)

    class QuietServer(uvicorn.Server):
        """uvicorn without its own signal handlers: the role's stop event decides when the process exits."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    server = QuietServer(
        uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    try:
        yield
    finally:
        server.should_exit = True
        await task
