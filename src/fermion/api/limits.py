"""The outermost ASGI layer of the API process: every request body is capped while it is read, before
any route authenticates or parses it, and every request is written to the access log.

The body is read here, up to its route's cap, and handed on in one piece; a larger declared or actual
body gets 413 (`field: "body"`) and the connection is closed, so the rest is never read. The Events API
and Web SDK uploads keep the reference's 256 KB (Limits.max_request_bytes), which their own handlers
enforce the same way while reading; every other route takes HttpSettings.max_body_bytes. Slow senders
are cut off by the HTTP protocol (fermion.api.http_protocol).
"""

from __future__ import annotations

import time

import orjson

from fermion.api.cors import RESPONSE_HEADERS
from fermion.api.events import PATHS, ASGIApp, Message, Receive, Scope, Send, collapse_slashes
from fermion.api.request_log import AccessLog
from fermion.api.websdk import match as websdk_match


class HttpGuard:
    def __init__(self, app: ASGIApp, upload_cap: int, default_cap: int, access_log: AccessLog | None) -> None:
        self._app = app
        self._upload_cap = upload_cap
        self._default_cap = default_cap
        self._log = access_log

    @staticmethod
    def is_upload(path: str) -> bool:
        """An Events API or Web SDK upload path (routed by events.py and websdk.py)."""
        if "//" in path:
            path = collapse_slashes(path)
        return path.rstrip("/") in PATHS or websdk_match(path) is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        if self._log is None:
            await self._guarded(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_seen(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._guarded(scope, receive, send_seen)
        except BaseException:
            status = status or 500
            raise
        finally:
            # 499 (nginx's "client closed request"): the client left before any answer.
            self._log.record(scope["method"], scope["path"], status or 499, started)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        upload = self.is_upload(scope["path"])
        cap = self._upload_cap if upload else self._default_cap
        declared = _content_length(scope)
        if declared is not None and declared > cap:
            await _too_large(send, cap)
            return
        if upload:
            # The upload handlers read their bodies with this same cap, stopping as soon as it is
            # exceeded (events.py _read_capped): the hot path is spared a second copy here.
            await self._app(scope, receive, send)
            return
        first = await receive()
        if first["type"] != "http.request":
            return  # the client left
        if first.get("more_body", False):
            body = await _read_rest(receive, first.get("body", b""), cap)
            if body is None:
                await _too_large(send, cap)
                return
            if isinstance(body, dict):
                return  # the client left
            first = {"type": "http.request", "body": body, "more_body": False}
        elif len(first.get("body", b"")) > cap:
            await _too_large(send, cap)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # http.disconnect, which streaming answers wait for
            replayed = True
            return first

        await self._app(scope, replay, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _read_rest(receive: Receive, head: bytes, cap: int) -> bytes | Message | None:
    """The whole body starting with `head`; None once it exceeds cap (nothing more is read); the
    disconnect message when the client leaves."""
    chunks = [head]
    size = len(head)
    while size <= cap:
        message = await receive()
        if message["type"] != "http.request":
            return message
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks) if size <= cap else None
    return None


async def _too_large(send: Send, cap: int) -> None:
    body = orjson.dumps(
        {
            "errors": [
                {
                    "code": "PAYLOAD_TOO_LARGE",
                    "message": f"The request body exceeds {cap} bytes.",
                    "field": "body",
                }
            ]
        }
    )
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        # The unread rest of the body is never read: the connection cannot carry another request.
        (b"connection", b"close"),
        *RESPONSE_HEADERS,
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
