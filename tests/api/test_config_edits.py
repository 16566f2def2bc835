"""Editing outputs and connections on a running server through the HTTP API and the CLI: PATCH changes
what a webhook partner receives within seconds (secrets kept unless replaced, settings validated again),
DELETE of a used output is refused or forced, a deleted connection's queue is delivered or dropped, and
another workspace's outputs and connections are not found."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fermion.adapters.sql import SqlConfigStore, make_engine
from fermion.model.tenancy import InputKind
from fermion.ports import NewInput
from support.fermion_proc import FermionProcess, fermion_cmd, run_cli
from support.recorder import RecordedRequest, Recorder
from support.servers import module_server
from support.waiting import wait_until

# Retries fast and many: a partner that is down keeps the items queued for the whole test. The config
# cache TTL stays at its default (5 s): changes must be seen through the config stamp, not the TTL.
ENV = {
    "FERMION_DELIVERY_BACKOFF_BASE_S": "0.1",
    "FERMION_DELIVERY_BACKOFF_MAX_S": "0.3",
    "FERMION_DELIVERY_MAX_ATTEMPTS": "200",
    "FERMION_DELIVERY_IDLE_POLL_S": "0.2",
}


server = module_server("edits", ENV)


@pytest.fixture
def partner() -> Iterator[Recorder]:
    with Recorder() as rec:
        yield rec


def call(
    server: FermionProcess,
    method: str,
    path: str,
    body: Any = None,
    workspace: int | None = None,
    **params: Any,
) -> httpx.Response:
    ws = workspace if workspace is not None else server.workspace_id
    url = f"{server.base_url}/api/v1/workspaces/{ws}{path}"
    return httpx.request(method, url, json=body, params=params, headers=server.admin_headers, timeout=30)


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def input_id(server: FermionProcess) -> int:
    return int(next(i["id"] for i in server.info["inputs"] if i["platform"] == "custom"))


def webhook(server: FermionProcess, url: str, **settings: Any) -> tuple[int, int]:
    """A webhook output and the custom input's connection to it: (output id, connection id)."""
    out = created(
        call(server, "POST", "/outputs", {"integration": "webhook", "settings": {"url": url, **settings}})
    )
    conn = created(
        call(server, "POST", "/connections", {"input_id": input_id(server), "output_id": out["id"]})
    )
    return int(out["id"]), int(conn["id"])


def send(server: FermionProcess, *batches: dict[str, Any]) -> None:
    key, secret = server.input_creds()
    r = httpx.post(f"{server.base_url}/v2/bulkevents", json=list(batches), auth=(key, secret), timeout=30)
    assert r.status_code == 202, r.text


def batch(tag: str, environment: str = "production", **extra: Any) -> dict[str, Any]:
    """A batch of a user of its own (consent decisions never mix between tests) with one event."""
    return {
        "environment": environment,
        "user_identities": {"customerid": f"edits-{tag}"},
        "events": [{"event_type": "custom_event", "data": {"event_name": tag, "custom_event_type": "other"}}],
        **extra,
    }


def names(request: RecordedRequest) -> list[str]:
    return [e["data"].get("event_name", "") for b in request.batches() for e in b.get("events", [])]


def received(partner: Recorder, tag: str) -> list[RecordedRequest]:
    return [r for r in partner.accepted() if tag in names(r)]


def signed_with(secret: str, request: RecordedRequest) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    return request.headers.get("X-Fermion-Signature") == expected


def deliver_until(
    server: FermionProcess, partner: Recorder, prefix: str, check: Callable[[RecordedRequest], bool]
) -> RecordedRequest:
    """Send batches until one arrives that passes `check` (a change reaches every process within
    seconds, not at once); fail after a generous deadline."""
    deadline = time.monotonic() + 60
    n = 0
    while time.monotonic() < deadline:
        tag = f"{prefix}-{n}"
        send(server, batch(tag))
        if partner.wait_until(lambda r, t=tag: bool(received(r, t)), 5):
            found = received(partner, tag)[0]
            if check(found):
                return found
        n += 1
    raise AssertionError(f"no batch {prefix}-* arrived as expected")


