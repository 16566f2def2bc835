"""IDSync over real HTTP against a Fermion subprocess: identify/login/logout/search/modify, the three
auth schemes, CORS, error bodies, settings and explanations, aliasing, and Events API batches."""

from __future__ import annotations

import base64
import json
import subprocess
import time
import uuid
from email.utils import formatdate
from typing import Any

import httpx
import pytest

from fermion.services.identity_auth import signature
from support.fermion_proc import FermionProcess, fermion_cmd, run_cli

ORIGIN = "http://shop.example"


def web_headers(fermion: FermionProcess, **extra: str) -> dict[str, str]:
    key, _ = fermion.input_creds("web")
    return {"Content-Type": "application/json", "x-mp-key": key, "Origin": ORIGIN, **extra}


def body(known: dict[str, Any] | None = None, previous: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "client_sdk": {"platform": "web", "sdk_vendor": "mparticle", "sdk_version": "2.68.0"},
        "context": None,
        "environment": "development",
        "request_id": str(uuid.uuid4()),
        "request_timestamp_ms": int(time.time() * 1000),
        "previous_mpid": previous,
        "known_identities": known if known is not None else {},
        **extra,
    }


def call(
    fermion: FermionProcess, path: str, payload: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    h = web_headers(fermion) if headers is None else headers
    return httpx.post(fermion.base_url + path, content=raw, headers=h, timeout=30)


def identify(
    fermion: FermionProcess, path: str, known: dict[str, Any], previous: str | None = None
) -> dict[str, Any]:
    r = call(fermion, path, body(known, previous))
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == "*"
    answer: dict[str, Any] = r.json()
    assert isinstance(answer["mpid"], str) and int(answer["mpid"]) != 0
    return answer


def error_fields(r: httpx.Response) -> list[str]:
    payload = r.json()
    assert payload["errors"] == payload["Errors"] and payload["StatusCode"] == r.status_code
    assert payload["code"] == r.status_code and payload["message"]
    return [e.get("field", "") for e in payload["errors"]]


def admin(fermion: FermionProcess, method: str, path: str, **kw: Any) -> httpx.Response:
    url = f"{fermion.base_url}/api/v1/workspaces/{fermion.workspace_id}{path}"
    kw.setdefault("headers", fermion.admin_headers)
    return httpx.request(method, url, timeout=30, **kw)


def test_web_session_identify_login_logout_login(fermion: FermionProcess) -> None:
    das = {"device_application_stamp": str(uuid.uuid4())}
    anon = identify(fermion, "/v1/identify", das)
    assert anon["is_logged_in"] is False and anon["matched_identities"] == {}
    assert identify(fermion, "/v1/identify", das, anon["mpid"])["mpid"] == anon["mpid"]
    known = identify(
        fermion, "/v1/login", {"customerid": "api-1", "email": "api-1@example.com", **das}, anon["mpid"]
    )
    assert known["mpid"] == anon["mpid"] and known["is_logged_in"] is True  # profile conversion
    out = identify(fermion, "/identity/v1/logout", das, known["mpid"])  # the CNAME prefix works too
    assert out["mpid"] != known["mpid"] and out["is_logged_in"] is False
    back = identify(fermion, "/v1/login", {"customerid": "api-1", **das}, out["mpid"])
    assert back["mpid"] == known["mpid"] and back["matched_identities"]["customerid"] == "api-1"


def test_search_and_modify(fermion: FermionProcess) -> None:
    user = identify(fermion, "/v1/login", {"customerid": "mod-1", "email": "before@example.com"})
    r = call(
        fermion,
        f"/v1/{user['mpid']}/modify",
        body(
            identity_changes=[
                {
                    "identity_type": "email",
                    "old_value": "before@example.com",
                    "new_value": "after@example.com",
                },
                {"identity_type": "customerid", "old_value": "mod-1", "new_value": "mod-1"},
            ]
        ),
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "change_results": [
            {"identity_type": "email", "modified_mpid": user["mpid"]},
            {"identity_type": "customerid", "modified_mpid": user["mpid"]},
        ]
    }
    found = call(fermion, "/v1/search?cb=1", body({"email": "after@example.com"}))
    assert found.status_code == 200 and found.json()["mpid"] == user["mpid"]
    missing = call(fermion, "/v1/search", body({"email": "before@example.com"}))
    assert missing.status_code == 404 and missing.json()["ErrorCode"] == "NOT_FOUND_ERROR"
    r = call(
        fermion,
        "/v1/123456789/modify",
        body(identity_changes=[{"identity_type": "email", "new_value": "x@y.z"}]),
    )
    assert r.status_code == 404 and error_fields(r) == ["mpid"]


def test_preflight_allows_the_identity_headers(fermion: FermionProcess) -> None:
    for path in ("/v1/identify", "/identity/v1/login", "/v1/-5/modify", "/v1/identity/abc/Alias"):
        r = httpx.options(
            fermion.base_url + path,
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-mp-key",
            },
        )
        assert r.status_code == 204, path
        assert r.headers["access-control-allow-origin"] == "*"
        assert "x-mp-key" in r.headers["access-control-allow-headers"].lower()
        assert "POST" in r.headers["access-control-allow-methods"]
        assert "x-mp-max-age" in r.headers["access-control-expose-headers"]


def basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


def signed(
    fermion: FermionProcess, path: str, raw: bytes, date: str, secret: str | None = None
) -> dict[str, str]:
    key, real_secret = fermion.input_creds("custom")
    sig = signature(secret or real_secret, "POST", date, path, raw)
    return {"Content-Type": "application/json", "x-mp-key": key, "Date": date, "x-mp-signature": sig}


def test_authentication_schemes(fermion: FermionProcess) -> None:
    raw = json.dumps(body({"customerid": "auth-1"})).encode()
    server_key, server_secret = fermion.input_creds("custom")
    now = formatdate(usegmt=True)
    ok = [
        web_headers(fermion),
        {"Content-Type": "application/json", "Authorization": basic(server_key, server_secret)},
        signed(fermion, "/v1/identify", raw, now),
        signed(fermion, "/v1/identify", raw, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())),  # ISO form
    ]
    mpids = set()
    for headers in ok:
        r = call(fermion, "/v1/identify", raw, headers)
        assert r.status_code == 200, (headers, r.text)
        mpids.add(r.json()["mpid"])
    assert len(mpids) == 1
    # Android signs its default URL's path even behind the /identity prefix.
    r = call(fermion, "/identity/v1/identify", raw, signed(fermion, "/v1/identify", raw, now))
    assert r.status_code == 200, r.text
    stale = formatdate(time.time() - 3600, usegmt=True)
    refused = [
        ({"Content-Type": "application/json"}, 401, "x-mp-key"),
        ({"x-mp-key": "no-such-key"}, 401, "x-mp-key"),
        ({"Authorization": basic(server_key, "wrong")}, 401, "Authorization"),
        (signed(fermion, "/v1/identify", raw, now, secret="wrong"), 401, "x-mp-signature"),
        (signed(fermion, "/v1/identify", raw, stale), 401, "Date"),
        ({**signed(fermion, "/v1/identify", raw, now), "Date": "yesterday"}, 401, "Date"),
    ]
    for headers, status, field in refused:
        r = call(fermion, "/v1/identify", raw, headers)
        assert r.status_code == status, (headers, r.text)
        assert error_fields(r) == [field]
        assert r.headers["access-control-allow-origin"] == "*"


def test_feed_input_keys_need_a_secret(fermion: FermionProcess) -> None:
    r = admin(fermion, "POST", "/inputs", json={"kind": "feed", "platform": "partner-x"})
    assert r.status_code == 201, r.text
    feed = r.json()
    r = call(fermion, "/v1/identify", body({"customerid": "f"}), {"x-mp-key": feed["key"]})
    assert r.status_code == 403 and error_fields(r) == ["x-mp-key"]
    r = call(
        fermion,
        "/v1/identify",
        body({"customerid": "f"}),
        {"Authorization": basic(feed["key"], feed["secret"])},
    )
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("path", "payload", "status", "field"),
    [
        ("/v1/identify", b"{not json", 400, "body"),
        ("/v1/identify", b"", 400, "body"),
        ("/v1/identify", b"[1]", 400, "body"),
        ("/v1/identify", {"known_identities": {"email": "a@b.c"}}, 400, "environment"),
        ("/v1/identify", body({"email": 5}), 400, "known_identities.email"),
        ("/v1/identify", body({}), 400, "known_identities"),
        ("/v1/login", body({"email": None}), 400, "known_identities"),
        ("/v1/identify", body({"email": "a@b.c"}, previous="abc"), 400, "previous_mpid"),
        ("/v1/identify", body({"email": "a@b.c"}, previous="99999999999999999999999"), 400, "previous_mpid"),
        ("/v1/identify", body({"email": "a@b.c"}, environment="staging"), 400, "environment"),
        ("/v1/xyz/modify", body(identity_changes=[]), 400, "mpid"),
        ("/v1/5/modify", body(), 400, "identity_changes"),
        (
            "/v1/5/modify",
            body(identity_changes=[{"old_value": "a"}]),
            400,
            "identity_changes[0].identity_type",
        ),
        ("/v1/5/modify", body(identity_changes="x"), 400, "identity_changes"),
        ("/v1/identify", b"x" * 70_000, 413, "body"),
    ],
)
def test_bad_requests_name_the_field(
    fermion: FermionProcess, path: str, payload: Any, status: int, field: str
) -> None:
    r = call(fermion, path, payload)
    assert r.status_code == status, r.text
    assert error_fields(r) == [field]
    if field == "known_identities":
        assert r.json()["ErrorCode"] == "LOOKUP_ERROR"


