"""Workspace boundaries of profiles over HTTP: the Profile API, User Activity and the identity lookup
routes of a workspace answer only about that workspace's users (a profile there, or an MPID IDSync
created through it), though identities belong to the organization. A token limited to workspace 1
gets 404 for a user who exists only in workspace 2; the same user is there for workspace 2."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import pytest

from fermion.adapters.sql import SqlConfigStore, make_engine
from support.fermion_proc import FermionProcess, run_cli
from support.waiting import wait_until


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_for(fermion: FermionProcess, *workspaces: int) -> str:
    args = [a for ws in workspaces for a in ("--workspace", str(ws))]
    client = run_cli(fermion.data_dir, "credentials", "create", *args, env=fermion.env)
    body = {"grant_type": "client_credentials", **{k: client[k] for k in ("client_id", "client_secret")}}
    r = httpx.post(fermion.base_url + "/oauth/token", json=body, timeout=30)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def send(fermion: FermionProcess, creds: tuple[str, str], batch: dict[str, Any]) -> None:
    auth = "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
    r = httpx.post(fermion.base_url + "/v2/events", json=batch, headers={"Authorization": auth}, timeout=30)
    assert r.status_code == 202, r.text


def batch(customer: str, **extra: Any) -> dict[str, Any]:
    tap = {"event_type": "custom_event", "data": {"event_name": "tap", "custom_event_type": "other"}}
    return {
        "environment": "development",
        "user_identities": {"customerid": customer},
        "events": [tap],
        **extra,
    }


class Workspace:
    """The routes of one workspace, called with one token."""

    def __init__(self, fermion: FermionProcess, ws: int, token: str) -> None:
        info = fermion.info
        self.base_url = f"{fermion.base_url}/userprofile/v1"
        self.ids = f"{info['organization_id']}/{info['account_id']}/{ws}"
        self.admin_base = f"{fermion.base_url}/api/v1/workspaces/{ws}"
        self.ws = ws
        self.headers = bearer(token)

    def profile(self, mpid: str) -> httpx.Response:
        fields = {"fields": "user_identities,user_attributes"}
        return httpx.get(
            f"{self.base_url}/{self.ids}/{mpid}", params=fields, headers=self.headers, timeout=30
        )

    def resolve(self, customer: str) -> httpx.Response:
        body = {"environment_type": "development", "identity": {"type": "customer_id", "value": customer}}
        url = f"{self.base_url}/resolve/{self.ids}"
        return httpx.post(
            url, params={"fields": "user_attributes"}, json=body, headers=self.headers, timeout=30
        )

    def get(self, path: str, **params: str) -> httpx.Response:
        return httpx.get(self.admin_base + path, params=params, headers=self.headers, timeout=30)

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(self.admin_base + path, json=body, headers=self.headers, timeout=30)

    def search(self, q: str) -> list[str]:
        r = self.get("/activity/search", q=q)
        assert r.status_code == 200, r.text
        return [p["mpid"] for p in r.json()["profiles"]]


@pytest.fixture(scope="module")
def second(fermion: FermionProcess) -> tuple[int, tuple[str, str]]:
    """A second workspace of the same account, and the key and secret of an input there."""
    url = fermion.env.get("FERMION_DATABASE_URL") or f"sqlite:///{fermion.data_dir / 'fermion.db'}"
    ws = SqlConfigStore(make_engine(url)).create_workspace(fermion.info["account_id"], "Second")
    created = run_cli(fermion.data_dir, "inputs", "create", "--workspace", str(ws.id), env=fermion.env)
    return ws.id, (created["key"], created["secret"])


def test_a_workspace_token_reads_only_its_workspace_users(
    fermion: FermionProcess, second: tuple[int, tuple[str, str]]
) -> None:
    ws2, creds2 = second
    ws1 = fermion.workspace_id
    only2, mine = f"only2-{uuid.uuid4().hex[:8]}", f"mine-{uuid.uuid4().hex[:8]}"
    send(fermion, creds2, batch(only2, user_attributes={"where": "two"}))
    send(fermion, fermion.input_creds(), batch(mine, user_attributes={"where": "one"}))
    org = Workspace(fermion, ws2, token_for(fermion))
    found = wait_until(lambda: org.resolve(only2).status_code == 200 and org.resolve(only2).json())
    assert found, org.resolve(only2).text
    other = str(found["mpid"])
    limited = Workspace(fermion, ws1, token_for(fermion, ws1))
    own = wait_until(lambda: limited.resolve(mine).status_code == 200 and limited.resolve(mine).json())
    assert own, limited.resolve(mine).text
    own_mpid = str(own["mpid"])

    # The workspace's own user: every route answers.
    assert limited.profile(own_mpid).json()["user_attributes"] == {"where": "one"}
    assert limited.get(f"/activity/users/{own_mpid}").status_code == 200
    assert limited.search(mine) == [own_mpid]
    r = limited.get(f"/identity/profiles/{own_mpid}")
    assert {"identity_type": "customer_id", "value": mine} in r.json()["identities"]
    assert limited.get("/identity/lookup", identity_type="customerid", value=mine).json() == {
        "mpid": own_mpid
    }

    # Workspace 2's user, asked of workspace 1: nobody there.
    for r, field in (
        (limited.profile(other), "mpid"),
        (limited.resolve(only2), "identity"),
        (limited.get(f"/activity/users/{other}"), "mpid"),
        (limited.get(f"/identity/profiles/{other}"), "mpid"),
        (limited.get("/identity/lookup", identity_type="customerid", value=only2), "value"),
        (limited.post(f"/activity/users/{other}/attributes", edit(fermion, {"x": 1})), "mpid"),
    ):
        assert r.status_code == 404, r.text
        assert r.json()["errors"][0]["field"] == field, r.text
        assert only2 not in r.text
    assert limited.search(only2) == [] and limited.search(other) == []
    # Asked with an organization token, workspace 1 still does not hold the user; workspace 2 does.
    org1 = Workspace(fermion, ws1, org.headers["Authorization"].split()[1])
    assert org1.profile(other).status_code == 404 and org1.search(only2) == []
    assert org.profile(other).json()["user_attributes"] == {"where": "two"}
    assert org.get(f"/activity/users/{other}").status_code == 200
    assert org.search(only2) == [other]
    assert org.get("/identity/lookup", identity_type="customerid", value=only2).json() == {"mpid": other}


def edit(fermion: FermionProcess, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"input_id": fermion.info["inputs"][0]["id"], "user_attributes": attributes}


def test_a_user_seen_in_both_workspaces_is_in_both(
    fermion: FermionProcess, second: tuple[int, tuple[str, str]]
) -> None:
    """Once a batch of workspace 1 carries the user, workspace 1 has a profile of its own (attributes
    per workspace, identities of the organization)."""
    ws2, creds2 = second
    ws1 = fermion.workspace_id
    customer = f"both-{uuid.uuid4().hex[:8]}"
    send(fermion, creds2, batch(customer, user_attributes={"where": "two"}))
    org = Workspace(fermion, ws2, token_for(fermion))
    found = wait_until(lambda: org.resolve(customer).status_code == 200 and org.resolve(customer).json())
    assert found
    mpid = str(found["mpid"])
    limited = Workspace(fermion, ws1, token_for(fermion, ws1))
    assert limited.profile(mpid).status_code == 404
    send(
        fermion, fermion.input_creds(), {**batch(customer), "mpid": mpid, "user_attributes": {"where": "one"}}
    )
    assert wait_until(lambda: limited.profile(mpid).status_code == 200), limited.profile(mpid).text
    body = limited.profile(mpid).json()
    assert body["user_attributes"] == {"where": "one"}
    assert {"type": "customer_id", "encoding": "none", "value": customer} in body["user_identities"]


def test_idsync_users_belong_to_the_workspace_they_were_identified_in(
    fermion: FermionProcess, second: tuple[int, tuple[str, str]]
) -> None:
    """A user IDSync created through workspace 1's input, before any batch: workspace 1's, not 2's."""
    ws2, _ = second
    customer = f"idsync-{uuid.uuid4().hex[:8]}"
    r = httpx.post(
        fermion.base_url + "/v1/identify",
        json={"environment": "development", "known_identities": {"customerid": customer}},
        headers={"x-mp-key": fermion.input_creds("web")[0]},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    mpid = r.json()["mpid"]
    token = token_for(fermion)
    one, two = Workspace(fermion, fermion.workspace_id, token), Workspace(fermion, ws2, token)
    assert one.get(f"/identity/profiles/{mpid}").status_code == 200
    assert one.profile(mpid).status_code == 200
    assert two.get(f"/identity/profiles/{mpid}").status_code == 404
    assert two.get("/identity/lookup", identity_type="customerid", value=customer).status_code == 404
    assert two.profile(mpid).status_code == 404
