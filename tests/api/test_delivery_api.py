"""Delivery end to end through a real server: outputs and connections (HTTP API and CLI), webhook
delivery with signatures, historical batches not forwarded, outbound Live Stream, forwarding report."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from support.fermion_proc import FermionProcess, fermion_cmd, run_cli
from support.recorder import Recorder
from support.servers import module_server

FAST_RETRIES = {
    "FERMION_CONFIG_CACHE_TTL_S": "0.3",
    "FERMION_DELIVERY_BACKOFF_BASE_S": "0.1",
    "FERMION_DELIVERY_BACKOFF_MAX_S": "0.5",
    "FERMION_DELIVERY_MAX_ATTEMPTS": "4",
    "FERMION_DELIVERY_IDLE_POLL_S": "0.2",
}


server = module_server("delivery", FAST_RETRIES)


@pytest.fixture(scope="module")
def partner() -> Iterator[Recorder]:
    with Recorder() as rec:
        yield rec


def api(server: FermionProcess, path: str) -> str:
    return f"{server.base_url}/api/v1/workspaces/{server.workspace_id}{path}"


def input_id(server: FermionProcess, platform: str = "custom") -> int:
    return int(next(i["id"] for i in server.info["inputs"] if i["platform"] == platform))


def send(server: FermionProcess, batches: list[dict[str, Any]], path: str = "/v2/bulkevents") -> None:
    key, secret = server.input_creds()
    r = httpx.post(f"{server.base_url}{path}", json=batches, auth=(key, secret), timeout=30)
    assert r.status_code == 202, r.text


def a_batch(tag: str, environment: str = "production", **extra: Any) -> dict[str, Any]:
    return {
        "environment": environment,
        "user_identities": {"customerid": tag},
        "events": [
            {
                "event_type": "custom_event",
                "data": {"event_name": f"Clicked {tag}", "custom_event_type": "other"},
            }
        ],
        **extra,
    }


def connect_webhook(server: FermionProcess, url: str, **settings: Any) -> tuple[int, int]:
    h = server.admin_headers
    out = httpx.post(
        api(server, "/outputs"),
        headers=h,
        json={"integration": "webhook", "settings": {"url": url, **settings}},
    )
    assert out.status_code == 201, out.text
    conn = httpx.post(
        api(server, "/connections"),
        headers=h,
        json={"input_id": input_id(server), "output_id": out.json()["id"]},
    )
    assert conn.status_code == 201, conn.text
    return int(out.json()["id"]), int(conn.json()["id"])


def test_outputs_and_connections_over_http(server: FermionProcess) -> None:
    h = server.admin_headers
    assert httpx.get(api(server, "/outputs")).status_code == 401
    listed = httpx.get(api(server, "/integrations"), headers=h).json()["integrations"]
    webhook = next(i for i in listed if i["id"] == "webhook")
    assert webhook["settings_schema"]["properties"]["signing_secret"]["anyOf"][0]["writeOnly"] is True

    bad = httpx.post(
        api(server, "/outputs"), headers=h, json={"integration": "webhook", "settings": {"url": "ftp://x"}}
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "settings.url"
    unknown = httpx.post(api(server, "/outputs"), headers=h, json={"integration": "nope", "settings": {}})
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "integration"
    shape = httpx.post(api(server, "/outputs"), headers=h, json={"settings": {}})
    assert shape.status_code == 400 and shape.json()["errors"][0]["field"] == "integration"

    created = httpx.post(
        api(server, "/outputs"),
        headers=h,
        json={
            "integration": "webhook",
            "name": "Mine",
            "settings": {"url": "http://127.0.0.1:9/x", "signing_secret": "s"},
        },
    )
    assert created.status_code == 201
    out = created.json()
    assert out["settings"]["signing_secret"] == "***" and out["name"] == "Mine"
    assert (
        httpx.get(api(server, f"/outputs/{out['id']}"), headers=h).json()["settings"]["signing_secret"]
        == "***"
    )
    assert httpx.get(api(server, "/outputs/999999"), headers=h).status_code == 404

    missing = httpx.post(
        api(server, "/connections"), headers=h, json={"input_id": 999999, "output_id": out["id"]}
    )
    assert missing.status_code == 400 and missing.json()["errors"][0]["field"] == "input_id"
    conn = httpx.post(
        api(server, "/connections"),
        headers=h,
        json={
            "input_id": input_id(server, "web"),
            "output_id": out["id"],
            "status": "inactive",
            "send_development": False,
        },
    )
    assert conn.status_code == 201, conn.text
    body = conn.json()
    assert (body["status"], body["send_development"], body["send_production"]) == ("inactive", False, True)
    again = httpx.post(
        api(server, "/connections"),
        headers=h,
        json={"input_id": input_id(server, "web"), "output_id": out["id"]},
    )
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "output_id"
    got = httpx.get(api(server, f"/connections/{body['id']}"), headers=h).json()
    assert got["queue"] == {"pending": 0, "inflight": 0, "done": 0, "dead": 0}
    patched = httpx.patch(api(server, f"/connections/{body['id']}"), headers=h, json={"status": "paused"})
    assert patched.status_code == 400 and patched.json()["errors"][0]["field"] == "status"
    patched = httpx.patch(api(server, f"/connections/{body['id']}"), headers=h, json={"status": "active"})
    assert patched.json()["status"] == "active"
    ids = [c["id"] for c in httpx.get(api(server, "/connections"), headers=h).json()["connections"]]
    assert body["id"] in ids


def test_cli_outputs_and_connections(server: FermionProcess) -> None:
    d, env = server.data_dir, server.env
    out = run_cli(
        d,
        "outputs",
        "create",
        "--workspace",
        str(server.workspace_id),
        "--integration",
        "webhook",
        "--setting",
        "url=http://127.0.0.1:9/cli",
        "--setting",
        "signing_secret=abc",
        env=env,
    )
    assert out["settings"]["signing_secret"] == "***"
    assert out["id"] in [o["id"] for o in run_cli(d, "outputs", "list", env=env)["outputs"]]
    conn = run_cli(
        d,
        "connections",
        "create",
        "--workspace",
        str(server.workspace_id),
        "--input",
        str(input_id(server, "web")),
        "--output",
        str(out["id"]),
        "--no-send-development",
        env=env,
    )
    assert conn["send_development"] is False
    listed = run_cli(d, "connections", "list", "--workspace", str(server.workspace_id), env=env)[
        "connections"
    ]
    assert any(c["id"] == conn["id"] and c["queue"]["pending"] == 0 for c in listed)
    failed = subprocess.run(
        fermion_cmd(
            "outputs",
            "create",
            "--workspace",
            str(server.workspace_id),
            "--integration",
            "webhook",
            "--setting",
            "url=nope",
            "--data-dir",
            str(d),
            "--json",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode == 2 and "settings.url" in failed.stderr


def test_webhook_delivery_end_to_end(server: FermionProcess, partner: Recorder) -> None:
    _, connection_id = connect_webhook(
        server, partner.url("/signed"), signing_secret="sig-key", headers={"X-Api-Key": "k1"}
    )
    time.sleep(0.5)  # the worker sees the new connection on its next round
    send(server, [a_batch(f"e2e-{i}") for i in range(5)] + [a_batch("e2e-dev", environment="development")])
    ids = partner.wait_for_batches(6, 30)
    assert len(ids) == 6
    for req in partner.accepted():
        assert req.path == "/signed" and req.headers["X-Api-Key"] == "k1"
        expected = "sha256=" + hmac.new(b"sig-key", req.body, hashlib.sha256).hexdigest()
        assert req.headers["X-Fermion-Signature"] == expected
        batch = req.json()
        assert str(batch["batch_id"]) == req.headers["X-Fermion-Batch-Ids"]
        assert batch["mpid"] and batch["events"][0]["event_type"] == "custom_event"
    assert {b["environment"] for b in partner.batches()} == {"production", "development"}

    # Historical batches are stored but never forwarded.
    old = int(time.time() * 1000) - 100 * 3600 * 1000
    historical = a_batch("e2e-historical")
    historical["events"][0]["data"]["timestamp_unixtime_ms"] = old
    send(server, [historical], path="/v2/bulkevents/historical")
    send(server, [a_batch("e2e-after")])
    partner.wait_for_batches(7, 30)
    names = [b["events"][0]["data"]["event_name"] for b in partner.batches()]
    assert "Clicked e2e-after" in names and "Clicked e2e-historical" not in names

    h = server.admin_headers
    deadline = time.monotonic() + 10
    live: list[dict[str, Any]] = []
    while time.monotonic() < deadline and len(live) < 7:
        live = httpx.get(
            api(server, "/livestream/outbound"), headers=h, params={"connection_id": connection_id}
        ).json()["requests"]
        time.sleep(0.2)
    assert len(live) == 7 and all(r["outcome"] == "delivered" and r["status"] == 200 for r in live)
    assert live[0]["target"] == f"POST {partner.url('/signed')}" and json.loads(live[0]["body"])["batch_id"]

    report = httpx.get(
        api(server, "/reports/forwarding"), headers=h, params={"connection_id": connection_id}
    ).json()
    [conn] = report["connections"]
    assert conn["inbound"] == conn["outbound"] >= 7  # events, identity change events included
    clicked = {e["event_name"]: (e["inbound"], e["outbound"]) for e in conn["events"]}
    assert clicked["Clicked e2e-0"] == (1, 1)
    bad = httpx.get(api(server, "/reports/forwarding"), headers=h, params={"hour": 24})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "hour"


def test_outbound_live_stream_sse(server: FermionProcess, partner: Recorder) -> None:
    url = api(server, "/livestream/outbound/stream")
    seen: list[dict[str, Any]] = []
    ready = threading.Event()

    def listen() -> None:
        with httpx.stream("GET", url, headers=server.admin_headers, params={"limit": 1}, timeout=20) as r:
            assert r.status_code == 200
            ready.set()
            for line in r.iter_lines():
                if line.startswith("data:"):
                    seen.append(json.loads(line[5:]))
                    if any("sse-probe" in e["body"] for e in seen):
                        return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    ready.wait(10)
    time.sleep(0.5)
    send(server, [a_batch("sse-probe")])
    t.join(20)
    assert any("sse-probe" in e["body"] for e in seen)
