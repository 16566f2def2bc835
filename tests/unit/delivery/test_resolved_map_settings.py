"""A resolved connection hands `map` the connected input's name (S3 file names start with it), and an
audience connection none; the level-aware setting errors reach the outputs service's callers."""

from __future__ import annotations

from pathlib import Path

import pytest

from fermion.delivery.edits import ConnectionChanges
from fermion.delivery.outputs import DeliveryError
from support.delivery_env import DeliveryEnv


@pytest.fixture
def env(tmp_path: Path) -> DeliveryEnv:
    return DeliveryEnv(tmp_path)


def test_map_settings_carry_the_input_name(env: DeliveryEnv) -> None:
    out, conn = env.webhook("http://a.test/")
    (resolved,) = env.outputs.resolve_all()
    assert resolved.input_name == env.input.name == "server"
    settings = resolved.map_settings(1234, "g")
    assert (settings.input_name, settings.now_ms, settings.group_key) == ("server", 1234, "g")
    assert (settings.output_id, settings.connection_id) == (out.id, conn.id)
    assert settings.workspace_id == env.workspace.id and settings.output is resolved.output_settings


def test_settings_at_the_wrong_level_through_the_service(env: DeliveryEnv) -> None:
    with pytest.raises(DeliveryError) as on_output:
        env.outputs.create_output(env.workspace.id, "amazon_s3", "", {"bucket_name": "mp-forwarding-x"})
    assert [(e.field, e.message) for e in on_output.value.errors] == [
        (
            "settings.bucket_name",
            "bucket_name is a connection setting of Amazon S3; set it on the connection, not the output",
        )
    ]
    out, _ = env.outputs.create_output(env.workspace.id, "amazon_s3", "", {})
    with pytest.raises(DeliveryError) as on_connection:
        env.outputs.create_connection(
            env.workspace.id, env.input.id, out.id, {"bucket_name": "mp-forwarding-x", "endpoint_url": "x"}
        )
    assert [e.field for e in on_connection.value.errors] == ["settings.endpoint_url"]
    assert "output setting of Amazon S3" in on_connection.value.errors[0].message
    conn, _ = env.outputs.create_connection(
        env.workspace.id, env.input.id, out.id, {"bucket_name": "mp-forwarding-x"}
    )
    with pytest.raises(DeliveryError) as on_update:
        env.edits.update_connection(
            env.workspace.id, conn.id, ConnectionChanges(settings={"bucket_name": "b-x", "region": "x"})
        )
    assert [e.field for e in on_update.value.errors] == ["settings.region"]
    with pytest.raises(DeliveryError) as on_output_update:
        env.edits.update_output(env.workspace.id, out.id, None, {"folder_name": "f"})
    assert "connection setting of Amazon S3" in on_output_update.value.errors[0].message
