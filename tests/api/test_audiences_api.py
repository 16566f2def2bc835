"""Audiences end to end over HTTP: create, activate over stored history, real-time joins and drops as
batches arrive, members, size, metrics and history, time-based expiry, a standard audience, the
Platform API routes, auth and validation errors."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import httpx

from support.fermion_proc import FermionProcess, run_cli
from support.servers import module_server
from support.waiting import wait_until

server = module_server("audiences", more_env={"FERMION_AUDIENCE_RECHECK_S": "0.3"})


def send(
    server: FermionProcess,
    customer: str,
    events: list[dict[str, Any]],
    email: str | None = None,
    **attrs: Any,
) -> None:
    key, secret = server.input_creds()
    auth = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
    batch = {
        "environment": "production",
        "user_identities": {"customer_id": customer, **({"email": email} if email else {})},
        "user_attributes": attrs,
        "events": events,
    }
    r = httpx.post(server.base_url + "/v2/events", json=batch, headers={"Authorization": auth}, timeout=30)
    assert r.status_code == 202, r.text


def custom(name: str) -> dict[str, Any]:
    return {"event_type": "custom_event", "data": {"event_name": name, "custom_event_type": "transaction"}}


class Api:
    def __init__(self, server: FermionProcess) -> None:
        self.server = server
        self.base = f"{server.base_url}/api/v1/workspaces/{server.workspace_id}/audiences"

    def call(self, method: str, path: str = "", **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("headers", self.server.admin_headers)
        return httpx.request(method, self.base + path, timeout=30, **kwargs)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        r = self.call("POST", json=body)
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        return created

    def activate(self, audience_id: int, verb: str = "activate") -> None:
        r = self.call("POST", f"/{audience_id}/{verb}")
        assert r.status_code == 202, r.text
        assert wait_until(lambda: self.call("GET", f"/{audience_id}").json()["status"] == "active")

    def members(self, audience_id: int) -> dict[str, dict[str, Any]]:
        r = self.call("GET", f"/{audience_id}/members", params={"limit": 100})
        assert r.status_code == 200, r.text
        return {m["identities"].get("customer_id", m["mpid"]): m for m in r.json()["members"]}

    def wait_members(self, audience_id: int, expected: set[str]) -> dict[str, dict[str, Any]]:
        wait_until(lambda: set(self.members(audience_id)) == expected)
        found = self.members(audience_id)
        assert set(found) == expected
        return found


def stored(server: FermionProcess, count: int) -> None:
    assert len(server.wait_for_events(count, event_type="custom_event")) >= count


def test_real_time_audience_lifecycle(server: FermionProcess) -> None:
    api = Api(server)
    send(server, "ann", [custom("Buy"), custom("Buy")], tier="gold")
    send(server, "bob", [custom("Browse")], tier="gold")
    stored(server, 3)
    criteria = {
        "and": [
            {"event": {"type": "custom_event", "name": "buy"}},
            {
                "user_attribute": {
                    "name": "tier",
                    "condition": {"type": "string", "operator": "exact_match", "value": "GOLD"},
                }
            },
        ]
    }
    created = api.create({"name": "Gold buyers", "external_name": "gold_buyers", "criteria": criteria})
    assert created["status"] == "draft" and created["kind"] == "real_time"
    aid = created["id"]
    api.activate(aid)  # computed over the stored history
    members = api.wait_members(aid, {"ann"})
    assert members["ann"]["identities"]["mpid"] == members["ann"]["mpid"]

    send(server, "bob", [custom("Buy")])  # bob qualifies in real time
    api.wait_members(aid, {"ann", "bob"})
    assert api.call("GET", f"/{aid}/size").json()["estimated_size"] == 2
    send(server, "bob", [], email="bob@example.com")  # a member's identities change
    bob = wait_until(lambda: api.members(aid)["bob"]["identities"].get("email"))
    assert bob == "bob@example.com"

    send(server, "ann", [], tier="silver")  # ann no longer matches
    api.wait_members(aid, {"bob"})
    ann = wait_until(
        lambda: [m for m in api.call("GET", f"/{aid}/history").json()["history"] if m["action"] == "remove"]
    )
    history = api.call("GET", f"/{aid}/history", params={"mpid": ann[0]["mpid"]}).json()["history"]
    assert [h["action"] for h in history] == ["add", "remove"]
    bob_mpid = api.members(aid)["bob"]["mpid"]
    bob_history = api.call("GET", f"/{aid}/history", params={"mpid": bob_mpid}).json()["history"]
    assert [h["action"] for h in bob_history] == ["add", "identity_change"]
    metrics = api.call("GET", f"/{aid}/metrics").json()
    assert (metrics["size"], metrics["adds_24h"], metrics["drops_24h"]) == (1, 2, 1)
    assert metrics["volatility"] == 3.0


def test_membership_expires_with_time(server: FermionProcess) -> None:
    api = Api(server)
    # Qualifies for about 3 more seconds: the attribute date falls out of "within the last 1 day".
    almost = dt.datetime.now(dt.UTC) - dt.timedelta(days=1) + dt.timedelta(seconds=3)
    condition = {"type": "date", "operator": "within_last_days", "value": 1}
    created = api.create(
        {"name": "Recent", "criteria": {"user_attribute": {"name": "last_visit", "condition": condition}}}
    )
    api.activate(created["id"])
    send(server, "cat", [custom("Open")], last_visit=almost.isoformat())
    api.wait_members(created["id"], {"cat"})
    api.wait_members(created["id"], set())  # dropped by the time-based re-check
    actions = [h["action"] for h in api.call("GET", f"/{created['id']}/history").json()["history"]]
    assert actions == ["add", "remove"]


def test_standard_audience_calculate_and_send(server: FermionProcess) -> None:
    api = Api(server)
    send(server, "dan", [custom("Purchase")])
    stored(server, 1)
    body = {
        "name": "Purchasers",
        "kind": "standard",
        "criteria": {"event": {"type": "custom_event", "name": "Purchase", "window_days": 3650}},
    }
    created = api.create(body)
    assert api.call("POST", f"/{created['id']}/send").status_code == 409  # not calculated yet
    api.activate(created["id"], "calculate")
    assert set(api.members(created["id"])) == {"dan"}
    r = api.call("POST", f"/{created['id']}/send")
    assert r.status_code == 200 and r.json()["sent"] == 1


def test_platform_api_routes(server: FermionProcess) -> None:
    api = Api(server)
    created = api.create(
        {
            "name": "Doomed",
            "criteria": {"or": [{"identity": {"type": "email"}}, {"consent": {"regulation": "ccpa"}}]},
        }
    )
    account = server.info["account_id"]
    base = server.base_url + "/v1"
    listed = httpx.get(
        f"{base}/audiences", params={"accountId": account}, headers=server.admin_headers
    ).json()
    mine = next(a for a in listed if a["id"] == created["id"])
    assert mine["is_calculated"] is True and mine["connected_outputs"] == []
    assert mine["workspaces"][0]["workspace_id"] == server.workspace_id
    ws = httpx.get(
        f"{base}/workspace/{server.workspace_id}/audiences",
        params={"accountId": account},
        headers=server.admin_headers,
    )
    assert created["id"] in {a["id"] for a in ws.json()}
    r = httpx.delete(
        f"{base}/audiences/{created['id']}", params={"accountId": account}, headers=server.admin_headers
    )
    assert r.status_code == 204
    assert api.call("GET", f"/{created['id']}").status_code == 404
    missing = httpx.get(f"{base}/audiences", headers=server.admin_headers)
    assert missing.status_code == 400 and missing.json()["errors"][0]["field"] == "accountId"
    assert (
        httpx.get(
            f"{base}/audiences", params={"accountId": account + 999}, headers=server.admin_headers
        ).status_code
        == 404
    )


def test_auth_and_validation(server: FermionProcess) -> None:
    api = Api(server)
    assert api.call("GET", headers={}).status_code == 401
    assert api.call("GET", headers={"Authorization": "Bearer nope"}).status_code == 401
    other = f"{server.base_url}/api/v1/workspaces/{server.workspace_id + 99}/audiences"
    assert httpx.get(other, headers=server.admin_headers).status_code == 404
    bad = {
        "name": "x",
        "criteria": {
            "and": [
                {"user_attribute": {"name": "a", "condition": {"type": "string", "operator": "exists"}}},
                {"event": {"type": "custom_event", "window_days": 0}},
            ]
        },
    }
    r = api.call("POST", json=bad)
    assert r.status_code == 400
    assert [e["field"] for e in r.json()["errors"]] == ["criteria.and[1].event.window_days"]
    r = api.call("POST", json={"criteria": {"nope": {}}})
    assert {e["field"] for e in r.json()["errors"]} == {"name", "criteria.nope"}
    assert api.call("POST", json=[1, 2]).status_code == 400
    assert api.call("GET", "/999999").status_code == 404
    assert api.call("GET", "/999999/members").status_code == 404
    nested_base = api.create({"name": "base", "criteria": {"identity": {"type": "email"}}})
    ref = api.create({"name": "ref", "criteria": {"audience": {"id": nested_base["id"]}}})
    r = api.call("POST", json={"name": "nested", "criteria": {"audience": {"id": ref["id"]}}})
    assert r.status_code == 400 and "nest" in r.json()["errors"][0]["message"]


def test_cli(server: FermionProcess) -> None:
    ws = str(server.workspace_id)
    criteria = '{"event": {"type": "custom_event", "name": "Wave"}}'
    send(server, "eve", [custom("Wave")])
    stored(server, 1)
    created = run_cli(
        server.data_dir,
        "audiences",
        "create",
        "--workspace",
        ws,
        "--name",
        "Wavers",
        "--criteria",
        criteria,
        "--activate",
        env=server.env,
    )
    assert created["status"] == "calculating"
    aid = str(created["id"])
    assert aid in {
        str(a["id"])
        for a in run_cli(server.data_dir, "audiences", "list", "--workspace", ws, env=server.env)["audiences"]
    }
    Api(server).wait_members(int(aid), {"eve"})
    size = run_cli(server.data_dir, "audiences", "size", "--workspace", ws, "--audience", aid, env=server.env)
    assert size["size"] == 1
    members = run_cli(
        server.data_dir, "audiences", "members", "--workspace", ws, "--audience", aid, env=server.env
    )["members"]
    assert [m["identities"]["customer_id"] for m in members] == ["eve"]
