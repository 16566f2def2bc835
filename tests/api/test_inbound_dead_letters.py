"""A batch that passed ingest but fails in the worker: after its maximum attempts it leaves the inbound log
for the inbound dead letters (inbound_pending does not stay stuck), shows in /readyz, /metrics and System
Alerts, is listed and replayed through the API and the CLI, and the other batches keep flowing.

The bad batch is written straight into the server's inbound log (the real adapter of the mode, as ingest
writes it) with a user attribute beyond 64-bit (which ingest refuses): it decodes, but cannot be stored."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx

from fermion.model.records import InboundRecord
from fermion.scaleout import open_inbound, start_inbound
from fermion.services.metrics import Metrics
from fermion.settings import from_env
from support.fermion_proc import FermionProcess, run_cli
from support.servers import module_server
from support.waiting import wait_until

MAX_ATTEMPTS = 3
POISON_BATCH_ID = 2**62 + 12


server = module_server("inbound-dead", more_env={"FERMION_NATS_MAX_DELIVER": str(MAX_ATTEMPTS)})


def batch(name: str) -> dict[str, Any]:
    return {
        "environment": "development",
        "mpid": 4242,
        "events": [
            {
                "event_type": "custom_event",
                "data": {
                    "event_name": name,
                    "custom_event_type": "other",
                    "timestamp_unixtime_ms": 1_700_000_000_000,
                },
            }
        ],
    }


def send(server: FermionProcess, name: str) -> None:
    key, secret = server.input_creds()
    auth = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
    r = httpx.post(
        f"{server.base_url}/v2/events",
        content=json.dumps(batch(name)),
        headers={"Authorization": auth},
        timeout=30,
    )
    assert r.status_code == 202, r.text


def append_poison(server: FermionProcess) -> None:
    custom = next(i for i in server.info["inputs"] if i["platform"] == "custom")
    record = InboundRecord(
        batch_id=POISON_BATCH_ID,
        workspace_id=server.workspace_id,
        input_id=int(custom["id"]),
        environment="development",
        received_ms=1_700_000_000_000,
        source_ip="127.0.0.1",
        request_id="poison",
        historical=False,
        payload=json.dumps({**batch("poison"), "user_attributes": {"huge": 2**64}}).encode(),
    )

    async def write() -> None:
        inbound = open_inbound(from_env(data_dir=server.data_dir), Metrics("test"))
        await start_inbound(inbound)
        await inbound.append([record])
        await inbound.close()

    asyncio.run(write())


def dead_letters(server: FermionProcess) -> dict[str, Any]:
    r = httpx.get(
        f"{server.base_url}/api/v1/workspaces/{server.workspace_id}/inbound/dead-letters",
        headers=server.admin_headers,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def readyz(server: FermionProcess) -> dict[str, Any]:
    found: dict[str, Any] = httpx.get(f"{server.base_url}/readyz", timeout=30).json()
    return found


def metric(server: FermionProcess, name: str) -> float | None:
    for line in httpx.get(f"{server.base_url}/metrics", timeout=30).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def alerts(server: FermionProcess) -> dict[str, Any]:
    r = httpx.get(
        f"{server.base_url}/api/v1/workspaces/{server.workspace_id}/alerts",
        headers=server.admin_headers,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()["inbound"]
    return found


def replay(server: FermionProcess, body: dict[str, Any] | None) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/api/v1/workspaces/{server.workspace_id}/inbound/dead-letters/replay",
        json=body,
        headers=server.admin_headers,
        timeout=30,
    )


def settled_with_one_dead_letter(server: FermionProcess) -> bool:
    ready = readyz(server)
    return (
        dead_letters(server)["count"] == 1
        and ready.get("inbound_dead_letters") == 1
        and ready.get("inbound_pending") == 0
        and metric(server, "fermion_inbound_dead_letters") == 1.0
    )


def test_a_batch_failing_in_the_worker_is_dead_lettered_shown_and_replayed(server: FermionProcess) -> None:
    send(server, "before")
    append_poison(server)
    send(server, "after")
    assert len(server.wait_for_events(2, timeout_s=60)) == 2  # the bad batch holds back nothing

    assert wait_until(lambda: settled_with_one_dead_letter(server), timeout_s=90), (
        dead_letters(server),
        readyz(server),
    )
    [letter] = dead_letters(server)["dead_letters"]
    assert letter["batch_id"] == POISON_BATCH_ID and letter["request_id"] == "poison"
    # At least the maximum: in scale-out an attempt is a NATS delivery, and on a loaded machine a
    # delivery whose processing outlasts the ack wait is delivered again, which counts too.
    assert letter["attempts"] >= MAX_ATTEMPTS and letter["reason"] and letter["dead_ms"] > 0
    assert json.loads(letter["payload"])["events"][0]["data"]["event_name"] == "poison"
    assert wait_until(lambda: alerts(server)["volume"] == 1, timeout_s=30)
    assert (
        alerts(server)["type"] == "inbound_dead_letters"
        and alerts(server)["last_message"] == letter["reason"]
    )

    listed = run_cli(
        server.data_dir, "inbound", "dead-letters", "list", "--workspace", str(server.workspace_id)
    )
    assert listed["count"] == 1 and [d["id"] for d in listed["dead_letters"]] == [letter["id"]]

    # Replayed by id through the API: back in the log, it fails its attempts again and returns.
    r = replay(server, {"ids": [letter["id"]]})
    assert r.status_code == 200 and r.json() == {"replayed": 1}
    assert wait_until(lambda: settled_with_one_dead_letter(server), timeout_s=90)
    [again] = dead_letters(server)["dead_letters"]
    assert again["batch_id"] == POISON_BATCH_ID and again["id"] != letter["id"]

    # Replayed through the CLI; meanwhile the other batches flow.
    replayed = run_cli(server.data_dir, "inbound", "dead-letters", "replay", "--id", str(again["id"]))
    assert replayed == {"replayed": 1}
    send(server, "during")
    assert len(server.wait_for_events(3, timeout_s=60)) == 3
    assert wait_until(lambda: settled_with_one_dead_letter(server), timeout_s=90)
    assert len(server.events()) == 3  # only the good batches were ever stored
    assert replay(server, None).json() == {"replayed": 1}  # no body: all of the workspace's
    assert wait_until(lambda: settled_with_one_dead_letter(server), timeout_s=90)


def test_dead_letter_routes_check_the_token_and_the_input(server: FermionProcess) -> None:
    base = f"{server.base_url}/api/v1/workspaces/{server.workspace_id}/inbound/dead-letters"
    assert httpx.get(base, timeout=30).status_code == 401
    other = f"{server.base_url}/api/v1/workspaces/999999/inbound/dead-letters"
    assert httpx.get(other, headers=server.admin_headers, timeout=30).status_code == 404
    huge = f"{server.base_url}/api/v1/workspaces/{2**64}/inbound/dead-letters"
    assert httpx.get(huge, headers=server.admin_headers, timeout=30).status_code == 400
    for body in ({"ids": [0]}, {"ids": "all"}, {"ids": [2**64]}, {"other": 1}):
        r = replay(server, body)
        assert r.status_code == 400, (body, r.text)
    assert replay(server, {"ids": []}).json() == {"replayed": 0}
