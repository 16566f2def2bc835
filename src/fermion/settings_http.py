"""HTTP server settings: body caps, connection timeouts and the access log, from FERMION_HTTP_* variables
(FERMION_HTTP_MAX_BODY_BYTES, ..._HEADER_TIMEOUT_S, ...) and FERMION_ACCESS_LOG (0 turns it off)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

_OFF = ("0", "false", "no", "off")


@dataclass(frozen=True)
class HttpSettings:
    # Body cap of every route the reference gives no limit for (the Events API and Web SDK uploads keep
    # Limits.max_request_bytes); enforced while reading, before authentication and parsing.
    max_body_bytes: int = 1024 * 1024
    # Request line plus headers; beyond it the connection gets 431 and is closed.
    max_header_bytes: int = 64 * 1024
    # A connection must deliver a request's headers within this long of its first byte (or of opening).
    header_timeout_s: float = 10.0
    # ... and its whole body within this long of the headers (then 408 and the connection is closed).
    body_timeout_s: float = 30.0
    # An idle keep-alive connection is closed after this long.
    keep_alive_s: int = 5
    # One structured line per request on stderr (method, path, status, latency).
    access_log: bool = True


def http_from_env(env: Mapping[str, str]) -> HttpSettings:
    values: dict[str, object] = {}
    for f in dataclasses.fields(HttpSettings):
        key = "FERMION_ACCESS_LOG" if f.name == "access_log" else f"FERMION_HTTP_{f.name.upper()}"
        if key not in env:
            continue
        text = env[key].strip()
        if f.type in ("bool", bool):
            values[f.name] = text.lower() not in _OFF
        elif f.type in ("int", int):
            values[f.name] = int(text)
        else:
            values[f.name] = float(text)
    return HttpSettings(**values)  # type: ignore[arg-type]