def test_modify_errors_name_the_change(fermion: FermionProcess) -> None:
    user = identify(fermion, "/v1/login", {"customerid": "mod-err"})
    changes = [{"identity_type": "email", "old_value": None, "new_value": "-1"}]
    r = call(fermion, f"/v1/{user['mpid']}/modify", body(identity_changes=changes))
    assert r.status_code == 400 and error_fields(r) == ["identity_changes[0].new_value"]


def test_identity_settings_admin_api_and_cli_view(fermion: FermionProcess) -> None:
    assert admin(fermion, "GET", "/identity-settings", headers={}).status_code == 401
    r = admin(fermion, "GET", "/identity-settings")
    assert r.status_code == 200 and r.json()["strategy"] == "profile_conversion"
    r = admin(fermion, "PATCH", "/identity-settings", json={"blocked_values": ["guest", "-1"]})
    assert r.status_code == 200 and r.json()["blocked_values"] == ["guest", "-1"]
    assert r.json()["strategy"] == "profile_conversion"
    r = admin(
        fermion, "PATCH", "/identity-settings", json={"strategy": "bogus", "max_identities_per_type": -1}
    )
    assert r.status_code == 400
    assert sorted(e["field"] for e in r.json()["errors"]) == ["max_identities_per_type", "strategy"]
    r = admin(fermion, "PUT", "/identity-settings", content=b"[]")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "body"
    r = admin(fermion, "PUT", "/identity-settings", json={})
    assert r.status_code == 200 and r.json()["blocked_values"] == ["-1", "null", "anonymous"]


def test_explain(fermion: FermionProcess) -> None:
    user = identify(fermion, "/v1/login", {"customerid": "ex-1", "email": "ex-1@example.com"})
    r = admin(fermion, "POST", "/identity/explain", json=body({"email": "ex-1@example.com", "ios_idfv": "0"}))
    assert r.status_code == 200, r.text
    out = r.json()
    ex = out["explanation"]
    assert out["mpid"] != user["mpid"] and out["would_create"] is True  # email alone: CID is a login id
    email = next(f for f in ex["identities"] if f["identity_type"] == "email")
    assert email["status"] == "excluded" and email["excluded"][0]["mpid"] == user["mpid"]
    assert next(f for f in ex["identities"] if f["key"] == "ios_idfv")["status"] == "blocked"
    assert ex["rule"] == "no_match"
    r = admin(fermion, "POST", "/identity/explain", json=body({"customerid": "ex-1"}, request_type="login"))
    assert r.json()["mpid"] == user["mpid"] and r.json()["explanation"]["decided_by"] == "customer_id"
    r = admin(fermion, "POST", "/identity/explain", json=body({"customerid": "x"}, request_type="nope"))
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "request_type"
    r = admin(fermion, "GET", f"/identity/profiles/{user['mpid']}")
    assert {"identity_type": "customer_id", "value": "ex-1"} in r.json()["identities"]
    r = admin(fermion, "GET", "/identity/lookup", params={"identity_type": "customerid", "value": "ex-1"})
    assert r.json() == {"mpid": user["mpid"]}


def events_api(fermion: FermionProcess, platform: str, batch: dict[str, Any]) -> None:
    key, secret = fermion.input_creds(platform)
    r = httpx.post(
        fermion.base_url + "/v2/events",
        json=batch,
        headers={"Authorization": basic(key, secret)},
        timeout=30,
    )
    assert r.status_code == 202, r.text


def custom_event(name: str, ts: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"event_name": name, "custom_event_type": "other"}
    if ts is not None:
        data["timestamp_unixtime_ms"] = ts
    return {"event_type": "custom_event", "data": data}