def queue(server: FermionProcess, connection_id: int) -> dict[str, int]:
    return dict(created(call(server, "GET", f"/connections/{connection_id}"))["queue"])


def waiting(server: FermionProcess, connection_id: int, count: int) -> bool:
    q = queue(server, connection_id)
    return q["pending"] + q["inflight"] >= count


def gone(server: FermionProcess, path: str) -> bool:
    return call(server, "GET", path).status_code == 404


def field_of(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["field"])


def test_patch_output_keeps_secrets_unless_replaced_and_validates_again(
    server: FermionProcess, partner: Recorder
) -> None:
    output_id, connection_id = webhook(server, partner.url("/a"), signing_secret="s1")
    first = deliver_until(server, partner, "out-a", lambda r: r.path == "/a")
    assert signed_with("s1", first)

    # The secret sent masked (as GET shows it) keeps its value.
    patched = call(
        server,
        "PATCH",
        f"/outputs/{output_id}",
        {"name": "Renamed", "settings": {"url": partner.url("/b"), "signing_secret": "***"}},
    )
    body = created(patched)
    assert body["name"] == "Renamed" and body["settings"]["signing_secret"] == "***"
    assert body["settings"]["url"] == partner.url("/b")
    assert signed_with("s1", deliver_until(server, partner, "out-b", lambda r: r.path == "/b"))

    # Left out, it is kept too; replaced, the new one signs.
    created(call(server, "PATCH", f"/outputs/{output_id}", {"settings": {"url": partner.url("/c")}}))
    assert signed_with("s1", deliver_until(server, partner, "out-c", lambda r: r.path == "/c"))
    new_secret = {"settings": {"url": partner.url("/c"), "signing_secret": "s2"}}
    created(call(server, "PATCH", f"/outputs/{output_id}", new_secret))
    deliver_until(server, partner, "out-s2", lambda r: signed_with("s2", r))

    # Validated like on create: each problem names its field, and nothing changes.
    bad_url = call(server, "PATCH", f"/outputs/{output_id}", {"settings": {"url": "ftp://x"}})
    assert bad_url.status_code == 400 and field_of(bad_url) == "settings.url"
    unknown = {"settings": {"url": partner.url("/c"), "nope": 1}}
    bad_key = call(server, "PATCH", f"/outputs/{output_id}", unknown)
    assert bad_key.status_code == 400 and field_of(bad_key) == "settings.nope"
    bad_name = call(server, "PATCH", f"/outputs/{output_id}", {"name": ""})
    assert bad_name.status_code == 400 and field_of(bad_name) == "name"
    shown = created(call(server, "GET", f"/outputs/{output_id}"))
    assert shown["settings"]["url"] == partner.url("/c") and shown["name"] == "Renamed"
    assert call(server, "PATCH", "/outputs/999999", {"name": "x"}).status_code == 404

    assert call(server, "DELETE", f"/connections/{connection_id}", queued="drop").status_code == 204
    assert call(server, "DELETE", f"/outputs/{output_id}").status_code == 204


