"""End-to-end tests of the Events API over real HTTP against a Fermion subprocess."""

from __future__ import annotations

import base64
import gzip
import json
import time
from typing import Any

import httpx
import pytest

from support.fermion_proc import FermionProcess, run_cli


def basic(key: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


def post(
    fermion: FermionProcess,
    path: str,
    body: Any,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> httpx.Response:
    h = {"Content-Type": "application/json", **basic(*fermion.input_creds()), **(headers or {})}
    content = raw if raw is not None else json.dumps(body).encode()
    return httpx.post(fermion.base_url + path, content=content, headers=h, timeout=30)


def a_batch(customer: str, n_events: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "environment": "development",
        "user_identities": {"customerid": customer},
        "events": [
            {
                "event_type": "custom_event",
                "data": {
                    "event_name": f"e{i}",
                    "custom_event_type": "navigation",
                    "custom_attributes": {"i": i},
                },
            }
            for i in range(n_events)
        ],
        **extra,
    }


def errors_of(r: httpx.Response) -> list[dict[str, str]]:
    body = r.json()
    assert isinstance(body["errors"], list) and body["errors"]
    return list(body["errors"])


def test_missing_or_non_basic_auth_is_401(fermion: FermionProcess) -> None:
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer x"}, {"Authorization": "Basic !!"}):
        r = httpx.post(fermion.base_url + "/v2/events", content=b"{}", headers=headers)
        assert r.status_code == 401
        assert errors_of(r)[0]["field"] == "Authorization"
    assert httpx.post(fermion.base_url + "/v2/events", content=b"{}").status_code == 401


def test_wrong_key_or_secret_is_403(fermion: FermionProcess) -> None:
    key, _ = fermion.input_creds()
    for headers in (basic(key, "wrong"), basic("nokey", "x"), basic("", "")):
        r = httpx.post(fermion.base_url + "/v2/events", content=b"{}", headers=headers)
        assert r.status_code == 403
        assert errors_of(r)


def test_single_batch_is_stored_and_readable(fermion: FermionProcess) -> None:
    batch = a_batch("single-1", 3, mpid=600868121729048600, source_request_id="req-single-1")
    batch["events"][0]["data"]["unknown_field"] = {"kept": [1, 2]}
    batch["future_top_level"] = "kept too"
    r = post(fermion, "/v2/events", batch)
    assert r.status_code == 202, r.text
    assert r.content == b""
    events = fermion.wait_for_events(3, mpid=600868121729048600)
    assert sorted(e["event_name"] for e in events) == ["e0", "e1", "e2"]
    first = next(e["event"] for e in events if e["event_name"] == "e0")
    assert first["data"]["unknown_field"] == {"kept": [1, 2]}
    assert first["data"]["event_id"] and first["data"]["timestamp_unixtime_ms"]
    live = httpx.get(
        f"{fermion.base_url}/api/v1/workspaces/{fermion.workspace_id}/livestream",
        params={"mpid": 600868121729048600},
        headers=fermion.admin_headers,
    ).json()["batches"]
    stored = live[0]["batch"]
    assert stored["future_top_level"] == "kept too"
    assert stored["mpid"] == 600868121729048600
    assert stored["user_identities"] == {"customer_id": "single-1"}
    assert stored["source_info"]["channel"] == "server_to_server"
    assert stored["batch_id"] == live[0]["batch_id"]


def test_resent_source_request_id_is_stored_once(fermion: FermionProcess) -> None:
    batch = a_batch("dedupe-1", 2, mpid=4242, source_request_id="req-dedupe-1")
    assert post(fermion, "/v2/events", batch).status_code == 202
    assert post(fermion, "/v2/events", batch).status_code == 202
    time.sleep(1.0)
    assert len(fermion.wait_for_events(2, mpid=4242)) == 2


def test_bulk_and_limits(fermion: FermionProcess) -> None:
    r = post(fermion, "/v2/bulkevents", [a_batch(f"bulk-{i}", 2, mpid=7000 + i) for i in range(5)])
    assert r.status_code == 202, r.text
    assert len(fermion.wait_for_events(2, mpid=7004)) == 2

    r = post(fermion, "/v2/bulkevents", [a_batch("x")] * 101)
    assert r.status_code == 413
    assert "100" in errors_of(r)[0]["message"]

    big = a_batch("big")
    big["user_attributes"] = {"blob": "x" * (130 * 1024)}
    r = post(fermion, "/v2/bulkevents", [big])
    assert r.status_code == 413 and errors_of(r)[0]["field"] == "[0]"

    huge = [a_batch("h", user_attributes={"blob": "y" * 100_000}) for _ in range(3)]
    r = post(fermion, "/v2/bulkevents", huge)
    assert r.status_code == 413 and errors_of(r)[0]["field"] == "body"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[]", "body"),
        (b'{"events": [{"data": {}}]}', "events[0].event_type"),
        (b'{"events": [{"event_type": "no_such_type", "data": {}}]}', "events[0].event_type"),
        (b'{"events": "nope"}', "events"),
        (b'{"environment": "staging"}', "environment"),
        (b'{"mpid": "abc"}', "mpid"),
    ],
)
def test_malformed_input_is_400_naming_the_field(fermion: FermionProcess, body: bytes, field: str) -> None:
    r = post(fermion, "/v2/events", None, raw=body)
    assert r.status_code == 400, r.text
    errs = errors_of(r)
    assert errs[0]["code"] == "BAD_REQUEST"
    assert errs[0]["field"] == field


