"""Profiles end to end over HTTP: OAuth tokens, the Profile API, the User Activity API, and batches
sent with the Events API (out of order, with user_attribute_change events stored)."""

from __future__ import annotations

import base64
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import jwt
import pytest

from fermion.adapters.sql import SqlConfigStore, make_engine
from support.fermion_proc import FermionProcess, run_cli
from support.waiting import wait_until

T0 = int(time.time() * 1000) - 3_600_000


def basic(key: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def send(fermion: FermionProcess, batch: dict[str, Any], creds: tuple[str, str] | None = None) -> None:
    r = httpx.post(
        fermion.base_url + "/v2/events",
        json=batch,
        headers=basic(*(creds or fermion.input_creds())),
        timeout=30,
    )
    assert r.status_code == 202, r.text


def event(ts: int, name: str = "tap") -> dict[str, Any]:
    data = {"event_name": name, "custom_event_type": "other", "timestamp_unixtime_ms": ts}
    return {"event_type": "custom_event", "data": data}


def config_store(fermion: FermionProcess) -> SqlConfigStore:
    """The server's own config store (its SQLite file, or its PostgreSQL database in scale-out mode)."""
    url = fermion.env.get("FERMION_DATABASE_URL") or f"sqlite:///{fermion.data_dir / 'fermion.db'}"
    return SqlConfigStore(make_engine(url))


def create_credentials(fermion: FermionProcess, *workspaces: int) -> tuple[str, str]:
    args = [a for ws in workspaces for a in ("--workspace", str(ws))]
    created = run_cli(fermion.data_dir, "credentials", "create", *args)
    return created["client_id"], created["client_secret"]


def token_for(fermion: FermionProcess, client: tuple[str, str]) -> str:
    body = {"grant_type": "client_credentials", "client_id": client[0], "client_secret": client[1]}
    r = httpx.post(fermion.base_url + "/oauth/token", json=body, timeout=30)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


@pytest.fixture(scope="module")
def client(fermion: FermionProcess) -> tuple[str, str]:
    return create_credentials(fermion, fermion.workspace_id)


@pytest.fixture(scope="module")
def token(fermion: FermionProcess, client: tuple[str, str]) -> str:
    return token_for(fermion, client)


@pytest.fixture(scope="module")
def user(fermion: FermionProcess) -> dict[str, Any]:
    """One user's three batches, sent out of order: the newest first, then an older one, then a change."""
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    das = f"das-{uuid.uuid4().hex[:8]}"
    common = {"environment": "development", "user_identities": {"customerid": customer}, "mp_deviceid": das}
    newest = {
        "events": [event(T0 + 2_000)],
        "user_attributes": {"plan": "gold", "$FirstName": "Ann"},
        "consent_state": {"gdpr": {"ads": {"consented": True, "timestamp_unixtime_ms": T0}}},
        "device_info": {"platform": "iOS", "ios_idfv": "idfv-" + das, "limit_ad_tracking": True},
    }
    send(fermion, {**common, **newest})
    send(fermion, {**common, "events": [event(T0 + 1_000)], "user_attributes": {"plan": "free", "old": "x"}})
    taps = wait_until(lambda: fermion.events(event_type="custom_event"))
    mpid = taps[0]["mpid"]
    assert wait_until(lambda: len(fermion.events(mpid=mpid)) >= 5)  # 2 taps, 3 attribute changes
    change = {
        "events": [event(T0 + 3_000)],
        "user_attributes": {"plan": "platinum"},
        "deleted_user_attributes": ["old"],
    }
    send(fermion, {**common, **change})
    events = wait_until(lambda: len(fermion.events(mpid=mpid)) >= 8 and fermion.events(mpid=mpid))
    return {"mpid": mpid, "customer": customer, "das": das, "events": events}


def profile_url(fermion: FermionProcess, mpid: str, ws: int | None = None) -> str:
    info = fermion.info
    ws = ws or fermion.workspace_id
    return f"{fermion.base_url}/userprofile/v1/{info['organization_id']}/{info['account_id']}/{ws}/{mpid}"


def get_profile(
    fermion: FermionProcess, token: str, mpid: str, fields: str = "user_attributes"
) -> httpx.Response:
    return httpx.get(profile_url(fermion, mpid), params={"fields": fields}, headers=bearer(token), timeout=30)


# -- OAuth ----------------------------------------------------------------------------------------


def test_token_by_form_json_and_basic(fermion: FermionProcess, client: tuple[str, str]) -> None:
    url = fermion.base_url + "/oauth/token"
    grant = {"grant_type": "client_credentials"}
    answers = [
        httpx.post(url, data={**grant, "client_id": client[0], "client_secret": client[1]}),
        httpx.post(url, json={**grant, "client_id": client[0], "client_secret": client[1], "audience": "x"}),
        httpx.post(url, data=grant, headers=basic(*client)),
    ]
    for r in answers:
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] == 28_800 and body["access_token"]