def test_patch_connection_settings_status_and_environments(server: FermionProcess, partner: Recorder) -> None:
    with Recorder() as control:
        # The control connection receives every batch: once it has one, the forwarding phase has
        # decided that batch for the connection under test too.
        control_output, _ = webhook(server, control.url("/control"))
        output_id, connection_id = webhook(server, partner.url("/hook"))
        deliver_until(server, partner, "conn-on", lambda r: True)

        def decided(tag: str) -> None:
            assert control.wait_until(lambda r: bool(received(r, tag)), 30), tag

        # Settings replace the old ones (validated; today's only webhook connection setting is the
        # consent forwarding rules): only users who consented to marketing are forwarded now.
        rule = {"regulation": "gdpr", "purpose": "marketing"}
        body = {"settings": {"consent_rules": [rule]}}
        patched = created(call(server, "PATCH", f"/connections/{connection_id}", body))
        assert patched["consent_rules"] == [rule]
        consented = {"gdpr": {"marketing": {"consented": True, "timestamp_unixtime_ms": 1_700_000_000_000}}}
        send(server, batch("conn-blocked"), batch("conn-consented", consent_state=consented))
        assert partner.wait_until(lambda r: bool(received(r, "conn-consented")), 30)
        decided("conn-blocked")

        bad_rule = {"settings": {"consent_rules": [{"regulation": "gdpr", "purpose": ""}]}}
        bad = call(server, "PATCH", f"/connections/{connection_id}", bad_rule)
        assert bad.status_code == 400 and field_of(bad) == "settings.consent_rules[0].purpose"
        unknown = call(server, "PATCH", f"/connections/{connection_id}", {"settings": {"bogus": 1}})
        assert unknown.status_code == 400 and field_of(unknown) == "settings.bogus"
        status = call(server, "PATCH", f"/connections/{connection_id}", {"status": "deleting"})
        assert status.status_code == 400 and field_of(status) == "status"
        # An update that does not name the rules keeps them.
        kept = created(call(server, "PATCH", f"/connections/{connection_id}", {"settings": {}}))
        assert kept["consent_rules"] == [rule]

        # Rules removed: everyone is forwarded again. Development data is turned off.
        created(call(server, "PATCH", f"/connections/{connection_id}", {"settings": {"consent_rules": []}}))
        changed = created(call(server, "PATCH", f"/connections/{connection_id}", {"send_development": False}))
        assert changed["consent_rules"] == [] and changed["send_development"] is False
        send(server, batch("conn-dev", environment="development"), batch("conn-unconsented"))
        assert partner.wait_until(lambda r: bool(received(r, "conn-unconsented")), 30)
        decided("conn-dev")

        # Inactive: nothing is queued; active again: delivered again.
        created(call(server, "PATCH", f"/connections/{connection_id}", {"status": "inactive"}))
        send(server, batch("conn-inactive"))
        decided("conn-inactive")
        created(call(server, "PATCH", f"/connections/{connection_id}", {"status": "active"}))
        deliver_until(server, partner, "conn-active", lambda r: True)
        assert queue(server, connection_id)["pending"] == 0
        for tag in ("conn-blocked", "conn-dev", "conn-inactive"):
            assert not received(partner, tag), tag

        for out in (output_id, control_output):
            assert call(server, "DELETE", f"/outputs/{out}", force="true", queued="drop").status_code == 204


def test_delete_output_is_refused_while_used_unless_forced(server: FermionProcess, partner: Recorder) -> None:
    output_id, connection_id = webhook(server, partner.url("/used"))
    refused = call(server, "DELETE", f"/outputs/{output_id}")
    assert refused.status_code == 409 and field_of(refused) == "output_id"
    assert str(connection_id) in refused.json()["errors"][0]["message"]
    assert not gone(server, f"/outputs/{output_id}")

    # Forced, keeping the queue: both stay "deleting" until the queued batches are delivered.
    partner.fail_always()
    send(server, batch("forced-1"), batch("forced-2"))
    assert wait_until(lambda: waiting(server, connection_id, 2), 30)
    deleting = call(server, "DELETE", f"/outputs/{output_id}", force="true")
    assert deleting.status_code == 202, deleting.text
    assert deleting.json() == {
        "status": "deleting",
        "waiting": [{"connection_id": connection_id, "queued": 2}],
    }
    assert created(call(server, "GET", f"/outputs/{output_id}"))["status"] == "deleting"
    assert created(call(server, "GET", f"/connections/{connection_id}"))["status"] == "deleting"
    assert call(server, "PATCH", f"/outputs/{output_id}", {"name": "x"}).status_code == 409
    again = call(server, "POST", "/connections", {"input_id": input_id(server), "output_id": output_id})
    assert again.status_code == 409
    partner.recover()
    assert partner.wait_until(lambda r: bool(received(r, "forced-1") and received(r, "forced-2")), 30)
    assert wait_until(lambda: gone(server, f"/outputs/{output_id}"), 30)
    assert gone(server, f"/connections/{connection_id}")

    # Forced, dropping the queue: gone at once.
    output_id, connection_id = webhook(server, partner.url("/dropped"))
    dropped = call(server, "DELETE", f"/outputs/{output_id}", force="true", queued="drop")
    assert dropped.status_code == 204
    assert gone(server, f"/outputs/{output_id}") and gone(server, f"/connections/{connection_id}")
    listed = created(call(server, "GET", "/connections"))["connections"]
    assert connection_id not in [c["id"] for c in listed]
    bad = call(server, "DELETE", f"/outputs/{output_id}", queued="later")
    assert bad.status_code == 400 and field_of(bad) == "queued"


