"""A local HTTP partner that records every request (method, path, headers, body) and can be told to
fail: answer 500/429 (+Retry-After) for the next N requests or for a while, be slow, or stay down,
then recover. Runs an aiohttp server on its own thread; use one per simulated partner.

    with Recorder() as partner:
        partner.fail_for(2.0, status=429, retry_after="1")
        ... point a webhook output at partner.url("/hook") ...
        partner.wait_for_batches(10)
        assert partner.duplicate_batch_ids() ...
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when received
    answered: int  # the status this recorder answered

    def json(self) -> Any:
        return json.loads(self.body)

    def batches(self) -> list[dict[str, Any]]:
        """The batches in this request's body (one object, or a JSON array of them)."""
        value = self.json()
        return value if isinstance(value, list) else [value]


@dataclass
class _Failure:
    status: int
    retry_after: str | None
    remaining: int | None  # requests left to fail (None: until `until`)
    until: float | None  # monotonic deadline (None: until `remaining` runs out, or forever)
    body: bytes


@dataclass
class Recorder:
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[RecordedRequest] = field(default_factory=list)
    delay_s: float = 0.0  # answer this much later (a slow partner)
    _failures: list[_Failure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None
    _stopped: asyncio.Event | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Recorder:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True, name="recorder")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the recorder did not start")
        return self

    def _serve(self, ready: threading.Event) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)

        async def main() -> None:
            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.port)
            await site.start()
            server = site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
            self._stopped = asyncio.Event()
            ready.set()
            await self._stopped.wait()
            await self._runner.cleanup()

        loop.run_until_complete(main())
        loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def url(self, path: str = "/hook") -> str:
        return f"http://{self.host}:{self.port}{path}"

    # -- behaviour -----------------------------------------------------------------------------

    def fail_next(
        self, count: int, status: int = 500, retry_after: str | None = None, body: bytes = b""
    ) -> None:
        """Answer `status` to the next `count` requests."""
        with self._lock:
            self._failures.append(_Failure(status, retry_after, count, None, body or b"failing on purpose"))

    def fail_for(
        self, seconds: float, status: int = 500, retry_after: str | None = None, body: bytes = b""
    ) -> None:
        """Answer `status` to every request for the next `seconds`."""
        until = time.monotonic() + seconds
        with self._lock:
            self._failures.append(_Failure(status, retry_after, None, until, body or b"failing on purpose"))

    def fail_always(self, status: int = 503, retry_after: str | None = None) -> None:
        """Stay down until recover()."""
        with self._lock:
            self._failures.append(_Failure(status, retry_after, None, None, b"down"))

    def recover(self) -> None:
        with self._lock:
            self._failures.clear()
        self.delay_s = 0.0

    def _verdict(self) -> _Failure | None:
        now = time.monotonic()
        with self._lock:
            while self._failures:
                f = self._failures[0]
                if f.remaining is not None:
                    if f.remaining <= 0:
                        self._failures.pop(0)
                        continue
                    f.remaining -= 1
                    return f
                if f.until is not None and now >= f.until:
                    self._failures.pop(0)
                    continue
                return f
        return None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        failure = self._verdict()
        status = failure.status if failure else 200
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    request.method, request.path, dict(request.headers), body, time.time(), status
                )
            )
        if failure is None:
            return web.Response(status=200, text='{"ok": true}', content_type="application/json")
        headers = {"Retry-After": failure.retry_after} if failure.retry_after is not None else {}
        return web.Response(status=status, body=failure.body, headers=headers)

    # -- what arrived --------------------------------------------------------------------------

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self.requests)

    def accepted(self) -> list[RecordedRequest]:
        """Requests answered 2xx (what the partner kept)."""
        return [r for r in self.snapshot() if 200 <= r.answered < 300]

    def batches(self) -> list[dict[str, Any]]:
        """Every batch in accepted requests, duplicates included, in arrival order."""
        return [b for r in self.accepted() for b in r.batches()]

    def batch_ids(self) -> list[int]:
        return [int(b["batch_id"]) for b in self.batches()]

    def unique_batch_ids(self) -> set[int]:
        """What the partner has after deduplicating by batch id."""
        return set(self.batch_ids())

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def wait_until(self, predicate: Callable[[Recorder], bool], timeout_s: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.05)
        return predicate(self)

    def wait_for_batches(self, count: int, timeout_s: float = 30.0) -> set[int]:
        """Wait until `count` distinct batches were accepted; return their ids."""
        self.wait_until(lambda r: len(r.unique_batch_ids()) >= count, timeout_s)
        return self.unique_batch_ids()
