"""Audience connections in the outputs service and routing, and AudienceDelivery's queueing (over a
SQLite file; nothing is sent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fermion.delivery.audience_forwarding import AUDIENCE_MEMBERSHIP, AudienceDelivery
from fermion.delivery.edits import ConnectionChanges
from fermion.delivery.outputs import DeliveryError
from fermion.model.audiences import ChangeAction, MembershipChange, decode_change
from fermion.model.delivery import Connection, ConnectionStatus
from support.delivery_env import DeliveryEnv

NOW = 1_800_000_000_000
OUTPUT = {"access_key_id": "AKID", "secret_access_key": "secret"}


@pytest.fixture
def env(tmp_path: Path) -> DeliveryEnv:
    return DeliveryEnv(tmp_path)


def firehose(env: DeliveryEnv, **output: Any) -> int:
    out, _ = env.outputs.create_output(
        env.workspace.id, "amazon_kinesis_firehose", "fh", {**OUTPUT, **output}
    )
    return out.id


def connect(env: DeliveryEnv, audience_id: int, output_id: int, **settings: Any) -> Connection:
    conn, _ = env.outputs.create_audience_connection(
        env.workspace.id, audience_id, output_id, {"delivery_stream_name": "s", **settings}
    )
    return conn


def change(
    env: DeliveryEnv, audience_id: int, change_id: int, environment: str = "production"
) -> MembershipChange:
    return MembershipChange(
        change_id=change_id,
        workspace_id=env.workspace.id,
        audience_id=audience_id,
        audience_name=f"Audience {audience_id}",
        action=ChangeAction.ADD,
        mpid=5,
        changed_ms=NOW,
        identities={"email": "a@example.com"},
        environment=environment,
    )


def fields(exc: pytest.ExceptionInfo[DeliveryError]) -> set[str]:
    return {e.field for e in exc.value.errors}


def test_create_validates_settings_output_and_status(env: DeliveryEnv) -> None:
    output_id = firehose(env)
    with pytest.raises(DeliveryError) as bad:
        env.outputs.create_audience_connection(
            env.workspace.id, 1, output_id, {"identities_to_exclude": ["Nope"], "extra": 1}
        )
    assert bad.value.status == 400
    assert fields(bad) == {
        "settings.delivery_stream_name",
        "settings.identities_to_exclude",
        "settings.extra",
    }
    with pytest.raises(DeliveryError) as missing:
        env.outputs.create_audience_connection(env.workspace.id, 1, 999, {}, status="paused")
    assert fields(missing) == {"output_id", "status"}
    webhook, _ = env.webhook("http://127.0.0.1:9/hook")
    with pytest.raises(DeliveryError, match="not an audience output") as event_output:
        env.outputs.create_audience_connection(env.workspace.id, 1, webhook.id, {})
    assert fields(event_output) == {"output_id"}
    # ... and the other way round: an input cannot feed an audience output.
    with pytest.raises(DeliveryError, match="audience output"):
        env.outputs.create_connection(env.workspace.id, env.input.id, output_id, {})


def test_one_connection_per_audience_and_output(env: DeliveryEnv) -> None:
    output_id = firehose(env)
    conn = connect(env, 7, output_id)
    assert conn.audience_id == 7 and conn.input_id is None and conn.status is ConnectionStatus.ACTIVE
    with pytest.raises(DeliveryError) as again:
        connect(env, 7, output_id)
    assert again.value.status == 409
    other = connect(env, 8, output_id)
    assert [c.id for c, _ in env.outputs.list_audience_connections(env.workspace.id, 7)] == [conn.id]
    assert [c.id for c, _ in env.outputs.list_audience_connections(env.workspace.id)] == [conn.id, other.id]


def test_update_and_delete(env: DeliveryEnv) -> None:
    conn = connect(env, 7, firehose(env))
    updated, settings = env.edits.update_audience_connection(
        env.workspace.id,
        7,
        conn.id,
        ConnectionChanges(
            status="inactive", settings={"delivery_stream_name": "t", "aws_region": "eu-west-1"}
        ),
    )
    assert updated.status is ConnectionStatus.INACTIVE
    assert settings.model_dump()["aws_region"] == "eu-west-1"
    with pytest.raises(DeliveryError) as bad:
        env.edits.update_audience_connection(
            env.workspace.id, 7, conn.id, ConnectionChanges(settings={"aws_region": ""})
        )
    assert fields(bad) == {"settings.delivery_stream_name", "settings.aws_region"}
    with pytest.raises(DeliveryError) as wrong_audience:
        env.outputs.get_audience_connection(env.workspace.id, 8, conn.id)
    assert wrong_audience.value.status == 404
    assert env.edits.delete_audience_connection(env.workspace.id, 7, conn.id).done  # nothing queued
    with pytest.raises(DeliveryError):
        env.edits.delete_audience_connection(env.workspace.id, 7, conn.id)


def test_routes_keep_input_and_audience_connections_apart(env: DeliveryEnv) -> None:
    _, input_conn = env.webhook("http://127.0.0.1:9/hook")
    audience_conn = connect(env, 7, firehose(env, bulk_window_s=2, max_batch_size=5))
    table = env.routes().current()
    assert set(table.by_id) == {input_conn.id, audience_conn.id}  # the sender makes a lane for each
    assert [r.connection.id for r in table.by_input[env.input.id]] == [input_conn.id]
    (resolved,) = table.by_audience[7]
    # The output's bulk settings shape the options the lane uses.
    assert resolved.integration.options.batch_window_ms == 2000
    assert resolved.integration.options_for(resolved.connection_settings).max_batch_size == 5


def test_publish_queues_each_change_for_active_connections(env: DeliveryEnv) -> None:
    output_a, output_b = firehose(env), firehose(env)
    first = connect(env, 7, output_a)
    second = connect(env, 7, output_b)
    inactive = connect(env, 8, output_a)
    inactive_now = ConnectionChanges(status="inactive")
    env.edits.update_audience_connection(env.workspace.id, 8, inactive.id, inactive_now)
    woken: list[bool] = []
    sink = AudienceDelivery(env.routes(), env.queue, env.log, on_enqueued=lambda: woken.append(True))
    changes = [change(env, 7, 101), change(env, 7, 102), change(env, 8, 103), change(env, 9, 104)]
    sink.publish(changes, NOW)
    assert woken == [True]
    for conn in (first, second):
        claimed = env.queue.claim(conn.id, 10, NOW + 1, 60_000)
        assert [i.batch_id for i in claimed] == [101, 102]
        assert decode_change(claimed[0].payload) == changes[0]
        assert claimed[0].summary == [(AUDIENCE_MEMBERSHIP, "Audience 7", 1)]
        assert claimed[0].mpid == 5 and claimed[0].received_ms == NOW
    assert env.queue.count_by_status(inactive.id)["pending"] == 0
    sink.publish(changes, NOW)  # again: nothing new, nobody woken, not counted twice
    assert woken == [True]
    counts = env.log.counts(env.workspace.id, 0, 2**62, first.id)
    assert [(c.direction, c.message_type, c.event_name, c.count) for c in counts] == [
        ("in", AUDIENCE_MEMBERSHIP, "Audience 7", 2)
    ]
    sink.publish([], NOW)


def test_publish_honours_the_environment_switches_and_workspace(env: DeliveryEnv) -> None:
    conn = connect(env, 7, firehose(env))
    env.outputs_store.update_connection(conn.id, send_development=False)
    sink = AudienceDelivery(env.routes(), env.queue, env.log)
    sink.publish([change(env, 7, 201, "development"), change(env, 7, 202)], NOW)
    assert [i.batch_id for i in env.queue.claim(conn.id, 10, NOW + 1, 60_000)] == [202]
    other_workspace = MembershipChange(
        change_id=203,
        workspace_id=env.workspace.id + 1,
        audience_id=7,
        audience_name="x",
        action=ChangeAction.REMOVE,
        mpid=1,
        changed_ms=NOW,
    )
    sink.publish([other_workspace], NOW)
    assert env.queue.claim(conn.id, 10, NOW + 1, 60_000) == []
