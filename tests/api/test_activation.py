"""Activation starts at once, and profiles show audience memberships, through a real server whose
audience job re-checks only every 5 minutes: an audience activated over HTTP or the CLI is calculated
(and its members listed by the Profile API and User Activity) long before that tick; a user who
qualifies right after activation joins in real time. Size and members say "calculating" until the
first calculation is done (seen with no worker running); `activate --wait` for audiences and
calculated attributes; `fermion audiences activate|deactivate|delete --json`."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.fermion_proc import FermionProcess, fermion_cmd, run_cli
from support.servers import module_server
from support.waiting import wait_until

# The audience job's re-check runs every RECHECK_S; before this change calculations waited for it too.
# Everything below is polled with a deadline of at most DEADLINE_S, well before the next tick.
RECHECK_S = 300
DEADLINE_S = 90


server = module_server("activation", more_env={"FERMION_AUDIENCE_RECHECK_S": str(RECHECK_S)})


def send(server: FermionProcess, customer: str, **attributes: Any) -> None:
    key, secret = server.input_creds()
    batch = {
        "environment": "production",
        "user_identities": {"customerid": customer},
        "user_attributes": attributes,
        "events": [
            {"event_type": "custom_event", "data": {"event_name": "Visit", "custom_event_type": "other"}}
        ],
    }
    auth = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
    r = httpx.post(f"{server.base_url}/v2/events", json=batch, headers={"Authorization": auth}, timeout=30)
    assert r.status_code == 202, r.text


def tier_criteria(tier: str) -> dict[str, Any]:
    condition = {"type": "string", "operator": "exact_match", "value": tier}
    return {"user_attribute": {"name": "tier", "condition": condition}}


def audiences(server: FermionProcess, method: str, path: str = "", **kw: Any) -> httpx.Response:
    url = f"{server.base_url}/api/v1/workspaces/{server.workspace_id}/audiences{path}"
    return httpx.request(method, url, headers=server.admin_headers, timeout=30, **kw)


def mpid_of(server: FermionProcess, customer: str) -> str:
    """The user's MPID, once the worker has stored their batch (IDSync lookup of the workspace)."""
    url = f"{server.base_url}/api/v1/workspaces/{server.workspace_id}/identity/lookup"
    params = {"identity_type": "customerid", "value": customer}

    def found() -> str | None:
        r = httpx.get(url, params=params, headers=server.admin_headers, timeout=30)
        return str(r.json()["mpid"]) if r.status_code == 200 else None

    mpid = wait_until(found, DEADLINE_S)
    assert mpid, customer
    return mpid


def profile_memberships(server: FermionProcess, mpid: str) -> list[dict[str, Any]]:
    info = server.info
    ids = f"{info['organization_id']}/{info['account_id']}/{server.workspace_id}"
    url = f"{server.base_url}/userprofile/v1/{ids}/{mpid}"
    r = httpx.get(url, params={"fields": "audience_memberships"}, headers=server.admin_headers, timeout=30)
    assert r.status_code == 200, r.text
    return list(r.json()["audience_memberships"])


def activity_memberships(server: FermionProcess, mpid: str) -> list[dict[str, Any]]:
    url = f"{server.base_url}/api/v1/workspaces/{server.workspace_id}/activity/users/{mpid}"
    r = httpx.get(url, headers=server.admin_headers, timeout=30)
    assert r.status_code == 200, r.text
    return list(r.json()["audience_memberships"])


def test_activated_audience_shows_on_profiles_before_the_tick(server: FermionProcess) -> None:
    ann, bob = f"ann-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    send(server, ann, tier="gold")
    ann_mpid = mpid_of(server, ann)
    name = f"Gold {uuid.uuid4().hex[:6]}"
    r = audiences(server, "POST", json={"name": name, "criteria": tier_criteria("gold")})
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    assert profile_memberships(server, ann_mpid) == []  # a draft has no members
    assert audiences(server, "POST", f"/{aid}/activate").status_code == 202

    def status() -> str:
        return str(audiences(server, "GET", f"/{aid}").json()["status"])

    assert wait_until(lambda: status() == "active", DEADLINE_S), status()
    expected = [{"audience_id": aid, "audience_name": name, "expiration_timestamp_ms": None}]
    assert wait_until(lambda: profile_memberships(server, ann_mpid) == expected, DEADLINE_S)
    (listed,) = activity_memberships(server, ann_mpid)
    assert (listed["audience_id"], listed["audience_name"], listed["kind"]) == (aid, name, "real_time")
    assert listed["joined_ms"] > 0
    members = audiences(server, "GET", f"/{aid}/members").json()
    assert [m["mpid"] for m in members["members"]] == [ann_mpid] and members["status"] == "active"
    size = audiences(server, "GET", f"/{aid}/size").json()
    assert (size["estimated_size"], size["status"]) == (1, "active")

    # A user who qualifies right after activation joins in real time.
    send(server, bob, tier="gold")
    bob_mpid = mpid_of(server, bob)
    assert wait_until(lambda: profile_memberships(server, bob_mpid) == expected, DEADLINE_S)
    assert [m["audience_id"] for m in activity_memberships(server, bob_mpid)] == [aid]

    # Deactivated: no longer one of the user's current audiences.
    r = audiences(server, "POST", f"/{aid}/deactivate")
    assert r.status_code == 200 and r.json()["status"] == "inactive", r.text
    assert profile_memberships(server, ann_mpid) == [] and activity_memberships(server, ann_mpid) == []
    r = audiences(server, "POST", f"/{aid}/deactivate")
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "status"
    assert audiences(server, "GET", f"/{aid}/size").json()["status"] == "inactive"


