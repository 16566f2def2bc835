"""Outputs and connections: validation naming the field, secrets encrypted at rest and masked."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from fermion.adapters.sql.schema_delivery import outputs
from fermion.delivery.outputs import DeliveryError, masked
from fermion.integrations.spec import Secret
from fermion.model.tenancy import InputKind
from fermion.ports import NewInput
from support.delivery_env import DeliveryEnv


@pytest.fixture
def env(tmp_path: Path) -> DeliveryEnv:
    return DeliveryEnv(tmp_path)


def test_secrets_are_encrypted_at_rest_and_masked(env: DeliveryEnv) -> None:
    out, settings = env.outputs.create_output(
        env.workspace.id, "webhook", "", {"url": "http://a.test/", "signing_secret": "top-secret"}
    )
    assert out.name == "Webhook"
    with env.engine.connect() as conn:
        raw = conn.execute(select(outputs.c.settings).where(outputs.c.id == out.id)).scalar_one()
    assert "top-secret" not in raw and '"$enc"' in raw
    assert masked(settings)["signing_secret"] == "***"
    [(listed, opened)] = env.outputs.list_outputs(env.workspace.id)
    assert listed.id == out.id and opened.signing_secret == Secret("top-secret")  # type: ignore[attr-defined]
    resolved = env.outputs.resolve_all()
    assert resolved == []  # no connection yet


def test_output_errors_name_the_field(env: DeliveryEnv) -> None:
    with pytest.raises(DeliveryError) as exc:
        env.outputs.create_output(env.workspace.id, "webhook", "", {"url": "nope", "extra": 1})
    assert exc.value.status == 400
    assert {e.field for e in exc.value.errors} == {"settings.url", "settings.extra"}
    with pytest.raises(DeliveryError) as unknown:
        env.outputs.create_output(env.workspace.id, "no-such", "", {})
    assert [e.field for e in unknown.value.errors] == ["integration"]
    with pytest.raises(DeliveryError) as missing:
        env.outputs.create_output(999, "webhook", "", {"url": "http://a.test/"})
    assert missing.value.status == 404


def test_connection_errors_name_the_field(env: DeliveryEnv) -> None:
    out, _ = env.outputs.create_output(env.workspace.id, "webhook", "", {"url": "http://a.test/"})
    with pytest.raises(DeliveryError) as both:
        env.outputs.create_connection(env.workspace.id, 999, 998, {})
    assert {e.field for e in both.value.errors} == {"input_id", "output_id"}
    with pytest.raises(DeliveryError) as bad_settings:
        env.outputs.create_connection(env.workspace.id, env.input.id, out.id, {"unknown": True})
    assert [e.field for e in bad_settings.value.errors] == ["settings.unknown"]
    with pytest.raises(DeliveryError) as bad_status:
        env.outputs.create_connection(env.workspace.id, env.input.id, out.id, {}, status="paused")
    assert [e.field for e in bad_status.value.errors] == ["status"]
    conn, _ = env.outputs.create_connection(env.workspace.id, env.input.id, out.id, {})
    with pytest.raises(DeliveryError) as twice:
        env.outputs.create_connection(env.workspace.id, env.input.id, out.id, {})
    assert twice.value.status == 409
    other_ws = env.config.create_workspace(env.workspace.account_id, "other")
    foreign = env.config.create_input(
        NewInput(
            workspace_id=other_ws.id,
            kind=InputKind.FEED,
            platform="braze",
            name="f",
            key="k2",
            secret_hash="h",
        )
    )
    with pytest.raises(DeliveryError) as cross:
        env.outputs.create_connection(env.workspace.id, foreign.id, out.id, {})
    assert [e.field for e in cross.value.errors] == ["input_id"]
    with pytest.raises(DeliveryError) as not_mine:
        env.outputs.get_connection(other_ws.id, conn.id)
    assert not_mine.value.status == 404
    [resolved] = env.outputs.resolve_all()
    assert resolved.connection.id == conn.id and resolved.integration.id == "webhook"


def test_unreadable_settings_skip_only_that_connection(env: DeliveryEnv) -> None:
    good, _ = env.webhook("http://good.test/")
    bad, _ = env.webhook("http://bad.test/")
    with env.engine.begin() as conn:  # e.g. an integration whose settings changed incompatibly
        conn.execute(outputs.update().where(outputs.c.id == bad.id).values(settings='{"url": "nope"}'))
    assert [r.output.id for r in env.outputs.resolve_all()] == [good.id]
