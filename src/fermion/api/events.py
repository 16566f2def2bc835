"""Events API endpoints (/v2/events, /v2/bulkevents, /v2/bulkevents/historical): the hot ingest path.

A bare ASGI handler in front of the FastAPI app: it reads the body with a size cap, hands it to the
ingest service and renders the outcome, skipping the framework's per-request machinery.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from fermion.services.ingest import Endpoint, IngestService, Outcome

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PATHS = {f"/v2/{e.value}": e for e in Endpoint}
_JSON = [(b"content-type", b"application/json")]


def collapse_slashes(path: str) -> str:
    """The official SDKs build URLs as host + "/events", so a base URL ending in "/" yields "//events"."""
    while "//" in path:
        path = path.replace("//", "/")
    return path


class EventsApp:
    """Routes the Events API paths to the ingest service and everything else to `fallback`."""

    def __init__(self, ingest: IngestService, max_request_bytes: int, fallback: ASGIApp) -> None:
        self._ingest = ingest
        self._cap = max_request_bytes
        self._fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if "//" in path:
                path = collapse_slashes(path)
                scope = {**scope, "path": path, "raw_path": path.encode()}
            endpoint = PATHS.get(path.rstrip("/") or "/")
            if endpoint is not None:
                await self._handle(endpoint, scope, receive, send)
                return
        await self._fallback(scope, receive, send)

    async def _handle(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            outcome = Outcome.error(405, "METHOD_NOT_ALLOWED", "Only POST is supported.", "method")
            outcome.headers["Allow"] = "POST"
            await _respond(send, outcome)
            return
        headers: dict[bytes, bytes] = dict(scope["headers"])
        try:
            body = await _read_capped(receive, headers.get(b"content-length"), self._cap)
            if body is None:
                outcome = Outcome.error(
                    413, "PAYLOAD_TOO_LARGE", f"The request exceeds {self._cap} bytes.", "body"
                )
            else:
                auth = headers.get(b"authorization")
                encoding = headers.get(b"content-encoding")
                client = scope.get("client")
                outcome = await self._ingest.ingest(
                    endpoint,
                    auth.decode("latin-1") if auth is not None else None,
                    body,
                    encoding.decode("latin-1") if encoding is not None else None,
                    client[0] if client else "",
                )
        except Exception:
            log.exception("ingest failed")
            outcome = Outcome.error(500, "INTERNAL_ERROR", "Internal error; the request was not accepted.")
        await _respond(send, outcome)


async def _read_capped(receive: Receive, declared: bytes | None, cap: int) -> bytes | None:
    """The body, or None when it exceeds cap (stops reading as soon as it does)."""
    if declared is not None and declared.isdigit() and int(declared) > cap:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _respond(send: Send, outcome: Outcome) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in outcome.headers.items()]
    if outcome.status == 202 and not outcome.errors:  # a bulk request's invalid batches get a body
        await send(
            {"type": "http.response.start", "status": 202, "headers": [(b"content-length", b"0"), *headers]}
        )
        await send({"type": "http.response.body", "body": b""})
        return
    body = orjson.dumps({"errors": outcome.errors})
    headers += [*_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": outcome.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