def test_events_api_batches_resolve_across_inputs(fermion: FermionProcess) -> None:
    events_api(fermion, "custom", {"user_identities": {"customerid": "e2e-1"}, "events": [custom_event("a")]})
    events_api(
        fermion,
        "web",
        {
            "user_identities": {"customer_id": "e2e-1", "email": "e2e@example.com"},
            "events": [custom_event("b")],
        },
    )
    deadline = time.monotonic() + 30
    named: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        named = [e for e in fermion.events(limit=10000) if e["event_name"] in ("a", "b")]
        if len(named) == 2:
            break
        time.sleep(0.1)
    assert len(named) == 2 and named[0]["mpid"] == named[1]["mpid"]
    mpid = named[0]["mpid"]
    changes = fermion.wait_for_events(2, mpid=mpid, event_type="user_identity_change")
    news = sorted(
        (c["event"]["data"]["new"]["identity_type"], c["event"]["data"]["new"]["identity"]) for c in changes
    )
    assert news == [("customer_id", "e2e-1"), ("email", "e2e@example.com")]
    assert all(c["event"]["data"]["new"]["created_this_batch"] for c in changes)
    # IDSync sees the same profile.
    assert identify(fermion, "/v1/identify", {"customerid": "e2e-1"})["mpid"] == mpid


def test_alias_moves_event_history(fermion: FermionProcess) -> None:
    das = {"device_application_stamp": str(uuid.uuid4())}
    anon = identify(fermion, "/v1/identify", das)["mpid"]
    known = identify(fermion, "/v1/login", {"customerid": "alias-1"})["mpid"]
    now = int(time.time() * 1000)
    events_api(
        fermion,
        "custom",
        {"mpid": anon, "events": [custom_event("old", now - 60_000), custom_event("new", now)]},
    )
    assert len(fermion.wait_for_events(2, mpid=anon)) == 2
    key, _ = fermion.input_creds("web")
    alias = {
        "request_id": str(uuid.uuid4()),
        "request_type": "alias",
        "environment": "development",
        "api_key": key,
        "data": {
            "source_mpid": anon,
            "destination_mpid": known,
            "start_unixtime_ms": now - 1000,
            "end_unixtime_ms": now,
            "scope": "device",
            **das,
        },
    }
    plain = {"Content-Type": "application/json", "Origin": ORIGIN}  # the Web SDK sends no x-mp-key
    r = call(fermion, f"/v1/identity/{key}/Alias", alias, plain)
    assert r.status_code == 202, r.text
    assert [e["event_name"] for e in fermion.events(mpid=known)] == ["new"]
    assert [e["event_name"] for e in fermion.events(mpid=anon)] == ["old"]
    again = call(fermion, f"/webevents/v1/identity/{key}/Alias", alias, plain)  # same request id: no-op
    assert again.status_code == 202 and again.json()["status"] == "applied"
    bad = {**alias, "request_id": "x", "data": {**alias["data"], "destination_mpid": anon}}
    r = call(fermion, f"/v1/identity/{key}/Alias", bad, plain)
    assert r.status_code == 400 and error_fields(r) == ["data.source_mpid"]
    r = call(fermion, f"/v1/identity/{key}/Alias", {"request_id": "y"}, plain)
    assert r.status_code == 400 and error_fields(r) == ["data"]
    r = call(fermion, "/v1/identity/nope/Alias", alias, plain)
    assert r.status_code == 401
    s2s = {
        **alias,
        "request_id": str(uuid.uuid4()),
        "data": {**alias["data"], "source_mpid": known, "destination_mpid": anon},
    }
    r = admin(fermion, "POST", "/identity/alias", json=s2s)
    assert r.status_code == 202 and r.json()["status"] == "rejected"  # the destination was a source


def test_cli_settings_change_the_strategy(fermion: FermionProcess) -> None:
    ws = str(fermion.workspace_id)
    shown = run_cli(fermion.data_dir, "identity", "settings", "--workspace", ws, env=fermion.env)
    assert shown["strategy"] == "profile_conversion"
    changed = run_cli(
        fermion.data_dir,
        "identity",
        "settings",
        "--workspace",
        ws,
        "--strategy",
        "profile_link",
        env=fermion.env,
    )
    assert changed["login_identities"] == ["customer_id", "email"]
    try:
        time.sleep(0.5)  # the API re-reads settings after FERMION_CONFIG_CACHE_TTL_S
        das = {"device_application_stamp": str(uuid.uuid4())}
        anon = identify(fermion, "/v1/identify", das)["mpid"]
        assert identify(fermion, "/v1/login", {"customerid": "cli-1", **das}, anon)["mpid"] != anon
        bad = subprocess.run(
            fermion_cmd(
                "identity",
                "settings",
                "--workspace",
                ws,
                "--unique",
                "device_application_stamp",
                "--data-dir",
                str(fermion.data_dir),
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert bad.returncode == 2 and "unique_identities" in bad.stderr
    finally:
        run_cli(fermion.data_dir, "identity", "settings", "--workspace", ws, "--reset", env=fermion.env)