def test_delete_connection_delivers_or_drops_its_queue(server: FermionProcess, partner: Recorder) -> None:
    # deliver (the default): the queue is sent first, nothing new is queued meanwhile.
    output_id, connection_id = webhook(server, partner.url("/deliver"))
    partner.fail_always()
    send(server, batch("keep-1"), batch("keep-2"))
    assert wait_until(lambda: waiting(server, connection_id, 2), 30)
    deleting = call(server, "DELETE", f"/connections/{connection_id}")
    assert deleting.status_code == 202 and deleting.json()["status"] == "deleting"
    assert created(call(server, "GET", f"/connections/{connection_id}"))["status"] == "deleting"
    assert call(server, "PATCH", f"/connections/{connection_id}", {"status": "active"}).status_code == 409
    replay = call(server, "POST", f"/connections/{connection_id}/replay", {"dead_letters": True})
    assert replay.status_code == 409
    send(server, batch("keep-late"))
    partner.recover()
    assert partner.wait_until(lambda r: bool(received(r, "keep-1") and received(r, "keep-2")), 30)
    assert wait_until(lambda: gone(server, f"/connections/{connection_id}"), 30)
    assert not received(partner, "keep-late")
    assert call(server, "DELETE", f"/outputs/{output_id}").status_code == 204  # no longer used

    # drop: the queue goes with the connection; a control connection shows delivery goes on.
    with Recorder() as control:
        control_output, _ = webhook(server, control.url("/control"))
        output_id, connection_id = webhook(server, partner.url("/drop"))
        partner.fail_always()
        send(server, batch("drop-1"), batch("drop-2"))
        assert wait_until(lambda: waiting(server, connection_id, 2), 30)
        assert call(server, "DELETE", f"/connections/{connection_id}", queued="drop").status_code == 204
        assert gone(server, f"/connections/{connection_id}")
        deliver_until(server, control, "drop-control", lambda r: True)
        partner.recover()
        deliver_until(server, control, "drop-after", lambda r: True)
        assert [r for r in partner.accepted() if r.path == "/drop"] == []
        call(server, "DELETE", f"/outputs/{control_output}", force="true", queued="drop")
        call(server, "DELETE", f"/outputs/{output_id}")


