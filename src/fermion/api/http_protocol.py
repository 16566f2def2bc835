"""uvicorn's httptools protocol with the limits it lacks: a deadline for a request's headers (from the
connection's opening, or from the first read that leaves them incomplete), a cap on their size, and a
deadline for its body.

uvicorn itself only closes idle keep-alive connections: a client that opens a connection and sends
nothing, or trickles its headers or body a byte at a time, or sends megabytes of headers, would
otherwise hold a connection and its buffers for as long as it likes.
"""

from __future__ import annotations

import asyncio

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from fermion.settings_http import HttpSettings


def _raw_error(status: int, reason: str, code: str, message: str, field: str) -> bytes:
    body = orjson.dumps({"errors": [{"code": code, "message": message, "field": field}]})
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class GuardedHttpProtocol(HttpToolsProtocol):
    limits = HttpSettings()

    _header_timer: asyncio.TimerHandle | None = None
    _body_timer: asyncio.TimerHandle | None = None
    _awaiting_headers = False
    _header_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self._awaiting_headers:
            # Armed only for headers that span reads: the usual one-read request costs no timer.
            self._arm_header_timer()
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes:
                message = f"The request's headers exceed {self.limits.max_header_bytes} bytes."
                self._refuse(
                    _raw_error(
                        431, "Request Header Fields Too Large", "HEADERS_TOO_LARGE", message, "headers"
                    )
                )
        elif self._body_timer is None and self.cycle is not None and self.cycle.more_body:
            # Only a body that did not arrive with its headers needs a deadline (keeps the common
            # one-read request free of timers).
            self._body_timer = self.loop.call_later(self.limits.body_timeout_s, self._body_timeout)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_headers = True
        self._header_bytes = 0

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.limits.header_timeout_s, self._header_timeout)

    def _cancel_timers(self) -> None:
        for timer in (self._header_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._body_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self._awaiting_headers:
            message = f"The request's headers did not arrive within {self.limits.header_timeout_s:g} s."
            self._refuse(_raw_error(408, "Request Timeout", "REQUEST_TIMEOUT", message, "headers"))
        elif self.cycle is None:
            self._refuse(b"")  # opened and never used

    def _body_timeout(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if cycle is None or not cycle.more_body:
            return
        message = f"The request's body did not arrive within {self.limits.body_timeout_s:g} s."
        # The app waiting for the rest of the body sees the disconnect and answers nothing more.
        timeout = _raw_error(408, "Request Timeout", "REQUEST_TIMEOUT", message, "body")
        self._refuse(b"" if cycle.response_started else timeout)

    def _refuse(self, answer: bytes) -> None:
        self._cancel_timers()
        if not self.transport.is_closing():
            if answer:
                self.transport.write(answer)
            self.transport.close()


def protocol_for(limits: HttpSettings) -> type[GuardedHttpProtocol]:
    """The protocol class uvicorn instantiates per connection, carrying these limits."""

    class Configured(GuardedHttpProtocol):
        pass

    Configured.limits = limits
    return Configured