def test_token_errors_name_the_field(fermion: FermionProcess, client: tuple[str, str]) -> None:
    url = fermion.base_url + "/oauth/token"
    cases = [
        (
            {"grant_type": "client_credentials", "client_id": client[0], "client_secret": "wrong"},
            401,
            "client_id",
        ),
        ({"grant_type": "password", "client_id": client[0], "client_secret": client[1]}, 400, "grant_type"),
        ({"client_id": client[0], "client_secret": client[1]}, 400, "grant_type"),
        ({"grant_type": "client_credentials", "client_secret": client[1]}, 400, "client_id"),
        ({"grant_type": "client_credentials", "client_id": client[0]}, 400, "client_secret"),
    ]
    for body, status, field in cases:
        r = httpx.post(url, json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["errors"][0]["field"] == field
    r = httpx.post(url, content=b"<xml/>", headers={"Content-Type": "text/xml"})
    assert r.status_code == 415


def test_wrong_missing_and_expired_tokens_get_401(
    fermion: FermionProcess, user: dict[str, Any], client: tuple[str, str]
) -> None:
    key = config_store(fermion).get_meta("oauth_signing_key")
    assert key is not None
    now = int(time.time())
    # A token must name an existing client (a revoked client's tokens stop working).
    claims = {"iss": "fermion", "sub": client[0], "org": fermion.info["organization_id"], "ws": None}
    expired = jwt.encode({**claims, "iat": now - 30_000, "exp": now - 1}, key, algorithm="HS256")
    valid = jwt.encode({**claims, "iat": now, "exp": now + 60}, key, algorithm="HS256")
    no_client = jwt.encode({**claims, "sub": "fc_x", "iat": now, "exp": now + 60}, key, algorithm="HS256")
    assert get_profile(fermion, valid, user["mpid"]).status_code == 200  # the key is the real one
    for headers in (
        {},
        bearer("garbage"),
        bearer(expired),
        bearer(no_client),
        bearer(valid + "x"),
        {"Authorization": "Basic eA=="},
    ):
        r = httpx.get(
            profile_url(fermion, user["mpid"]), params={"fields": "user_attributes"}, headers=headers
        )
        assert r.status_code == 401, r.text
        assert r.json()["errors"][0]["field"] == "Authorization"
        activity_url = f"{fermion.base_url}/api/v1/workspaces/{fermion.workspace_id}/activity/users/1"
        assert httpx.get(activity_url, headers=headers).status_code == 401


# -- Profile API ---------------------------------------------------------------------------------


def test_out_of_order_batches_converge(fermion: FermionProcess, token: str, user: dict[str, Any]) -> None:
    fields = "user_attributes,device_identities,user_identities,audience_memberships,consent_state"
    r = get_profile(fermion, token, user["mpid"], fields + ",calculated_attributes")
    assert r.status_code == 200, r.text
    body = r.json()
    assert str(body["mpid"]) == user["mpid"]
    # "free" was sent after "gold" but happened before it; "platinum" came last and newest.
    assert body["user_attributes"] == {"$FirstName": "Ann", "plan": "platinum"}
    assert body["created_timestamp_ms"] == T0 + 1_000
    assert body["limit_ad_tracking"] is True and body["is_opted_out"] is False
    assert {"type": "ios_vendor_id", "encoding": "none", "value": "idfv-" + user["das"]} in body[
        "device_identities"
    ]
    assert {"type": "unknown", "encoding": "none", "value": user["das"]} in body["device_identities"]
    assert body["audience_memberships"] == [] and body["calculated_attributes"] == {}
    assert body["consent_state"]["gdpr"]["ads"]["consented"] is True
    assert isinstance(body["user_identities"], list)


def test_user_attribute_change_events_are_stored(user: dict[str, Any]) -> None:
    changes = [e["event"]["data"] for e in user["events"] if e["event_type"] == "user_attribute_change"]
    keys = ("user_attribute_name", "new", "old", "is_new_attribute", "deleted")
    assert all("new" in c and "old" in c for c in changes)  # required, null when absent
    summary = sorted((tuple(c[k] for k in keys) for c in changes), key=repr)
    expected = [
        ("$FirstName", "Ann", None, True, False),
        ("old", None, "x", False, True),
        ("old", "x", None, True, False),
        ("plan", "gold", None, True, False),
        ("plan", "platinum", "gold", False, False),
    ]
    assert summary == sorted(expected, key=repr)


def test_profile_api_validates_its_input(fermion: FermionProcess, token: str, user: dict[str, Any]) -> None:
    r = httpx.get(profile_url(fermion, user["mpid"]), headers=bearer(token))
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "fields"
    r = get_profile(fermion, token, user["mpid"], "user_attributes,shoe_size")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "fields"
    r = get_profile(fermion, token, "not-a-number")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "mpid"
    r = get_profile(fermion, token, "123456789")
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "mpid"
    info = fermion.info
    wrong_account = (
        f"{fermion.base_url}/userprofile/v1/{info['organization_id']}/999/{fermion.workspace_id}/1"
    )
    r = httpx.get(wrong_account, params={"fields": "user_attributes"}, headers=bearer(token))
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "account_id"
    ids = f"{info['organization_id']}/{info['account_id']}/{fermion.workspace_id}"
    resolve = f"{fermion.base_url}/userprofile/v1/resolve/{ids}"
    fields = {"fields": "user_attributes"}
    shoe = {"identity": {"type": "shoe", "value": "1"}}
    r = httpx.post(resolve, params=fields, json=shoe, headers=bearer(token))
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "identity.type"
    r = httpx.post(resolve, params=fields, json={"environment_type": "x"}, headers=bearer(token))
    assert r.status_code == 400 and {e["field"] for e in r.json()["errors"]} == {
        "environment_type",
        "identity",
    }


def test_a_workspace_token_cannot_read_another_workspace(
    fermion: FermionProcess, token: str, user: dict[str, Any]
) -> None:
    second = config_store(fermion).create_workspace(fermion.info["account_id"], "Second")
    creds = run_cli(fermion.data_dir, "inputs", "create", "--workspace", str(second.id))
    batch = {"mpid": user["mpid"], "events": [event(T0)], "user_attributes": {"where": "second"}}
    send(fermion, batch, (creds["key"], creds["secret"]))
    org_token = token_for(fermion, create_credentials(fermion))
    url = profile_url(fermion, user["mpid"], second.id)

    def read(token: str) -> httpx.Response:
        return httpx.get(url, params={"fields": "user_attributes"}, headers=bearer(token))

    assert wait_until(lambda: read(org_token).status_code == 200), read(org_token).text
    r = read(org_token)
    assert r.json()["user_attributes"] == {"where": "second"}  # attributes are per workspace
    r = read(token)
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "workspace_id"
    admin = f"{fermion.base_url}/api/v1/workspaces/{second.id}/events"
    assert httpx.get(admin, headers=bearer(token)).status_code == 404
    assert httpx.get(admin, headers=bearer(org_token)).status_code == 200
    own = f"{fermion.base_url}/api/v1/workspaces/{fermion.workspace_id}/events"
    assert httpx.get(own, headers=bearer(token)).status_code == 200  # OAuth tokens work on the admin API


def test_identities_come_from_idsync(fermion: FermionProcess, token: str, user: dict[str, Any]) -> None:
    r = get_profile(fermion, token, user["mpid"], "user_identities")
    assert {"type": "customer_id", "encoding": "none", "value": user["customer"]} in r.json()[
        "user_identities"
    ]
    info = fermion.info
    ids = f"{info['organization_id']}/{info['account_id']}/{fermion.workspace_id}"
    resolve = f"{fermion.base_url}/userprofile/v1/resolve/{ids}"
    body = {"environment_type": "development", "identity": {"type": "customer_id", "value": user["customer"]}}
    r = httpx.post(resolve, params={"fields": "user_attributes"}, json=body, headers=bearer(token))
    assert r.status_code == 200, r.text
    assert str(r.json()["mpid"]) == user["mpid"] and r.json()["user_attributes"]["$FirstName"] == "Ann"
    body["identity"]["value"] = "nobody"
    r = httpx.post(resolve, params={"fields": "user_attributes"}, json=body, headers=bearer(token))
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "identity"


# -- User Activity -------------------------------------------------------------------------------


def activity(fermion: FermionProcess, path: str) -> str:
    return f"{fermion.base_url}/api/v1/workspaces/{fermion.workspace_id}/activity{path}"


def test_search_by_mpid_and_device_id(fermion: FermionProcess, token: str, user: dict[str, Any]) -> None:
    for q, kind in (
        (user["mpid"], "any"),
        (user["mpid"], "mpid"),
        (user["das"], "any"),
        (user["das"], "device_id"),
    ):
        r = httpx.get(activity(fermion, "/search"), params={"q": q, "type": kind}, headers=bearer(token))
        assert r.status_code == 200, r.text
        assert [p["mpid"] for p in r.json()["profiles"]] == [user["mpid"]]
    r = httpx.get(activity(fermion, "/search"), params={"q": "nobody"}, headers=bearer(token))
    assert r.json()["profiles"] == []
    r = httpx.get(activity(fermion, "/search"), params={"q": "x", "type": "shoe"}, headers=bearer(token))
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "type"
    r = httpx.get(activity(fermion, "/search"), headers=bearer(token))
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "q"


def test_profile_sections(fermion: FermionProcess, token: str, user: dict[str, Any]) -> None:
    r = httpx.get(activity(fermion, f"/users/{user['mpid']}"), headers=bearer(token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["details"]["device_id"] == {"type": "ios_vendor_id", "value": "idfv-" + user["das"]}
    assert body["details"]["customer_id"] == user["customer"]
    assert {"type": "customer_id", "value": user["customer"]} in body["user_identities"]
    assert body["details"]["first_seen_ms"] <= T0 + 1_000
    assert body["workspace_usage"]["first_seen_ms"] == T0 + 1_000
    assert [i["input_id"] for i in body["workspace_usage"]["inputs"]] == [fermion.info["inputs"][0]["id"]]
    assert [a["name"] for a in body["user_attributes"]] == ["$FirstName", "plan"]
    (device,) = body["devices"]
    assert device["platform"] == "iOS" and device["limit_ad_tracking"] is True
    assert body["consent_state"]["gdpr"]["ads"]["consented"] is True
    assert body["audience_memberships"] == [] and body["attribution"] == []
    r = httpx.get(activity(fermion, "/users/42"), headers=bearer(token))
    assert r.status_code == 404


def test_events_timeline_filters(fermion: FermionProcess, token: str, user: dict[str, Any]) -> None:
    def timeline(**params: Any) -> list[dict[str, Any]]:
        r = httpx.get(
            activity(fermion, f"/users/{user['mpid']}/events"), params=params, headers=bearer(token)
        )
        assert r.status_code == 200, r.text
        return list(r.json()["batches"])

    everything = timeline()
    assert sum(len(b["events"]) for b in everything) >= 8
    assert all(b["input_name"] for b in everything)
    taps = timeline(event_type="custom_event")
    assert [e["timestamp_ms"] for b in taps for e in b["events"]] == [T0 + 1_000, T0 + 2_000, T0 + 3_000]
    window = timeline(since_ms=T0 + 1_500, until_ms=T0 + 2_500, event_type="custom_event")
    assert [e["timestamp_ms"] for b in window for e in b["events"]] == [T0 + 2_000]
    assert len(timeline(device_id="idfv-" + user["das"], event_type="custom_event")) == 1
    assert timeline(input_id=999_999) == []
    r = httpx.get(
        activity(fermion, f"/users/{user['mpid']}/events"), params={"limit": 0}, headers=bearer(token)
    )
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "limit"


def test_edits_flow_through_an_input(fermion: FermionProcess, token: str, user: dict[str, Any]) -> None:
    input_id = fermion.info["inputs"][0]["id"]
    url = activity(fermion, f"/users/{user['mpid']}")
    edit = {"input_id": input_id, "user_attributes": {"tier": 3}, "deleted_user_attributes": ["$FirstName"]}
    r = httpx.post(url + "/attributes", json=edit, headers=bearer(token))
    assert r.status_code == 202, r.text
    edit = {"input_id": input_id, "gdpr": {"ads": False}, "ccpa": {"data_sale_opt_out": True}}
    r = httpx.post(url + "/consent", json=edit, headers=bearer(token))
    assert r.status_code == 202, r.text

    def edited() -> dict[str, Any] | None:
        body = httpx.get(url, headers=bearer(token)).json()
        names = [a["name"] for a in body["user_attributes"]]
        consent = body["consent_state"]
        done = (
            names == ["plan", "tier"] and consent["gdpr"]["ads"]["consented"] is False and "ccpa" in consent
        )
        return body if done else None

    assert wait_until(edited), httpx.get(url, headers=bearer(token)).text
    changes = fermion.events(mpid=user["mpid"], event_type="user_attribute_change")
    assert {
        (c["event"]["data"]["user_attribute_name"], c["event"]["data"].get("deleted")) for c in changes
    } >= {
        ("tier", False),
        ("$FirstName", True),
    }
    edit = {"input_id": input_id, "identities": {"email": "ann@example.com"}}
    r = httpx.post(url + "/identities", json=edit, headers=bearer(token))
    assert r.status_code == 202, r.text

    def emails() -> list[str]:
        body = httpx.get(url, headers=bearer(token)).json()
        return [i["value"] for i in body["user_identities"] if i["type"] == "email"]

    assert wait_until(lambda: emails() == ["ann@example.com"]), emails()


def test_edits_validate_their_input(fermion: FermionProcess, token: str, user: dict[str, Any]) -> None:
    url = activity(fermion, f"/users/{user['mpid']}")
    own = fermion.info["inputs"][0]["id"]
    cases = [
        ("/attributes", {"input_id": 999_999, "user_attributes": {"a": 1}}, "input_id"),
        ("/attributes", {"input_id": 1}, "user_attributes"),
        ("/attributes", {"user_attributes": {"a": 1}}, "input_id"),
        ("/attributes", {"input_id": own, "user_attributes": {"a": {"nested": 1}}}, "user_attributes.a"),
        ("/consent", {"input_id": own, "ccpa": {"other": True}}, "ccpa.other"),
        ("/identities", {"input_id": own, "identities": {"shoe": "x"}}, "identities.shoe"),
    ]
    for path, body, field in cases:
        r = httpx.post(url + path, json=body, headers=bearer(token))
        assert r.status_code == 400, (path, body, r.text)
        assert any(e["field"].startswith(field) for e in r.json()["errors"]), (field, r.text)


def test_profile_api_rate_limit_is_per_workspace(
    fermion: FermionProcess, token: str, user: dict[str, Any]
) -> None:
    """Spec 3: 15 requests per second by default; above it 429 with Retry-After, naming the workspace."""
    busy = config_store(fermion).create_workspace(fermion.info["account_id"], "Busy")
    org_token = token_for(fermion, create_credentials(fermion))
    url = profile_url(fermion, user["mpid"], busy.id)
    with httpx.Client(headers=bearer(org_token), timeout=30) as c:
        # At once (a loaded machine may serve sequential requests slower than the limit).
        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(pool.map(lambda _: c.get(url, params={"fields": "user_attributes"}), range(40)))
        limited = [r for r in answers if r.status_code == 429]
        assert limited and len(limited) < 40, [r.status_code for r in answers]
        # The user is not the Busy workspace's (404), but every request counts against its limit.
        assert {r.status_code for r in answers} - {429} == {404}, [r.status_code for r in answers]
        assert int(limited[0].headers["Retry-After"]) >= 1
        assert limited[0].json()["errors"][0]["field"] == "workspace_id"
        # Another workspace's callers are not slowed by this one.
        assert get_profile(fermion, token, user["mpid"]).status_code == 200
        time.sleep(1.1)
        assert c.get(url, params={"fields": "user_attributes"}).status_code == 404
