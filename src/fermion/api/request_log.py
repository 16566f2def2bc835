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
_LINE = b'{"log":"access","ts":"%s.%03dZ","method":"%s","path":%s,"status":%d,"ms":%.2f}\n'


class AccessLog:
    def __init__(self, fd: int = 2, flush_after_s: float = 0.25) -> None:
        self._fd = fd
        self._flush_after_s = flush_after_s
        # (wall time, method, path, status, seconds taken): formatted when written, in one pass.
        self._pending: list[tuple[float, str, str, int, float]] = []
        self._scheduled = False
        self._second = -1
        self._stamp = b""
        atexit.register(self.flush)

    def record(self, method: str, path: str, status: int, started: float) -> None:
        """Log a request that began at `started` (time.perf_counter()) and ended now."""
        self._pending.append((time.time(), method, path, status, time.perf_counter() - started))
        if len(self._pending) >= _MAX_PENDING:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_later(self._flush_after_s, self.flush)

    def flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        out = bytearray()
        for now, method, path, status, taken in pending:
            second = int(now)
            if second != self._second:
                # Formatting a timestamp costs more than the rest of the line: once per second.
                self._second = second
                self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
            # Only the path needs JSON escaping (httptools accepts only the registered method names).
            out += _LINE % (
                self._stamp,
                int((now - second) * 1000),
                method.encode(),
                orjson.dumps(path),
                status,
                taken * 1000,
            )
        try:
            view = memoryview(out)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:
            pass  # stderr closed or full beyond repair: losing log lines must not fail requests
