"""Calculated attributes end to end over HTTP: create → activate → the backfill completes → values in
the Profile API and User Activity → new batches update them incrementally (and ride on the batch) →
the CA Seeding API; plus validation errors, auth and the workspace check."""

from __future__ import annotations

import base64
import os
import subprocess
import time
from typing import Any

import httpx
import pytest

from support.fermion_proc import FermionProcess, fermion_cmd, run_cli
from support.waiting import wait_until

NOW = int(time.time() * 1000)
DAY = 86_400_000


def basic(key: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


def purchase(mpid: int, amount: float, ts: int, category: str = "shoes") -> dict[str, Any]:
    data = {
        "event_name": "Purchase",
        "custom_event_type": "transaction",
        "timestamp_unixtime_ms": ts,
        "custom_attributes": {"amount": str(amount), "category": category},
    }
    return {
        "mpid": str(mpid),
        "environment": "production",
        "events": [{"event_type": "custom_event", "data": data}],
    }


def definition(ctype: str, attribute: str | None = "amount", **period: Any) -> dict[str, Any]:
    point: dict[str, Any] = {"type": "event", "event_type": "custom_event", "event_name": "Purchase"}
    if attribute is not None:
        point = {**point, "type": "event_attribute", "attribute_name": attribute}
    return {
        "recipe_type": "event",
        "datapoint": point,
        "calculation_type": ctype,
        "conditions": [],
        "time_period": period or {"type": "since", "date": "2020-01-01T00:00:00"},
    }


class Api:
    def __init__(self, fermion: FermionProcess) -> None:
        self.f = fermion
        self.base = f"{fermion.base_url}/platform/v2/workspaces/{fermion.workspace_id}/calculatedattributes"

    def call(self, method: str, path: str = "", **kw: Any) -> httpx.Response:
        return httpx.request(method, self.base + path, headers=self.f.admin_headers, timeout=30, **kw)

    def send(self, batches: list[dict[str, Any]]) -> None:
        r = httpx.post(
            self.f.base_url + "/v2/bulkevents", json=batches, headers=basic(*self.f.input_creds()), timeout=30
        )
        assert r.status_code == 202, r.text

    def profile_attrs(self, mpid: int) -> dict[str, Any]:
        info = self.f.info
        url = (
            f"{self.f.base_url}/userprofile/v1/{info['organization_id']}/{info['account_id']}/"
            f"{self.f.workspace_id}/{mpid}?fields=user_attributes"
        )
        r = httpx.get(url, headers=self.f.admin_headers, timeout=30)
        if r.status_code != 200:
            return {}
        attrs: dict[str, Any] = r.json().get("user_attributes") or {}
        return attrs


@pytest.fixture(scope="module")
def api(fermion: FermionProcess) -> Api:
    return Api(fermion)


def test_end_to_end(api: Api, fermion: FermionProcess) -> None:
    # History stored before the CAs exist.
    api.send(
        [purchase(1001, 10, NOW - 3 * DAY), purchase(1001, 5.5, NOW - DAY, "hats"), purchase(1002, 7, NOW)]
    )
    assert len(fermion.wait_for_events(3)) >= 3
    ids = {}
    for name, body in {
        "Spent": definition("sum"),
        "Buys this week": definition("count", None, type="within", within=1, within_unit="weeks"),
        "Categories": definition("unique_list", "category"),
        "Favourite": definition("most_frequent", "category"),
    }.items():
        r = api.call("POST", json={"name": name, "description": "d", "draft_definition": body})
        assert r.status_code == 200, r.text
        ids[name] = r.json()
        assert isinstance(ids[name], int)
    assert api.call("HEAD", params={"name": "Spent"}).status_code == 204
    assert api.call("HEAD", params={"name": "nope"}).status_code == 404
    assert [c["name"] for c in api.call("GET", params={"name": "Spent"}).json()] == ["Spent"]
    one = api.call("GET", f"/{ids['Spent']}").json()
    assert one["draft_definition"]["calculation_type"] == "sum" and one["active_definition"] is None
    for ca_id in ids.values():
        assert api.call("POST", f"/{ca_id}/activation").status_code == 204

    def completed() -> bool:
        return all(api.call("GET", f"/{i}/calculation").json()["status"] == "completed" for i in ids.values())

    assert wait_until(completed), api.call("GET", f"/{ids['Spent']}/calculation").json()
    status = api.call("GET", f"/{ids['Spent']}/calculation").json()
    assert status["progress"] == 100 and status["estimated_completion"]
    activation = api.call("GET", f"/{ids['Spent']}/activation").json()
    assert activation["is_activated"] is True and activation["activated_on"]
    assert wait_until(lambda: api.profile_attrs(1001).get("Spent") == "15.5"), api.profile_attrs(1001)
    attrs = api.profile_attrs(1001)
    assert attrs["Buys this week"] == "2" and attrs["Categories"] == ["hats", "shoes"]
    assert attrs["Favourite"] == "hats"  # a tie: alphabetical first
    # Incremental: a new batch updates the values and carries the synchronous ones.
    api.send([purchase(1001, 4.5, NOW, "shoes")])
    assert wait_until(lambda: api.profile_attrs(1001).get("Spent") == "20")
    assert api.profile_attrs(1001)["Favourite"] == "shoes"
    stored = wait_until(lambda: [e for e in fermion.events(mpid=1001) if e.get("timestamp_ms") == NOW])
    assert stored
    activity = httpx.get(
        f"{fermion.base_url}/api/v1/workspaces/{fermion.workspace_id}/activity/users/1001",
        headers=fermion.admin_headers,
        timeout=30,
    ).json()
    calculated = {a["name"]: a["value"] for a in activity["user_attributes"] if a.get("calculated")}
    assert calculated["Spent"] == "20" and calculated["Buys this week"] == "3"
    # Seeding: one user by MPID, combined with live events on or after the cutoff.
    seed = {
        "environment": "production",
        "mpid": 1002,
        "calculated_attributes": {
            "workspace": [
                {
                    "attribute_name": "Spent",
                    "calculation_type": "sum",
                    "cutoff_date": _day(NOW),
                    "seed": {"value": 100},
                }
            ]
        },
        "user_attributes": {"workspace": [{"attribute_name": "User Tier", "attribute_value": "Free"}]},
    }
    r = httpx.post(
        fermion.base_url + "/v2/calculatedattributes",
        json=seed,
        headers=basic(*fermion.input_creds()),
        timeout=30,
    )
    assert r.status_code == 202, r.text
    assert api.profile_attrs(1002)["Spent"] == "107"
    assert wait_until(lambda: api.profile_attrs(1002).get("User Tier") == "Free")  # sent as a batch
    bad = {
        **seed,
        "calculated_attributes": {"workspace": [{"attribute_name": "Spent", "seed": {"value": "x"}}]},
    }
    r = httpx.post(
        fermion.base_url + "/v2/bulkcalculatedattributes",
        json=[seed, bad],
        headers=basic(*fermion.input_creds()),
        timeout=30,
    )
    assert r.status_code == 400 and r.json()["errors"][0]["message"].startswith("Spent: ")
    assert httpx.post(fermion.base_url + "/v2/calculatedattributes", json=seed, timeout=30).status_code == 401
    wrong = basic(fermion.input_creds()[0], "wrong")
    r = httpx.post(fermion.base_url + "/v2/calculatedattributes", json=seed, headers=wrong, timeout=30)
    assert r.status_code == 403


def _day(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))


