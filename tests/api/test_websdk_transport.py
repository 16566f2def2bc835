"""The Web SDK transport over real HTTP (spec 2.2-2.6): uploads, config, forwarding stats, CORS."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from support.fermion_proc import FermionProcess

TEXT = {"Content-Type": "text/plain;charset=UTF-8", "Accept": "text/plain;charset=UTF-8"}
ORIGIN = {"Origin": "http://127.0.0.1:1"}


def web_key(fermion: FermionProcess) -> str:
    return fermion.input_creds("web")[0]


def web_batch(mpid: str, name: str = "Clicked", **extra: Any) -> dict[str, Any]:
    """Shaped like the batch the Web SDK 2.68 sends (spec 2.4's captured example)."""
    return {
        "source_request_id": str(uuid.uuid4()),
        "mpid": mpid,
        "timestamp_unixtime_ms": 1795332021924,
        "environment": "development",
        "events": [
            {
                "event_type": "custom_event",
                "data": {
                    "custom_event_type": "navigation",
                    "custom_flags": {},
                    "event_name": name,
                    "timestamp_unixtime_ms": 1795332021923,
                    "session_uuid": "BC401BC2-E2A6-4D47-61A9-135D7826305A",
                    "session_start_unixtime_ms": 1795332021392,
                    "custom_attributes": {"a": 1, "b": True},
                    "location": None,
                    "source_message_id": str(uuid.uuid4()),
                    "active_time_on_site_ms": 540,
                },
            }
        ],
        "mp_deviceid": "ccc7446a-33a5-470c-c6b7-9de5cb6f2ee0",
        "sdk_version": "2.68.0",
        "application_info": {},
        "device_info": {"platform": "web", "screen_width": 0, "screen_height": 0},
        "user_attributes": {"tags": ["a", "b"]},
        "user_identities": {"customer_id": f"cust-{mpid}"},
        "consent_state": None,
        "integration_attributes": {},
        **extra,
    }


def upload(
    fermion: FermionProcess, body: bytes | dict[str, Any], key: str | None = None, prefix: str = ""
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    url = f"{fermion.base_url}{prefix}/v3/JS/{key or web_key(fermion)}/events"
    return httpx.post(url, content=raw, headers={**TEXT, **ORIGIN}, timeout=30)


def sdk_events(fermion: FermionProcess, mpid: str, count: int) -> list[dict[str, Any]]:
    """The stored events the client sent, each with a source_message_id (Fermion adds events of its
    own, such as user_identity_change and user_attribute_change, without one)."""
    deadline = time.monotonic() + 30
    while True:  # wait for the client's events themselves: Fermion's own may arrive first
        events = fermion.wait_for_events(count, mpid=mpid)
        sent = [e for e in events if e["event"]["data"].get("source_message_id")]
        if len(sent) >= count or time.monotonic() > deadline:
            return sent
        time.sleep(0.1)


def batches_of(fermion: FermionProcess, mpid: str) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{fermion.base_url}/api/v1/workspaces/{fermion.workspace_id}/livestream",
        params={"mpid": mpid, "environment": "all"},
        headers=fermion.admin_headers,
    )
    r.raise_for_status()
    return list(r.json()["batches"])


def test_web_batch_is_accepted_with_cors_and_stored_as_javascript(fermion: FermionProcess) -> None:
    mpid = "-1181384261181537377"
    r = upload(fermion, web_batch(mpid))
    assert r.status_code == 202, r.text
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.content == b""
    events = sdk_events(fermion, mpid, 1)
    assert [e["event_name"] for e in events] == ["Clicked"]
    assert events[0]["event"]["data"]["custom_attributes"] == {"a": 1, "b": True}
    (stored,) = batches_of(fermion, mpid)
    assert stored["batch"]["source_info"]["channel"] == "javascript"
    assert stored["batch"]["user_identities"]["customer_id"] == f"cust-{mpid}"


def test_cname_paths_and_retried_batches_are_stored_once(fermion: FermionProcess) -> None:
    mpid = "7001"
    batch = web_batch(mpid, "Once")
    for _ in range(3):  # the SDK resends a batch with the same source_request_id after a failure
        assert upload(fermion, batch, prefix="/webevents").status_code == 202
    assert upload(fermion, web_batch(mpid, "Twice")).status_code == 202
    events = sdk_events(fermion, mpid, 2)
    assert sorted(e["event_name"] for e in events) == ["Once", "Twice"]


def test_numeric_promotion_action_is_converted(fermion: FermionProcess) -> None:
    mpid = "7002"
    promo = {
        "event_type": "commerce_event",
        "data": {
            "promotion_action": {"action": 2, "promotions": [{"id": "p1", "name": "Sale"}]},
            "source_message_id": "promo-message",
        },
    }
    assert upload(fermion, web_batch(mpid, events=[promo])).status_code == 202
    (event,) = sdk_events(fermion, mpid, 1)
    assert event["event"]["data"]["promotion_action"]["action"] == "click"
    assert event["event_name"] == "click"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[]", "body"),
        (json.dumps({"events": [{"event_type": "nope", "data": {}}]}).encode(), "events[0].event_type"),
        (json.dumps({"mpid": "12x"}).encode(), "mpid"),
    ],
)
def test_invalid_batches_get_422_not_400_so_the_sdk_drops_them(
    fermion: FermionProcess, body: bytes, field: str
) -> None:
    r = upload(fermion, body)
    assert r.status_code == 422, r.text
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.json()["errors"][0]["field"] == field


