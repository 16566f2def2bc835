"""Identity and id lengths over HTTP: user identity values over 512 characters, device identifiers over
256 and `source_request_id` over 200 are refused naming the field on the Events API (400), bulk
(by index), the Web SDK upload (422) and IDSync (400); values at the limits are stored and resolved."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest

from support.fermion_proc import FermionProcess
from support.waiting import wait_until

EMAIL_AT_LIMIT = "e" * 500 + "@example.com"  # 512 characters


def basic(fermion: FermionProcess) -> dict[str, str]:
    key, secret = fermion.input_creds()
    token = base64.b64encode(f"{key}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


def post(fermion: FermionProcess, path: str, body: Any) -> httpx.Response:
    raw = json.dumps(body).encode()
    return httpx.post(fermion.base_url + path, content=raw, headers=basic(fermion), timeout=30)


def web_upload(fermion: FermionProcess, body: Any) -> httpx.Response:
    key = fermion.input_creds("web")[0]
    headers = {"Content-Type": "text/plain;charset=UTF-8"}
    raw = json.dumps(body).encode()
    return httpx.post(f"{fermion.base_url}/v3/JS/{key}/events", content=raw, headers=headers, timeout=30)


def idsync(fermion: FermionProcess, path: str, body: dict[str, Any]) -> httpx.Response:
    key = fermion.input_creds("web")[0]
    headers = {"Content-Type": "application/json", "x-mp-key": key}
    payload = {"environment": "production", "request_id": str(uuid.uuid4()), **body}
    return httpx.post(fermion.base_url + path, json=payload, headers=headers, timeout=30)


def batch(mpid: int | str, **extra: Any) -> dict[str, Any]:
    event = {"event_type": "custom_event", "data": {"event_name": "Tapped", "custom_event_type": "other"}}
    return {"environment": "production", "mpid": mpid, "events": [event], **extra}


def fields(r: httpx.Response) -> list[str]:
    return [e.get("field", "") for e in r.json()["errors"]]


OVER_LIMITS = [
    ({"user_identities": {"email": "e" * 3000}}, "user_identities.email"),
    ({"user_identities": {"customerid": "c" * 513}}, "user_identities.customerid"),
    ({"user_identities": {"other_id_2": "o" * 513}}, "user_identities.other_id_2"),
    ({"device_info": {"ios_advertising_id": "i" * 257}}, "device_info.ios_advertising_id"),
    ({"device_info": {"push_token": "p" * 3000}}, "device_info.push_token"),
    ({"mp_deviceid": "d" * 257}, "mp_deviceid"),
    ({"source_request_id": "r" * 201}, "source_request_id"),
]


@pytest.mark.parametrize(("extra", "field"), OVER_LIMITS)
def test_events_api_refuses_identities_and_ids_over_their_limits(
    fermion: FermionProcess, extra: dict[str, Any], field: str
) -> None:
    r = post(fermion, "/v2/events", batch(9301, **extra))
    assert r.status_code == 400 and fields(r) == [field], r.text
    assert "at most" in r.json()["errors"][0]["message"]


def test_bulk_and_web_sdk_refuse_them_too(fermion: FermionProcess) -> None:
    r = post(fermion, "/v2/bulkevents", [batch(9311, user_identities={"email": "e" * 513}), batch(9312)])
    assert r.status_code == 202 and fields(r) == ["[0].user_identities.email"], r.text
    assert fermion.wait_for_events(1, mpid=9312, event_type="custom_event")
    r = post(fermion, "/v2/bulkevents", [batch(9313, source_request_id="r" * 201)])
    assert r.status_code == 400 and fields(r) == ["[0].source_request_id"], r.text
    for extra, field in OVER_LIMITS:
        r = web_upload(fermion, batch("9314", **extra))
        assert r.status_code == 422 and fields(r) == [field], r.text  # the Web SDK drops a 422
    assert fermion.events(mpid=9311) == [] and fermion.events(mpid=9313) == []
    assert fermion.events(mpid=9314) == []


def test_values_at_the_limits_are_stored_and_resolved(fermion: FermionProcess) -> None:
    at_limits = batch(
        9321,
        source_request_id="r" * 200,
        mp_deviceid="d" * 256,
        user_identities={"email": EMAIL_AT_LIMIT, "customerid": "c" * 512},
        device_info={"ios_advertising_id": "i" * 256, "http_header_user_agent": "a" * 1000},
    )
    assert post(fermion, "/v2/events", at_limits).status_code == 202
    assert web_upload(fermion, batch("9322", source_request_id="w" * 200)).status_code == 202
    assert fermion.wait_for_events(1, mpid=9321, event_type="custom_event")
    assert fermion.wait_for_events(1, mpid=9322, event_type="custom_event")

    def found() -> str | None:
        r = idsync(fermion, "/v1/search", {"known_identities": {"email": EMAIL_AT_LIMIT}})
        return str(r.json()["mpid"]) if r.status_code == 200 else None

    assert wait_until(found) == "9321"
    ready = wait_until(
        lambda: httpx.get(fermion.base_url + "/readyz", timeout=30).json().get("inbound_pending") == 0
    )
    assert ready, "the inbound log did not drain"


def test_idsync_refuses_identities_over_their_limits(fermion: FermionProcess) -> None:
    for known, field in (
        ({"email": "e" * 513}, "known_identities.email"),
        ({"customerid": "c" * 3000}, "known_identities.customerid"),
        ({"other2": "o" * 513}, "known_identities.other2"),
        ({"device_application_stamp": "d" * 257}, "known_identities.device_application_stamp"),
        ({"ios_idfa": "i" * 257}, "known_identities.ios_idfa"),
    ):
        for path in ("/v1/identify", "/v1/login", "/v1/search"):
            r = idsync(fermion, path, {"known_identities": known})
            assert r.status_code == 400 and fields(r) == [field], (path, r.text)
    r = idsync(fermion, "/v1/identify", {"known_identities": {"email": "x" * 512, "ios_idfa": "i" * 256}})
    assert r.status_code == 200, r.text
    mpid = r.json()["mpid"]
    changes = [{"identity_type": "ios_idfa", "old_value": None, "new_value": "j" * 257}]
    r = idsync(fermion, f"/v1/{mpid}/modify", {"identity_changes": changes})
    assert r.status_code == 400 and fields(r) == ["identity_changes[0].new_value"], r.text
    changes = [{"identity_type": "customerid", "old_value": None, "new_value": "k" * 513}]
    r = idsync(fermion, f"/v1/{mpid}/modify", {"identity_changes": changes})
    assert r.status_code == 400 and fields(r) == ["identity_changes[0].new_value"], r.text


def test_alias_refuses_a_long_device_stamp(fermion: FermionProcess) -> None:
    key = fermion.input_creds("web")[0]
    body = {
        "request_type": "alias",
        "environment": "production",
        "data": {
            "source_mpid": "1",
            "destination_mpid": "2",
            "start_unixtime_ms": 1,
            "end_unixtime_ms": 2,
            "device_application_stamp": "d" * 257,
        },
    }
    r = httpx.post(f"{fermion.base_url}/v1/identity/{key}/Alias", json=body, timeout=30)
    assert r.status_code == 400 and fields(r) == ["data.device_application_stamp"], r.text
