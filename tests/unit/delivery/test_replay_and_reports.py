"""Replay of stored history through the hooks, and the alerts / forwarding report views."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import orjson
import pytest

from fermion.adapters.sql import SqlEventStore
from fermion.delivery.edits import ConnectionChanges
from fermion.delivery.outputs import DeliveryError
from fermion.delivery.replay import ReplayService
from fermion.delivery.reports import ReportsService
from fermion.delivery.stages import ConnectionContext, ConnectionHooks
from fermion.model.batch import Batch
from fermion.model.delivery import AlertRecord, CountKey
from fermion.model.records import ProcessedBatch
from fermion.pipeline.stage import Drop
from support.delivery_env import DeliveryEnv, batch_payload


@pytest.fixture
def env(tmp_path: Path) -> DeliveryEnv:
    return DeliveryEnv(tmp_path)


def store(
    env: DeliveryEnv,
    batch_id: int,
    received_ms: int,
    environment: str = "production",
    historical: bool = False,
) -> None:
    SqlEventStore(env.engine).save(
        [
            ProcessedBatch(
                batch_id=batch_id,
                workspace_id=env.workspace.id,
                input_id=env.input.id,
                environment=environment,
                mpid=7,
                received_ms=received_ms,
                historical=historical,
                source_request_id=None,
                device_ids=[],
                events=[],
                payload=batch_payload(batch_id, environment),
            )
        ]
    )


def test_replays_a_window_through_the_hooks(env: DeliveryEnv) -> None:
    _, conn = env.webhook("http://a.test/")
    for batch_id, at in ((1, 1000), (2, 2000), (3, 3000), (4, 4000)):
        store(env, batch_id, at)
    store(env, 5, 2500, historical=True)  # never forwarded, not even by a replay
    store(env, 6, 2600, environment="development")
    env.edits.update_connection(env.workspace.id, conn.id, ConnectionChanges(send_development=False))

    def no_three(batch: Batch, ctx: ConnectionContext) -> Batch | Drop:
        assert ctx.replay
        return Drop("filtered") if batch.batch_id == 3 else batch

    replay = ReplayService(
        env.outputs, env.routes(), env.queue, ConnectionHooks(stages=[no_three]), page_size=2
    )
    job = replay.create_window_job(env.workspace.id, conn.id, 1500, 4000)
    assert replay.run_window_job(job) == 1
    progress = replay.progress(env.workspace.id, job.id)
    assert (progress.job.state, progress.job.enqueued, progress.pending) == ("enqueued", 1, 1)
    [claimed] = env.queue.claim(conn.id, 10, int(time.time() * 1000) + 1, 60_000)
    body = orjson.loads(claimed.payload)
    assert claimed.batch_id == 2 and body["source_info"]["replay_job_id"] == str(job.id)
    with pytest.raises(DeliveryError) as bad:
        replay.create_window_job(env.workspace.id, conn.id, 10, 5)
    assert [e.field for e in bad.value.errors] == ["until_ms"]
    with pytest.raises(DeliveryError) as unknown:
        replay.progress(env.workspace.id, 999)
    assert unknown.value.status == 404


def test_alerts_and_forwarding_report(env: DeliveryEnv) -> None:
    out, a = env.webhook("http://a.test/")
    _, b = env.webhook("http://b.test/")
    now = int(time.time() * 1000)
    env.log.record_alerts(
        [
            AlertRecord(
                workspace_id=env.workspace.id,
                connection_id=b.id,
                environment="production",
                error_type="server_error",
                message="HTTP 500",
                at_ms=now - i,
            )
            for i in range(3)
        ]
        + [
            AlertRecord(
                workspace_id=env.workspace.id,
                connection_id=a.id,
                environment="development",
                error_type="timeout",
                message="slow",
                at_ms=now,
            )
        ]
    )
    reports = ReportsService(env.outputs, env.log)
    alerts = reports.alerts(env.workspace.id)
    assert [(c["connection_id"], c["volume"]) for c in alerts["connections"]] == [(b.id, 3), (a.id, 1)]
    assert alerts["connections"][0]["alerts"][0]["type"] == "server_error"
    assert alerts["connections"][0]["output_name"] == "http://b.test/"
    dev_only = reports.alerts(env.workspace.id, environment="development")
    assert [c["connection_id"] for c in dev_only["connections"]] == [a.id]

    hour = 1_705_312_800_000  # 2024-01-15T10:00:00Z

    def key(direction: str, name: str, at: int = hour) -> CountKey:
        return CountKey(
            workspace_id=env.workspace.id,
            connection_id=a.id,
            output_id=out.id,
            hour_ms=at,
            direction=direction,
            message_type="custom_event",
            event_name=name,
        )

    env.log.add_counts({key("in", "A"): 5, key("out", "A"): 4, key("in", "B", hour + 3_600_000): 2})
    day = reports.forwarding(env.workspace.id, dt.date(2024, 1, 15))
    [conn] = day["connections"]
    assert (day["inbound"], day["outbound"], conn["inbound"], conn["outbound"]) == (7, 4, 7, 4)
    assert [(e["event_name"], e["inbound"], e["outbound"]) for e in conn["events"]] == [
        ("A", 5, 4),
        ("B", 2, 0),
    ]
    assert [(h["hour"], h["inbound"]) for h in conn["hours"]] == [(10, 5), (11, 2)]
    eleven = reports.forwarding(env.workspace.id, dt.date(2024, 1, 15), hour=11)
    assert (eleven["inbound"], eleven["outbound"]) == (2, 0)
    assert reports.forwarding(env.workspace.id, dt.date(2024, 1, 16))["connections"] == []
