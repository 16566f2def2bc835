"""Web SDK transport endpoints (spec 2.2): event batches, forwarding statistics and the SDK config,
under mParticle's default paths and the CNAME (`domain`) paths, with CORS on every answer.

A bare ASGI handler like the Events API one, since the event upload is a hot path.
"""

from __future__ import annotations

import logging
from enum import Enum
from urllib.parse import parse_qsl

import orjson

from fermion.api.cors import RESPONSE_HEADERS, preflight_headers
from fermion.api.events import ASGIApp, Receive, Scope, Send, _read_capped
from fermion.services.ingest import Outcome
from fermion.services.websdk import WebSdkService

log = logging.getLogger(__name__)

_JSON = (b"content-type", b"application/json")


class Route(Enum):
    EVENTS = "events"
    FORWARDING = "forwarding"
    CONFIG = "config"


_METHOD = {Route.EVENTS: "POST", Route.FORWARDING: "POST", Route.CONFIG: "GET"}


def match(path: str) -> tuple[Route, str] | None:
    """(route, api key) for a Web SDK path, else None. Paths (no CNAME prefix / CNAME prefix):
    `/v3/JS/{key}/events` or `/webevents/v3/...`; `/v1|v2/JS/{key}/Forwarding` or `/webevents/v1|v2/...`;
    `/JS/v2/{key}/config` or `/tags/JS/v2/...`."""
    parts = path.strip("/").split("/")
    if len(parts) == 5 and parts[0] in ("webevents", "tags"):
        prefix, parts = parts[0], parts[1:]
    elif len(parts) == 4:
        prefix = ""
    else:
        return None
    first, second, key, last = parts
    last = last.lower()
    if prefix != "tags" and second == "JS":
        if first == "v3" and last == "events":
            return Route.EVENTS, key
        if first in ("v1", "v2") and last == "forwarding":
            return Route.FORWARDING, key
    elif prefix != "webevents" and first == "JS" and second == "v2" and last == "config":
        return Route.CONFIG, key
    return None


class WebSdkApp:
    """Routes Web SDK paths to the service and everything else to `fallback`."""

    def __init__(self, web: WebSdkService, max_request_bytes: int, fallback: ASGIApp) -> None:
        self._web = web
        self._cap = max_request_bytes
        self._fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found = match(scope["path"])
            if found is not None:
                try:
                    await self._handle(found[0], found[1], scope, receive, send)
                except Exception:
                    log.exception("web sdk request failed")
                    await _respond(send, Outcome.error(500, "INTERNAL_ERROR", "Internal error."))
                return
        await self._fallback(scope, receive, send)

    async def _handle(self, route: Route, key: str, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        headers: dict[bytes, bytes] = dict(scope["headers"])
        if method == "OPTIONS":
            await _send(send, 204, b"", preflight_headers(headers))
            return
        allowed = _METHOD[route]
        if method != allowed and not (method == "HEAD" and allowed == "GET"):
            outcome = Outcome.error(405, "METHOD_NOT_ALLOWED", f"Only {allowed} is supported.", "method")
            outcome.headers["Allow"] = f"{allowed}, OPTIONS"
            await _respond(send, outcome)
            return
        if route is Route.CONFIG:
            params = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            answer = await self._web.config(key, params)
            rendered = orjson.dumps(answer.body)
            await _send(send, answer.status, b"" if method == "HEAD" else rendered, [_JSON], len(rendered))
            return
        body = await _read_capped(receive, headers.get(b"content-length"), self._cap)
        if body is None:
            outcome = Outcome.error(
                413, "PAYLOAD_TOO_LARGE", f"The request exceeds {self._cap} bytes.", "body"
            )
        elif route is Route.FORWARDING:
            # Forwarding statistics only matter with kits, which Fermion does not run: checked, not kept.
            outcome = await self._web.check_key(key) or Outcome(202)
        else:
            encoding = headers.get(b"content-encoding")
            client = scope.get("client")
            outcome = await self._web.upload(
                key,
                body,
                encoding.decode("latin-1") if encoding is not None else None,
                client[0] if client else "",
            )
        await _respond(send, outcome)


async def _respond(send: Send, outcome: Outcome) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in outcome.headers.items()]
    if outcome.status == 202:
        await _send(send, 202, b"", headers)
        return
    await _send(send, outcome.status, orjson.dumps({"errors": outcome.errors}), [*headers, _JSON])


async def _send(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]], length: int | None = None
) -> None:
    size = str(len(body) if length is None else length).encode()
    headers = [*headers, *RESPONSE_HEADERS, (b"content-length", size)]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
