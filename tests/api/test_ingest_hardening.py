"""Ingest hardening over HTTP: nothing answered 202 that the worker cannot store (64-bit integers,
lengths), malformed JSON answered 4xx on every ingest and identity route, bulk requests that keep their
valid batches, historical batches that leave audiences and calculated attributes alone, and the
reference's name and value limits."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest

from support.fermion_proc import FermionProcess
from support.waiting import wait_until

BIG = 2**64  # 18446744073709551616
FIRST_MS, LAST_MS = -62_135_596_800_000, 253_402_300_799_999  # timestamps: years 1 to 9999
DAY = 86_400_000


def basic(fermion: FermionProcess) -> dict[str, str]:
    key, secret = fermion.input_creds()
    token = base64.b64encode(f"{key}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


def post(fermion: FermionProcess, path: str, body: Any = None, raw: bytes | None = None) -> httpx.Response:
    content = raw if raw is not None else json.dumps(body).encode()
    return httpx.post(fermion.base_url + path, content=content, headers=basic(fermion), timeout=30)


def web_upload(fermion: FermionProcess, body: Any = None, raw: bytes | None = None) -> httpx.Response:
    key = fermion.input_creds("web")[0]
    content = raw if raw is not None else json.dumps(body).encode()
    headers = {"Content-Type": "text/plain;charset=UTF-8"}
    return httpx.post(f"{fermion.base_url}/v3/JS/{key}/events", content=content, headers=headers, timeout=30)


def event(name: str = "Tapped", ts: int | None = None, **data: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"event_name": name, "custom_event_type": "other", **data}
    if ts is not None:
        body["timestamp_unixtime_ms"] = ts
    return {"event_type": "custom_event", "data": body}


def batch(mpid: int | str, *events: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"environment": "production", "mpid": mpid, "events": list(events or [event()]), **extra}


def fields(r: httpx.Response) -> list[str]:
    return [e.get("field", "") for e in r.json()["errors"]]


# ------------------------------------------------------------------------------ integer ranges


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (batch(BIG), "mpid"),
        (batch(str(BIG)), "mpid"),
        (batch(-BIG), "mpid"),
        (batch(2**63), "mpid"),
        (batch(1, event(ts=BIG)), "events[0].data.timestamp_unixtime_ms"),
        (batch(1, event(ts=2**63 - 1)), "events[0].data.timestamp_unixtime_ms"),  # year 292 million
        (batch(1, event(ts=LAST_MS + 1)), "events[0].data.timestamp_unixtime_ms"),
        (batch(1, event(ts=FIRST_MS - 1)), "events[0].data.timestamp_unixtime_ms"),
        (batch(1, event(event_id=BIG)), "events[0].data.event_id"),
        (batch(1, event(custom_attributes={"n": BIG})), "events[0].data.custom_attributes.n"),
        (batch(1, user_attributes={"score": BIG}), "user_attributes.score"),
        (batch(1, user_attributes={"list": ["a", {"deep": -BIG}]}), "user_attributes.list[1].deep"),
        (batch(1, custom_field={"x": BIG}), "custom_field.x"),
        (batch(1, device_info={"screen_height": BIG}), "device_info.screen_height"),
    ],
)
def test_integers_beyond_64_bits_are_400_naming_the_field(
    fermion: FermionProcess, body: dict[str, Any], field: str
) -> None:
    r = post(fermion, "/v2/events", body)
    assert r.status_code == 400, r.text
    assert fields(r) == [field]


def test_web_sdk_and_bulk_refuse_integers_beyond_64_bits(fermion: FermionProcess) -> None:
    r = web_upload(fermion, batch(str(BIG)))
    assert r.status_code == 422 and fields(r) == ["mpid"], r.text  # the Web SDK drops a 422
    r = web_upload(fermion, batch("5", event(ts=BIG)))
    assert r.status_code == 422 and fields(r) == ["events[0].data.timestamp_unixtime_ms"], r.text
    r = web_upload(fermion, batch("5", user_attributes={"n": BIG}))  # not turned into a float
    assert r.status_code == 422 and fields(r) == ["user_attributes.n"], r.text
    r = post(fermion, "/v2/bulkevents", [batch(BIG)])
    assert r.status_code == 400 and fields(r) == ["[0].mpid"], r.text
    old = int(time.time() * 1000) - 4 * DAY
    r = post(fermion, "/v2/bulkevents/historical", [batch(1, event(ts=old, custom_attributes={"n": BIG}))])
    assert r.status_code == 400 and fields(r) == ["[0].events[0].data.custom_attributes.n"], r.text


def test_borderline_integers_are_accepted_and_stored(fermion: FermionProcess) -> None:
    top, bottom = 2**63 - 1, -(2**63)
    extremes = {"top": top, "bottom": bottom, "list": [top, bottom]}
    body = batch(
        top,
        event("Edge", ts=1_700_000_000_000, event_id=bottom, custom_attributes={"n": top}),
        user_attributes=extremes,
        device_info={"screen_height": top},
        custom_field=extremes,
    )
    _calculated(fermion, "Last edge", "Edge", "last_occurrence_timestamp")  # dates from event times
    r = post(fermion, "/v2/events", body)
    assert r.status_code == 202, r.text
    r = post(fermion, "/v2/events", batch(bottom, event("Edge", ts=LAST_MS), event("Edge", ts=FIRST_MS)))
    assert r.status_code == 202, r.text
    stored = wait_until(lambda: [e for e in fermion.events(mpid=top) if e["event_name"] == "Edge"])
    assert len(stored) == 1, fermion.events(mpid=top)
    assert stored[0]["event"]["data"]["event_id"] == bottom
    assert stored[0]["event"]["data"]["custom_attributes"] == {"n": top}
    assert [e["event_name"] for e in fermion.wait_for_events(2, mpid=bottom)] == ["Edge", "Edge"]
    assert wait_until(lambda: _attributes(fermion, bottom).get("Last edge")), _attributes(fermion, bottom)
    ready = wait_until(
        lambda: httpx.get(fermion.base_url + "/readyz", timeout=30).json().get("inbound_pending") == 0
    )
    assert ready, "the inbound log did not drain"


# ------------------------------------------------------------------------- malformed JSON bodies

MALFORMED = {
    "invalid_utf8": b'{"environment": "production", "events": [], "x": "\xff\xfe"}',
    "invalid_utf8_key": b'{"\xc3\x28": 1}',
    "deep_nesting": b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "deep_objects": b'{"a": ' * 5000 + b"1" + b"}" * 5000,
    "long_integer": b'{"mpid": 1' + b"0" * 100_000 + b"}",
    "long_fraction": b'{"x": 1.' + b"5" * 100_000 + b"}",
    "nan": b'{"x": NaN}',
    "infinity": b'{"x": Infinity}',
    "minus_infinity": b'{"x": -Infinity}',
    "overflowing_float": b'{"x": 1e400}',
}


def _bulk(raw: bytes) -> bytes:
    return b"[" + raw + b"]"


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_json_is_4xx_on_every_ingest_route(fermion: FermionProcess, name: str) -> None:
    raw = MALFORMED[name]
    for path, body in (
        ("/v2/events", raw),
        ("/v2/bulkevents", _bulk(raw)),
        ("/v2/bulkevents/historical", _bulk(raw)),
    ):
        r = post(fermion, path, raw=body)
        assert r.status_code in (202, 400), (path, r.status_code, r.text)  # 202: a fraction that fits
        if r.status_code == 400:
            assert r.json()["errors"][0]["field"], r.text
    r = web_upload(fermion, raw=raw)
    assert r.status_code in (202, 422), r.text
    if name != "long_fraction":
        assert r.status_code != 202


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_json_is_4xx_on_identity_and_alias_routes(fermion: FermionProcess, name: str) -> None:
    raw = MALFORMED[name]
    key = fermion.input_creds("web")[0]
    web = {"Content-Type": "application/json", "x-mp-key": key}
    admin = {**fermion.admin_headers, "Content-Type": "application/json"}
    for url, headers in (
        ("/v1/identify", web),
        ("/v1/login", web),
        ("/v1/search", web),
        ("/v1/42/modify", web),
        (f"/v1/identity/{key}/Alias", {"Content-Type": "application/json"}),
        (f"/api/v1/workspaces/{fermion.workspace_id}/identity/alias", admin),
        (f"/api/v1/workspaces/{fermion.workspace_id}/identity/explain", admin),
    ):
        r = httpx.post(fermion.base_url + url, content=raw, headers=headers, timeout=30)
        assert 400 <= r.status_code < 500, (url, r.status_code, r.text)
    settings = f"{fermion.base_url}/api/v1/workspaces/{fermion.workspace_id}/identity-settings"
    for method in ("PUT", "PATCH"):
        r = httpx.request(method, settings, content=raw, headers=admin, timeout=30)
        assert 400 <= r.status_code < 500, (method, r.status_code, r.text)


def test_alias_window_beyond_64_bits_is_400(fermion: FermionProcess) -> None:
    key = fermion.input_creds("web")[0]
    body = {
        "request_type": "alias",
        "environment": "production",
        "data": {"source_mpid": "1", "destination_mpid": "2", "start_unixtime_ms": BIG, "end_unixtime_ms": 1},
    }
    r = httpx.post(f"{fermion.base_url}/v1/identity/{key}/Alias", json=body, timeout=30)
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "data.start_unixtime_ms", r.text


# ---------------------------------------------------------------------------- bulk semantics


def test_bulk_keeps_valid_batches_and_reports_the_invalid_by_index(fermion: FermionProcess) -> None:
    good = [batch(8101, event("Kept")), batch(8102, event("Kept"))]
    bad = batch(8103, event("Lost"), events=[{"data": {}}])
    too_large = batch(8104, event("Lost"), user_attributes={"blob": "x" * (130 * 1024)})
    r = post(fermion, "/v2/bulkevents", [good[0], bad, too_large, good[1], batch(BIG)])
    assert r.status_code == 202, r.text
    assert fields(r) == ["[1].events[0].event_type", "[2]", "[4].mpid"]
    for mpid in (8101, 8102):
        assert [e["event_name"] for e in fermion.wait_for_events(1, mpid=mpid)] == ["Kept"]
    assert fermion.events(mpid=8103) == [] and fermion.events(mpid=8104) == []
    # Nothing valid: 400 with every batch's errors.
    r = post(fermion, "/v2/bulkevents", [bad, batch(BIG)])
    assert r.status_code == 400 and fields(r) == ["[0].events[0].event_type", "[1].mpid"], r.text
    r = post(fermion, "/v2/bulkevents", [too_large])
    assert r.status_code == 413 and fields(r) == ["[0]"], r.text


def test_historical_bulk_keeps_the_old_batches(fermion: FermionProcess) -> None:
    old = int(time.time() * 1000) - 4 * DAY
    recent = int(time.time() * 1000)
    r = post(
        fermion,
        "/v2/bulkevents/historical",
        [batch(8201, event("Old", ts=old)), batch(8202, event("New", ts=recent)), batch(8203, events=[])],
    )
    assert r.status_code == 202, r.text
    assert fields(r) == ["[1].events[0].data.timestamp_unixtime_ms", "[2].events"]
    assert [e["event_name"] for e in fermion.wait_for_events(1, mpid=8201)] == ["Old"]
    assert fermion.events(mpid=8202) == []


# --------------------------------------------------------------------------- published limits


def test_long_names_are_truncated_and_long_values_refused(fermion: FermionProcess) -> None:
    name, attribute = "N" * 300, "a" * 300
    r = post(fermion, "/v2/events", batch(8301, event(name, custom_attributes={attribute: "v"})))
    assert r.status_code == 202, r.text
    stored = fermion.wait_for_events(1, mpid=8301)
    assert stored[0]["event_name"] == "N" * 256
    assert stored[0]["event"]["data"]["custom_attributes"] == {"a" * 256: "v"}
    screen = {"event_type": "screen_view", "data": {"screen_name": name}}
    r = post(fermion, "/v2/events", {"mpid": 8302, "events": [screen]})
    assert r.status_code == 202, r.text
    assert fermion.wait_for_events(1, mpid=8302)[0]["event_name"] == "N" * 256
    for body, field in (
        (batch(8303, event(custom_attributes={"v": "v" * 4097})), "events[0].data.custom_attributes.v"),
        (batch(8303, user_attributes={"long": "v" * 4097}), "user_attributes.long"),
        (batch(8303, user_attributes={attribute: "v"}), f"user_attributes.{attribute}"),
        (batch(8303, user_attributes={"list": ["x"] * 1001}), "user_attributes.list"),
        (batch(8303, user_attributes={"list": ["ok", "x" * 513]}), "user_attributes.list[1]"),
        (batch(8303, deleted_user_attributes=[attribute]), "deleted_user_attributes[0]"),
    ):
        r = post(fermion, "/v2/events", body)
        assert r.status_code == 400 and fields(r) == [field], r.text
    at_limits = batch(
        8304,
        event(custom_attributes={"long": "v" * 4096}),
        user_attributes={"long": "v" * 4096, "list": ["x" * 512] * 10},
    )
    assert post(fermion, "/v2/events", at_limits).status_code == 202
    assert wait_until(lambda: fermion.events(mpid=8304, event_type="custom_event"))


# ------------------------------------------------------- historical batches: no audiences, no CAs


def _admin(fermion: FermionProcess, method: str, path: str, **kw: Any) -> httpx.Response:
    url = f"{fermion.base_url}/api/v1/workspaces/{fermion.workspace_id}{path}"
    return httpx.request(method, url, headers=fermion.admin_headers, timeout=30, **kw)


def _calculated(
    fermion: FermionProcess, name: str, event_name: str, calculation: str = "count", attribute: str = ""
) -> None:
    base = f"{fermion.base_url}/platform/v2/workspaces/{fermion.workspace_id}/calculatedattributes"
    point = {"type": "event", "event_type": "custom_event", "event_name": event_name}
    if attribute:
        point = {**point, "type": "event_attribute", "attribute_name": attribute}
    definition = {
        "recipe_type": "event",
        "datapoint": point,
        "calculation_type": calculation,
        "conditions": [],
        "time_period": {"type": "since", "date": "2020-01-01T00:00:00"},
    }
    body = {"name": name, "description": "d", "draft_definition": definition}
    r = httpx.post(base, json=body, headers=fermion.admin_headers, timeout=30)
    assert r.status_code == 200, r.text
    ca_id = int(r.json())
    assert httpx.post(f"{base}/{ca_id}/activation", headers=fermion.admin_headers, timeout=30).is_success

    def completed() -> bool:
        r = httpx.get(f"{base}/{ca_id}/calculation", headers=fermion.admin_headers, timeout=30)
        return bool(r.json()["status"] == "completed")

    assert wait_until(completed)


def _attributes(fermion: FermionProcess, mpid: int) -> dict[str, Any]:
    info = fermion.info
    url = (
        f"{fermion.base_url}/userprofile/v1/{info['organization_id']}/{info['account_id']}/"
        f"{fermion.workspace_id}/{mpid}?fields=user_attributes"
    )
    r = httpx.get(url, headers=fermion.admin_headers, timeout=30)
    return dict(r.json().get("user_attributes") or {}) if r.status_code == 200 else {}


def _members(fermion: FermionProcess, audience_id: int) -> set[str]:
    r = _admin(fermion, "GET", f"/audiences/{audience_id}/members", params={"limit": 100})
    return {str(m["mpid"]) for m in r.json()["members"]} if r.status_code == 200 else set()


def test_historical_batches_leave_audiences_and_calculated_attributes_alone(
    fermion: FermionProcess,
) -> None:
    _calculated(fermion, "Old buys", "OldBuy")
    _calculated(fermion, "Pings", "Ping")
    criteria = {"event": {"type": "custom_event", "name": "OldBuy", "window_days": 30}}
    r = _admin(fermion, "POST", "/audiences", json={"name": "Old buyers", "criteria": criteria})
    assert r.status_code in (200, 201), r.text
    aid = int(r.json()["id"])
    assert _admin(fermion, "POST", f"/audiences/{aid}/activate").status_code == 202
    assert wait_until(lambda: _admin(fermion, "GET", f"/audiences/{aid}").json()["status"] == "active")

    four_days_ago = int(time.time() * 1000) - 4 * DAY
    historical = batch(8401, event("OldBuy", ts=four_days_ago, custom_event_type="transaction"))
    assert post(fermion, "/v2/bulkevents/historical", [historical]).status_code == 202
    assert fermion.wait_for_events(1, mpid=8401)  # stored, as every historical batch is
    # Later batches: the same user's next one (same lane, after the historical one), and a control
    # user sending the same event through /v2/bulkevents.
    assert post(fermion, "/v2/events", batch(8401, event("Ping"))).status_code == 202
    control = batch(8402, event("OldBuy", ts=four_days_ago, custom_event_type="transaction"))
    assert post(fermion, "/v2/bulkevents", [control]).status_code == 202
    assert wait_until(lambda: _attributes(fermion, 8402).get("Old buys") == "1"), _attributes(fermion, 8402)
    assert wait_until(lambda: "8402" in _members(fermion, aid)), _members(fermion, aid)
    assert wait_until(lambda: _attributes(fermion, 8401).get("Pings") == "1"), _attributes(fermion, 8401)
    assert _attributes(fermion, 8401).get("Old buys") in (None, "0")
    assert "8401" not in _members(fermion, aid)


def test_non_finite_and_overflowing_attribute_numbers_do_not_stall_the_worker(
    fermion: FermionProcess,
) -> None:
    _calculated(fermion, "Spent", "Buy", "sum", attribute="amount")
    amounts = ["NaN", "Infinity", "1e308", "1e308", "2"]  # NaN/Infinity are no numbers; the sum overflows
    buys = [event("Buy", custom_attributes={"amount": a}, custom_event_type="transaction") for a in amounts]
    assert post(fermion, "/v2/events", batch(8501, *buys)).status_code == 202
    assert wait_until(lambda: _attributes(fermion, 8501).get("Spent")), _attributes(fermion, 8501)
    assert (
        post(
            fermion, "/v2/events", batch(8502, event("Buy", custom_attributes={"amount": "2.5"}))
        ).status_code
        == 202
    )
    assert wait_until(lambda: _attributes(fermion, 8502).get("Spent") == "2.5"), _attributes(fermion, 8502)
    ready = wait_until(
        lambda: httpx.get(fermion.base_url + "/readyz", timeout=30).json().get("inbound_pending") == 0
    )
    assert ready, "the inbound log did not drain"