def test_another_workspaces_outputs_and_connections_are_not_found(server: FermionProcess) -> None:
    url = server.env.get("FERMION_DATABASE_URL") or f"sqlite:///{server.data_dir / 'fermion.db'}"
    engine = make_engine(url)
    try:
        config = SqlConfigStore(engine)
        other = config.create_workspace(int(server.info["account_id"]), "Other")
        inp = config.create_input(
            NewInput(
                workspace_id=other.id,
                kind=InputKind.PLATFORM,
                platform="custom",
                name="other",
                key="edits-other-key",
                secret_hash="x",
            )
        )
    finally:
        engine.dispose()
    settings = {"integration": "webhook", "settings": {"url": "http://127.0.0.1:9/other"}}
    out = created(call(server, "POST", "/outputs", settings, workspace=other.id))
    conn = created(
        call(server, "POST", "/connections", {"input_id": inp.id, "output_id": out["id"]}, workspace=other.id)
    )
    for method, path, body in (
        ("GET", f"/outputs/{out['id']}", None),
        ("PATCH", f"/outputs/{out['id']}", {"name": "mine"}),
        ("DELETE", f"/outputs/{out['id']}", None),
        ("GET", f"/connections/{conn['id']}", None),
        ("PATCH", f"/connections/{conn['id']}", {"status": "inactive"}),
        ("DELETE", f"/connections/{conn['id']}", None),
    ):
        r = call(server, method, path, body)
        assert r.status_code == 404, (method, path, r.text)
    # Untouched in their own workspace.
    assert (
        created(call(server, "GET", f"/connections/{conn['id']}", workspace=other.id))["status"] == "active"
    )
    assert (
        call(server, "DELETE", f"/outputs/{out['id']}", workspace=other.id, force="true").status_code == 204
    )


def cli_fails(server: FermionProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        fermion_cmd(*args, "--data-dir", str(server.data_dir), "--json"),
        capture_output=True,
        text=True,
        env={**os.environ, **server.env},
        timeout=120,
    )


def test_cli_updates_and_deletes(server: FermionProcess, partner: Recorder, tmp_path: Path) -> None:
    d, env = server.data_dir, server.env
    ws = str(server.workspace_id)
    out = run_cli(
        d,
        "outputs",
        "create",
        "--workspace",
        ws,
        "--integration",
        "webhook",
        "--setting",
        f"url={partner.url('/cli-a')}",
        "--setting",
        "signing_secret=cli-s1",
        env=env,
    )
    conn = run_cli(
        d,
        "connections",
        "create",
        "--workspace",
        ws,
        "--input",
        str(input_id(server)),
        "--output",
        str(out["id"]),
        env=env,
    )
    deliver_until(server, partner, "cli-a", lambda r: r.path == "/cli-a")

    # The running server picks up what the CLI changed; the secret is kept.
    updated = run_cli(
        d,
        "outputs",
        "update",
        "--output",
        str(out["id"]),
        "--name",
        "CLI",
        "--setting",
        f"url={partner.url('/cli-b')}",
        env=env,
    )
    assert updated["name"] == "CLI" and updated["settings"]["signing_secret"] == "***"
    assert signed_with("cli-s1", deliver_until(server, partner, "cli-b", lambda r: r.path == "/cli-b"))
    bad = cli_fails(server, "outputs", "update", "--output", str(out["id"]), "--setting", "url=nope")
    assert bad.returncode == 2 and "settings.url" in bad.stderr

    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"consent_rules": [{"regulation": "ccpa"}]}))
    changed = run_cli(
        d,
        "connections",
        "update",
        "--connection",
        str(conn["id"]),
        "--no-send-development",
        "--status",
        "inactive",
        "--settings-file",
        str(rules),
        env=env,
    )
    assert changed["send_development"] is False and changed["status"] == "inactive"
    assert changed["consent_rules"] == [{"regulation": "ccpa"}]
    bad_status = cli_fails(
        server, "connections", "update", "--connection", str(conn["id"]), "--status", "paused"
    )
    assert bad_status.returncode == 2 and "status" in bad_status.stderr

    used = cli_fails(server, "outputs", "delete", "--output", str(out["id"]))
    assert used.returncode == 1 and "used by" in used.stderr
    dropped = run_cli(
        d, "connections", "delete", "--connection", str(conn["id"]), "--queued", "drop", env=env
    )
    assert dropped == {"status": "deleted", "waiting": []}
    assert run_cli(d, "outputs", "delete", "--output", str(out["id"]), env=env)["status"] == "deleted"
    missing = cli_fails(server, "connections", "delete", "--connection", str(conn["id"]))
    assert missing.returncode == 1 and "no connection" in missing.stderr