def test_validation_errors_name_the_field(api: Api) -> None:
    body = definition("count", None)
    body["conditions"] = [{"type": "string", "operator": "in_list", "attribute_name": "a", "value": "x"}]
    r = api.call("POST", json={"name": "Bad", "draft_definition": body})
    fields = {e["field"] for e in r.json()["errors"]}
    assert r.status_code == 400 and fields == {
        "draft_definition.conditions[0].values",
        "draft_definition.conditions[0].value",
    }
    r = api.call("POST", json={"name": "All", "draft_definition": definition("sum", type="all")})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "draft_definition.time_period.type"
    assert api.call("POST", content=b"{not json").status_code == 400
    assert (
        api.call("POST", json={"draft_definition": definition("sum")}).json()["errors"][0]["field"] == "name"
    )
    assert api.call("GET", "/999999").status_code == 404
    assert api.call("GET", "/99999999999999999999").status_code == 400
    assert api.call("PUT", "/1", json=[1]).status_code in (400, 404)
    assert api.call("DELETE", "/999999").status_code == 404


def test_update_rename_draft_and_delete(api: Api) -> None:
    ca_id = api.call("POST", json={"name": "Temp", "draft_definition": definition("max")}).json()
    assert api.call("PUT", f"/{ca_id}", json={"name": "Temp2", "description": "x"}).status_code == 204
    assert api.call("GET", f"/{ca_id}").json()["name"] == "Temp2"
    assert api.call("POST", f"/{ca_id}/activation").status_code == 204
    r = api.call("PUT", f"/{ca_id}", json={"name": "Temp3"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "name"
    assert api.call("PUT", f"/{ca_id}", json={"draft_definition": definition("min")}).status_code == 204
    assert api.call("DELETE", f"/{ca_id}/draft").status_code == 204
    got = api.call("GET", f"/{ca_id}").json()
    assert got["draft_definition"] is None and got["active_definition"]["calculation_type"] == "max"
    assert api.call("DELETE", f"/{ca_id}").status_code == 204
    assert api.call("DELETE", f"/{ca_id}").status_code == 404


def test_auth_and_workspace_check(api: Api, fermion: FermionProcess) -> None:
    assert httpx.get(api.base, timeout=30).status_code == 401
    other = f"{fermion.base_url}/platform/v2/workspaces/999/calculatedattributes"
    assert httpx.get(other, headers=fermion.admin_headers, timeout=30).status_code == 404


def cli(fermion: FermionProcess, *args: str) -> Any:
    return run_cli(fermion.data_dir, "calculated-attributes", *args, env=fermion.env)


def test_cli(fermion: FermionProcess) -> None:
    ws = str(fermion.workspace_id)
    body = '{"calculation_type": "count", "data_point": {"type": "event", "event_type": "custom_event"}}'
    created = cli(
        fermion,
        "create",
        "--workspace",
        ws,
        "--name",
        "Cli",
        "--definition",
        body,
    )
    assert created["name"] == "Cli"
    listed = cli(fermion, "list", "--workspace", ws)
    assert "Cli" in [c["name"] for c in listed]
    activated = cli(fermion, "activate", "--workspace", ws, "--id", str(created["id"]))
    assert activated["activation_status"]["is_activated"] is True
    status = cli(fermion, "status", "--workspace", ws, "--id", str(created["id"]))
    assert status["status"] in ("calculating", "completed") and "estimated_completion" in status


def test_seeding_shares_the_events_api_rate_limit(fermion: FermionProcess) -> None:
    def set_limit(per_s: int) -> None:
        cmd = fermion_cmd("workspaces", "set-rate-limit", "--workspace", str(fermion.workspace_id))
        cmd += ["--per-second", str(per_s), "--data-dir", str(fermion.data_dir)]
        subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, **fermion.env}, timeout=120)
        time.sleep(0.6)  # the API re-reads workspace settings (TTL 0.3 s in tests)

    set_limit(3)
    try:
        # Counted per seeded user, before the body is looked at further: 5 users are over 3 per second.
        r = httpx.post(
            fermion.base_url + "/v2/bulkcalculatedattributes",
            json=[{"mpid": n} for n in range(5)],
            headers=basic(*fermion.input_creds()),
            timeout=30,
        )
        assert r.status_code == 429, r.text
        assert r.headers["Retry-After"].isdigit() and r.headers["X-mp-rate-limit-exceeded"] == "workspace"
        assert r.json()["errors"][0]["code"] == "TOO_MANY_REQUESTS"
    finally:
        set_limit(0)
