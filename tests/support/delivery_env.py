"""An in-process delivery setup over a SQLite file: workspace, input, outputs/connections service, queue,
log, and a scriptable fake transport — for sender, forwarding and replay tests without a server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from cryptography.fernet import Fernet

from fermion.adapters.fernet_cipher import FernetCipher
from fermion.adapters.sql import SqlConfigStore, make_engine, migrate
from fermion.adapters.sql.delivery_log import SqlDeliveryLog
from fermion.adapters.sql.delivery_store import SqlDeliveryQueue
from fermion.adapters.sql.output_store import SqlOutputStore
from fermion.delivery.edits import ConfigEdits
from fermion.delivery.outputs import OutputsService
from fermion.delivery.retry import RetryPolicy
from fermion.delivery.routing import Routes
from fermion.delivery.sender import Sender, SenderOptions
from fermion.integrations.spec import HttpRequest, OutboundRequest
from fermion.model.delivery import Connection, Output, QueueItem
from fermion.model.tenancy import InputKind
from fermion.ports import NewInput, SendResult

Behaviour = Callable[[HttpRequest], Awaitable[SendResult] | SendResult]


@dataclass
class Sent:
    request: HttpRequest
    result: SendResult
    at: float


@dataclass
class FakeTransport:
    """Answers per URL with a behaviour (default: 200); records every request and its result."""

    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)

    async def send(self, request: OutboundRequest, timeout_s: float) -> SendResult:
        assert isinstance(request, HttpRequest)
        behaviour = self.behaviours.get(request.url)
        result: Any = behaviour(request) if behaviour else SendResult(status=200)
        if asyncio.iscoroutine(result):
            result = await result
        self.sent.append(Sent(request, result, time.monotonic()))
        return result  # type: ignore[no-any-return]

    async def close(self) -> None:
        pass

    def delivered_ids(self, url: str | None = None) -> list[int]:
        return [
            b
            for s in self.sent
            if s.result.status == 200 and (url is None or s.request.url == url)
            for b in s.request.batch_ids
        ]


def batch_payload(batch_id: int, env: str = "production", name: str = "Viewed") -> bytes:
    return orjson.dumps(
        {
            "batch_id": batch_id,
            "environment": env,
            "mpid": 7,
            "events": [
                {"event_type": "custom_event", "data": {"event_name": name, "custom_event_type": "other"}}
            ],
        }
    )


class DeliveryEnv:
    def __init__(self, tmp_path: Path) -> None:
        self.engine = make_engine(f"sqlite:///{tmp_path / 'delivery.db'}")
        migrate(self.engine)
        self.config = SqlConfigStore(self.engine)
        org = self.config.create_organization("o")
        self.workspace = self.config.create_workspace(self.config.create_account(org.id, "a").id, "w")
        self.input = self.config.create_input(
            NewInput(
                workspace_id=self.workspace.id,
                kind=InputKind.PLATFORM,
                platform="custom",
                name="server",
                key="k1",
                secret_hash="h",
            )
        )
        self.outputs_store = SqlOutputStore(self.engine)
        self.outputs = OutputsService(self.config, self.outputs_store, FernetCipher(Fernet.generate_key()))
        self.queue = SqlDeliveryQueue(self.engine)
        self.log = SqlDeliveryLog(self.engine)
        self.edits = ConfigEdits(self.outputs, self.queue)
        self.transport = FakeTransport()

    def webhook(self, url: str, **settings: Any) -> tuple[Output, Connection]:
        out, _ = self.outputs.create_output(self.workspace.id, "webhook", url, {"url": url, **settings})
        conn, _ = self.outputs.create_connection(self.workspace.id, self.input.id, out.id, {})
        return out, conn

    def enqueue(self, conn: Connection, batch_ids: range | list[int], env: str = "production") -> None:
        items = [
            QueueItem(
                connection_id=conn.id,
                workspace_id=self.workspace.id,
                batch_id=b,
                input_id=self.input.id,
                environment=env,
                mpid=7,
                received_ms=int(time.time() * 1000),
                payload=batch_payload(b, env),
                summary=[("custom_event", "Viewed", 1)],
            )
            for b in batch_ids
        ]
        self.queue.enqueue(items, int(time.time() * 1000), {})

    def routes(self) -> Routes:
        return Routes(self.outputs, ttl_s=0.1)

    def sender(self, max_attempts: int = 3, **options: Any) -> Sender:
        policy = RetryPolicy(max_attempts=max_attempts, base_s=0.02, max_s=0.1)
        opts = SenderOptions(**{"poll_s": 0.01, "idle_poll_s": 0.05, "refresh_s": 0.1, **options})
        return Sender(self.routes(), self.queue, self.log, self.transport, policy, opts)

    def run_until(self, sender: Sender, done: Callable[[], bool], timeout_s: float = 20.0) -> float:
        """Run the sender until done() (checked every 20 ms) or the timeout; return the seconds taken."""

        async def main() -> float:
            stop = asyncio.Event()
            task = asyncio.create_task(sender.run(stop))
            started = time.monotonic()
            try:
                while not done() and time.monotonic() - started < timeout_s:
                    await asyncio.sleep(0.02)
                return time.monotonic() - started
            finally:
                stop.set()
                await task

        return asyncio.run(main())