def test_bulk_error_names_the_batch(fermion: FermionProcess) -> None:
    r = post(fermion, "/v2/bulkevents", [a_batch("ok"), {"events": [{"data": {}}]}])
    assert r.status_code == 202, r.text  # the valid batch is kept (spec 1.4)
    assert errors_of(r)[0]["field"] == "[1].events[0].event_type"
    r = post(fermion, "/v2/bulkevents", [{"events": [{"data": {}}]}])
    assert r.status_code == 400
    assert errors_of(r)[0]["field"] == "[0].events[0].event_type"
    r = post(fermion, "/v2/bulkevents", {"not": "an array"})
    assert r.status_code == 400 and errors_of(r)[0]["field"] == "body"


def test_gzip_body_and_double_slash(fermion: FermionProcess) -> None:
    raw = gzip.compress(json.dumps(a_batch("gz", 1, mpid=8101)).encode())
    r = post(fermion, "/v2//events", None, headers={"Content-Encoding": "gzip"}, raw=raw)
    assert r.status_code == 202, r.text
    assert len(fermion.wait_for_events(1, mpid=8101)) == 1
    r = post(fermion, "/v2/events", None, headers={"Content-Encoding": "gzip"}, raw=b"not gzip")
    assert r.status_code == 400


def test_historical_rules(fermion: FermionProcess) -> None:
    old = int(time.time() * 1000) - 5 * 24 * 3600 * 1000
    batch = a_batch("hist", 1, mpid=8201)
    batch["events"][0]["data"]["timestamp_unixtime_ms"] = old
    r = post(fermion, "/v2/bulkevents/historical", [batch])
    assert r.status_code == 202, r.text
    events = fermion.wait_for_events(1, mpid=8201)
    assert events and events[0]["timestamp_ms"] == old
    live = httpx.get(
        f"{fermion.base_url}/api/v1/workspaces/{fermion.workspace_id}/livestream",
        params={"mpid": 8201},
        headers=fermion.admin_headers,
    ).json()["batches"]
    assert live[0]["historical"] is True
    assert live[0]["batch"]["source_info"]["is_historical"] is True

    recent = a_batch("hist2", 1)
    recent["events"][0]["data"]["timestamp_unixtime_ms"] = int(time.time() * 1000)
    r = post(fermion, "/v2/bulkevents/historical", [recent])
    assert r.status_code == 400
    assert errors_of(r)[0]["field"] == "[0].events[0].data.timestamp_unixtime_ms"
    r = post(fermion, "/v2/bulkevents/historical", [a_batch("hist3", 1)])
    assert r.status_code == 400
    r = post(fermion, "/v2/bulkevents/historical", [{"environment": "development"}])
    assert r.status_code == 400 and errors_of(r)[0]["field"] == "[0].events"


def test_rate_limit_answers_429_with_integer_retry_after(fermion: FermionProcess) -> None:
    # A separate workspace input so other tests are not throttled.
    ws = fermion.workspace_id
    run_cli(fermion.data_dir, "inputs", "create", "--workspace", str(ws), "--platform", "ios")
    import subprocess
    import sys

    subprocess.run(
        [
            sys.executable,
            "-m",
            "fermion.cli",
            "workspaces",
            "set-rate-limit",
            "--workspace",
            str(ws),
            "--per-second",
            "5",
            "--data-dir",
            str(fermion.data_dir),
        ],
        check=True,
    )
    try:
        time.sleep(0.6)  # the API re-reads workspace settings (TTL 0.3 s in tests)
        statuses = []
        for _ in range(3):
            r = post(fermion, "/v2/bulkevents", [a_batch("rl")] * 4)
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert r.headers["Retry-After"].isdigit()
                assert r.headers["X-mp-rate-limit-exceeded"] == "workspace"
                assert errors_of(r)[0]["code"] == "TOO_MANY_REQUESTS"
        assert 429 in statuses and statuses[0] == 202
    finally:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "fermion.cli",
                "workspaces",
                "set-rate-limit",
                "--workspace",
                str(ws),
                "--per-second",
                "0",
                "--data-dir",
                str(fermion.data_dir),
            ],
            check=True,
        )
        time.sleep(0.6)