def cli(server: FermionProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        fermion_cmd(*args, "--data-dir", str(server.data_dir), "--json"),
        capture_output=True,
        text=True,
        env={**os.environ, **server.env},
        timeout=DEADLINE_S + 60,
        check=False,
    )


def test_audiences_cli_activate_wait_deactivate_delete(server: FermionProcess) -> None:
    ws = str(server.workspace_id)
    eve = f"eve-{uuid.uuid4().hex[:6]}"
    send(server, eve, tier="silver")
    eve_mpid = mpid_of(server, eve)
    criteria = json.dumps(tier_criteria("silver"))
    created = run_cli(
        server.data_dir, "audiences", "create", "--workspace", ws, "--name", "Silver", "--criteria", criteria
    )
    assert created["status"] == "draft"
    aid = str(created["id"])
    done = cli(server, "audiences", "activate", "--workspace", ws, "--audience", aid, "--wait")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "active"
    assert f"audience {aid}: active 100.0%" in done.stderr  # progress lines on stderr
    members = run_cli(server.data_dir, "audiences", "members", "--workspace", ws, "--audience", aid)
    assert [m["mpid"] for m in members["members"]] == [eve_mpid] and members["status"] == "active"
    assert [m["audience_id"] for m in profile_memberships(server, eve_mpid)] == [int(aid)]
    again = cli(server, "audiences", "activate", "--workspace", ws, "--audience", aid, "--wait")
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "active", again.stderr
    off = run_cli(server.data_dir, "audiences", "deactivate", "--workspace", ws, "--audience", aid)
    assert off["status"] == "inactive"
    refused = cli(server, "audiences", "deactivate", "--workspace", ws, "--audience", aid)
    assert refused.returncode == 1 and "inactive" in refused.stderr
    gone = run_cli(server.data_dir, "audiences", "delete", "--workspace", ws, "--audience", aid)
    assert gone == {"id": int(aid), "deleted": True}
    listed = run_cli(server.data_dir, "audiences", "list", "--workspace", ws)["audiences"]
    assert int(aid) not in {a["id"] for a in listed}
    missing = cli(server, "audiences", "delete", "--workspace", ws, "--audience", aid)
    assert missing.returncode == 1 and "no audience" in missing.stderr


def test_calculated_attribute_cli_activate_wait(server: FermionProcess) -> None:
    ws = str(server.workspace_id)
    customer = f"spender-{uuid.uuid4().hex[:6]}"
    send(server, customer)
    mpid = mpid_of(server, customer)
    draft = {
        "recipe_type": "event",
        "datapoint": {"type": "event", "event_type": "custom_event", "event_name": "Visit"},
        "calculation_type": "count",
        "conditions": [],
        "time_period": {"type": "since", "date": "2020-01-01T00:00:00"},
    }
    name = f"Visits {uuid.uuid4().hex[:6]}"
    created = run_cli(
        server.data_dir,
        "calculated-attributes",
        "create",
        "--workspace",
        ws,
        "--name",
        name,
        "--definition",
        json.dumps(draft),
    )
    done = cli(
        server, "calculated-attributes", "activate", "--workspace", ws, "--id", str(created["id"]), "--wait"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["calculation_status"]["status"] == "completed"
    assert "completed 100.0%" in done.stderr
    info = server.info
    url = f"{server.base_url}/userprofile/v1/{info['organization_id']}/{info['account_id']}/{ws}/{mpid}"
    r = httpx.get(url, params={"fields": "user_attributes"}, headers=server.admin_headers, timeout=30)
    assert r.json()["user_attributes"][name] == "1"


@pytest.fixture()
def stopped(tmp_path: Path) -> Iterator[FermionProcess]:
    """A server that is initialised but started only by the test (so nothing calculates before)."""
    proc = FermionProcess(tmp_path / "stopped")
    proc.env = {**proc.env, "FERMION_AUDIENCE_RECHECK_S": str(RECHECK_S)}
    proc.init()
    try:
        yield proc
    finally:
        proc.stop()


def test_size_and_members_say_calculating_until_the_first_calculation(stopped: FermionProcess) -> None:
    ws = str(stopped.workspace_id)
    criteria = json.dumps(tier_criteria("gold"))
    created = run_cli(
        stopped.data_dir, "audiences", "create", "--workspace", ws, "--name", "Early", "--criteria", criteria
    )
    aid = str(created["id"])
    # No worker runs: the activation is recorded, --wait gives up after its timeout.
    waited = cli(
        stopped, "audiences", "activate", "--workspace", ws, "--audience", aid, "--wait", "--timeout", "1"
    )
    assert waited.returncode == 1 and "still calculating" in waited.stderr, waited.stderr
    assert f"audience {aid}: calculating 0.0%" in waited.stderr
    size = run_cli(stopped.data_dir, "audiences", "size", "--workspace", ws, "--audience", aid)
    assert (size["status"], size["size"]) == ("calculating", None)
    members = run_cli(stopped.data_dir, "audiences", "members", "--workspace", ws, "--audience", aid)
    assert (members["status"], members["members"]) == ("calculating", [])
    stopped.start()
    r = audiences(stopped, "GET", f"/{aid}/size")
    assert r.status_code == 200, r.text
    assert r.json()["status"] in ("calculating", "active")
    if r.json()["status"] == "calculating":
        assert r.json()["estimated_size"] is None
        assert audiences(stopped, "GET", f"/{aid}/members").json() == {
            "members": [],
            "next_after": None,
            "status": "calculating",
            "percent": 0.0,
        }

    def settled() -> dict[str, Any] | None:
        body: dict[str, Any] = audiences(stopped, "GET", f"/{aid}/size").json()
        return body if body["status"] == "active" else None

    assert wait_until(settled, DEADLINE_S) == {
        "audience_id": int(aid),
        "estimated_size": 0,
        "status": "active",
    }
