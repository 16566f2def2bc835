"""The access log: one JSON line per request on stderr (`{"log": "access", "ts", "method", "path",
"status", "ms"}`), written in batches so the Events API's hot path pays only for formatting its line.

Lines are gathered in memory and written at most `flush_after_s` later (or sooner, once many are
pending), with one write for the lot: no logging-framework record, handler or lock per request.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import time

import orjson

# Query strings are left out: they carry identity values (lookup?value=<email>).
_MAX_PENDING = 512


class AccessLog:
    def __init__(self, fd: int = 2, flush_after_s: float = 0.25) -> None:
        self._fd = fd
        self._flush_after_s = flush_after_s
        self._pending: list[bytes] = []
        self._scheduled = False
        self._second = -1
        self._stamp = ""
        atexit.register(self.flush)

    def record(self, method: str, path: str, status: int, started: float) -> None:
        """Log a request that began at `started` (time.perf_counter()) and ended now."""
        ms = round((time.perf_counter() - started) * 1000, 2)
        now = time.time()
        second = int(now)
        if second != self._second:
            # Formatting a timestamp costs more than the rest of the line: once per second.
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        ts = f"{self._stamp}.{int((now - second) * 1000):03d}Z"
        self._pending.append(
            orjson.dumps(
                {"log": "access", "ts": ts, "method": method, "path": path, "status": status, "ms": ms}
            )
        )
        if len(self._pending) >= _MAX_PENDING:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_later(self._flush_after_s, self.flush)

    def flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        data = b"\n".join(self._pending) + b"\n"
        self._pending.clear()
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except OSError:
            pass  # stderr closed or full beyond repair: losing log lines must not fail requests
