"""CORS for the browser-facing endpoints (spec 2.6): the page is on another origin than Fermion.

The Web SDK never sends credentials (fetch's default), so `*` is enough and keeps responses cacheable.
"""

from __future__ import annotations

from typing import Final

ALLOW_METHODS: Final = b"POST, GET, OPTIONS"
# Used when the preflight does not list what it wants; otherwise the request's list is echoed.
DEFAULT_ALLOW_HEADERS: Final = b"Content-Type, x-mp-key, Accept, Content-Encoding"
EXPOSE_HEADERS: Final = b"x-mp-max-age, Retry-After, X-Request-Id"
_MAX_LISTED_HEADERS_BYTES: Final = 1024

RESPONSE_HEADERS: Final[list[tuple[bytes, bytes]]] = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", EXPOSE_HEADERS),
]


def preflight_headers(request_headers: dict[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    """Headers of the answer to an `OPTIONS` preflight, besides RESPONSE_HEADERS (sent on every answer)."""
    wanted = request_headers.get(b"access-control-request-headers", b"").strip()
    if not wanted or len(wanted) > _MAX_LISTED_HEADERS_BYTES or not wanted.isascii():
        wanted = DEFAULT_ALLOW_HEADERS
    return [
        (b"access-control-allow-methods", ALLOW_METHODS),
        (b"access-control-allow-headers", wanted),
        (b"access-control-max-age", b"86400"),
        (b"vary", b"Access-Control-Request-Headers"),
    ]