def test_unknown_or_unsuitable_keys_are_rejected_with_4xx(fermion: FermionProcess) -> None:
    r = upload(fermion, web_batch("1"), key="no-such-key")
    assert r.status_code == 401
    assert r.json()["errors"][0]["field"] == "apiKey"
    assert r.headers["access-control-allow-origin"] == "*"
    created = httpx.post(
        f"{fermion.base_url}/api/v1/workspaces/{fermion.workspace_id}/inputs",
        json={"kind": "feed", "platform": "some_partner"},
        headers=fermion.admin_headers,
    )
    assert created.status_code == 201, created.text
    r = upload(fermion, web_batch("1"), key=created.json()["key"])
    assert r.status_code == 403
    assert r.json()["errors"][0]["field"] == "apiKey"


def test_size_limit_and_methods(fermion: FermionProcess) -> None:
    r = upload(fermion, b"{" + b" " * 300_000 + b"}")
    assert r.status_code == 413
    r = httpx.get(f"{fermion.base_url}/v3/JS/{web_key(fermion)}/events")
    assert r.status_code == 405
    assert r.headers["allow"] == "POST, OPTIONS"
    assert r.json()["errors"][0]["field"] == "method"


def test_preflight(fermion: FermionProcess) -> None:
    for path in (f"/v3/JS/{web_key(fermion)}/events", f"/JS/v2/{web_key(fermion)}/config"):
        r = httpx.options(
            fermion.base_url + path,
            headers={
                **ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-mp-key",
            },
        )
        assert r.status_code == 204
        assert r.headers["access-control-allow-origin"] == "*"
        assert "POST" in r.headers["access-control-allow-methods"]
        assert r.headers["access-control-allow-headers"] == "content-type,x-mp-key"


def test_config(fermion: FermionProcess) -> None:
    key = web_key(fermion)
    for path in (f"/JS/v2/{key}/config", f"/tags/JS/v2/{key}/config"):
        r = httpx.get(fermion.base_url + path, params={"env": "1", "plan_id": "p", "plan_version": "2"})
        assert r.status_code == 200, r.text
        assert r.headers["access-control-allow-origin"] == "*"
        assert r.json() == {"kitConfigs": [], "pixelConfigs": []}
    r = httpx.get(f"{fermion.base_url}/JS/v2/{key}/config", params={"env": "2"})
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "env"
    r = httpx.get(f"{fermion.base_url}/JS/v2/{key}/config", params={"plan_version": "x"})
    assert r.json()["errors"][0]["field"] == "plan_version"
    r = httpx.get(f"{fermion.base_url}/JS/v2/unknown/config", params={"env": "0"})
    assert r.status_code == 401
    assert r.json()["errors"][0]["field"] == "apiKey"


def test_forwarding_stats_are_accepted_and_discarded(fermion: FermionProcess) -> None:
    key = web_key(fermion)
    for path in (f"/v1/JS/{key}/Forwarding", f"/webevents/v2/JS/{key}/Forwarding"):
        r = httpx.post(fermion.base_url + path, content=b'{"uuid":"u","data":[]}', headers=TEXT)
        assert r.status_code == 202
        assert r.headers["access-control-allow-origin"] == "*"
    r = httpx.post(f"{fermion.base_url}/v1/JS/nope/Forwarding", content=b"{}", headers=TEXT)
    assert r.status_code == 401
