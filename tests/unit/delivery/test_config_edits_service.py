"""ConfigEdits in process: a deleted connection's queue is sent by the sender before the connection (and a
force-deleted output) goes, or dropped at once; updates keep secrets and refuse what is being deleted."""

from __future__ import annotations

from pathlib import Path

import pytest

from fermion.delivery.edits import ConnectionChanges, Queued
from fermion.delivery.outputs import DeliveryError
from fermion.model.delivery import ConnectionStatus, OutputStatus
from support.delivery_env import DeliveryEnv


@pytest.fixture
def env(tmp_path: Path) -> DeliveryEnv:
    return DeliveryEnv(tmp_path)


def test_deliver_keeps_the_connection_until_its_queue_is_sent(env: DeliveryEnv) -> None:
    out, conn = env.webhook("http://a.test/hook")
    env.enqueue(conn, [1, 2])
    deletion = env.edits.delete_connection(env.workspace.id, conn.id)  # deliver is the default
    assert not deletion.done and deletion.waiting == {conn.id: 2}
    deleting = env.outputs_store.get_connection(conn.id)
    assert deleting is not None and deleting.status is ConnectionStatus.DELETING
    assert not deleting.sends("production")  # forwarding queues nothing more for it
    with pytest.raises(DeliveryError) as busy:
        env.edits.update_connection(env.workspace.id, conn.id, ConnectionChanges(status="active"))
    assert busy.value.status == 409

    env.run_until(env.sender(), lambda: env.outputs_store.get_connection(conn.id) is None)
    assert sorted(env.transport.delivered_ids()) == [1, 2]
    assert env.outputs_store.get_connection(conn.id) is None
    assert env.outputs_store.get_output(out.id) is not None  # only the connection was deleted


def test_drop_forgets_the_queue_at_once(env: DeliveryEnv) -> None:
    _, conn = env.webhook("http://a.test/hook")
    env.enqueue(conn, [1, 2])
    assert env.edits.delete_connection(env.workspace.id, conn.id, Queued.DROP).done
    assert env.outputs_store.get_connection(conn.id) is None
    env.run_until(env.sender(), lambda: False, timeout_s=0.3)
    assert env.transport.sent == []


def test_a_forced_output_delete_waits_for_its_connections(env: DeliveryEnv) -> None:
    out, conn = env.webhook("http://a.test/hook")
    with pytest.raises(DeliveryError) as used:
        env.edits.delete_output(env.workspace.id, out.id)
    assert used.value.status == 409 and used.value.errors[0].field == "output_id"
    env.edits.update_connection(env.workspace.id, conn.id, ConnectionChanges(status="inactive"))
    env.enqueue(conn, [1])
    deletion = env.edits.delete_output(env.workspace.id, out.id, force=True)
    assert not deletion.done and deletion.waiting == {conn.id: 1}
    deleting = env.outputs_store.get_output(out.id)
    assert deleting is not None and deleting.status is OutputStatus.DELETING
    with pytest.raises(DeliveryError) as refused:
        env.edits.update_output(env.workspace.id, out.id, "renamed", None)
    assert refused.value.status == 409

    # Queued while the connection was inactive: sent all the same, since the user chose to deliver.
    env.run_until(env.sender(), lambda: env.outputs_store.get_output(out.id) is None)
    assert env.transport.delivered_ids() == [1]
    assert env.outputs_store.get_connection(conn.id) is None


def test_update_output_keeps_a_secret_left_out_or_masked(env: DeliveryEnv) -> None:
    out, _ = env.outputs.create_output(
        env.workspace.id, "webhook", "w", {"url": "http://a.test/", "signing_secret": "s1"}
    )
    _, settings = env.edits.update_output(
        env.workspace.id, out.id, None, {"url": "http://b.test/", "signing_secret": "***"}
    )
    assert settings.model_dump()["url"] == "http://b.test/"
    _, stored = env.outputs.get_output(env.workspace.id, out.id)
    assert stored.signing_secret.reveal() == "s1"  # type: ignore[attr-defined]
    env.edits.update_output(env.workspace.id, out.id, None, {"url": "http://c.test/"})
    _, stored = env.outputs.get_output(env.workspace.id, out.id)
    assert stored.signing_secret.reveal() == "s1"  # type: ignore[attr-defined]
    env.edits.update_output(env.workspace.id, out.id, None, {"url": "http://c.test/", "signing_secret": None})
    _, stored = env.outputs.get_output(env.workspace.id, out.id)
    assert stored.signing_secret is None  # type: ignore[attr-defined]
    with pytest.raises(DeliveryError) as bad:
        env.edits.update_output(env.workspace.id, out.id, None, {"url": "ftp://x"})
    assert bad.value.errors[0].field == "settings.url"
    with pytest.raises(DeliveryError) as other:
        env.edits.update_output(env.workspace.id + 1, out.id, "x", None)
    assert other.value.status == 404


def test_a_user_cannot_set_the_deleting_status(env: DeliveryEnv) -> None:
    _, conn = env.webhook("http://a.test/hook")
    with pytest.raises(DeliveryError) as bad:
        env.edits.update_connection(env.workspace.id, conn.id, ConnectionChanges(status="deleting"))
    assert bad.value.errors[0].field == "status"
