"""The official @mparticle/web-sdk in headless Chromium against a running Fermion (issue 3 item 7).

web_sdk_scenario.js serves a page from its own origin, initialises the SDK with Fermion's URLs, logs
anonymous events, logs in, logs more and forces uploads; these tests check what Fermion stored.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.fermion_proc import FermionProcess

NODE_DIR = Path(__file__).parent
CHROMIUM = os.environ.get("FERMION_CHROMIUM", "/usr/bin/chromium")
STUB_MPID = "8001234567890123456"  # web_sdk_scenario.js --stub-identity
ANONYMOUS_NAMES = {"Home", "Anon Click", "click"}  # "click": the promotion click
KNOWN_NAMES = {"Known Click", "purchase", "Account"}


@pytest.fixture(scope="module", autouse=True)
def browser_tools() -> Iterator[None]:
    missing = [p for p in (Path(CHROMIUM), NODE_DIR / "node_modules" / "playwright-core") if not p.exists()]
    if missing:
        message = f"missing {', '.join(map(str, missing))}: run scripts/test (apt chromium, npm ci)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    yield


def run_scenario(fermion: FermionProcess, customer_id: str, *flags: str) -> dict[str, Any]:
    key = fermion.input_creds("web")[0]
    out = subprocess.run(
        ["node", "web_sdk_scenario.js", fermion.base_url, key, customer_id, *flags],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "FERMION_CHROMIUM": CHROMIUM},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["pageErrors"] == []
    assert result.get("queuedAtEnd") == 0, "the SDK still held events when the browser closed"
    return result


def sent_batches(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The batches the SDK uploaded, after checking every upload got 202 with CORS headers."""
    uploads = [r for r in result["requests"] if r["url"].endswith("/events")]
    assert uploads, result
    for r in uploads:
        assert (r.get("status"), r.get("failure")) == (202, None), r
        assert r["headers"]["access-control-allow-origin"] == "*"
    return [json.loads(r["body"]) for r in uploads]


def stored_batches(fermion: FermionProcess, mpid: str) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{fermion.base_url}/api/v1/workspaces/{fermion.workspace_id}/livestream",
        params={"mpid": mpid, "environment": "all", "limit": 500},
        headers=fermion.admin_headers,
    )
    r.raise_for_status()
    return [b["batch"] for b in r.json()["batches"]]


def check_everything_sent_was_stored(fermion: FermionProcess, batches: list[dict[str, Any]]) -> None:
    """Every event the SDK sent is stored once, under the MPID of the batch that carried it. (Fermion
    may add events of its own, e.g. IDSync's user_identity_change for identities it newly linked.)"""
    for mpid in {b["mpid"] for b in batches}:
        sent = {e["data"]["source_message_id"] for b in batches if b["mpid"] == mpid for e in b["events"]}
        stored = fermion.wait_for_events(len(sent), mpid=mpid)
        from_sdk = [e["event"]["data"].get("source_message_id") for e in stored]
        assert sorted(m for m in from_sdk if m is not None) == sorted(sent)


def names(batch: dict[str, Any]) -> set[str]:
    out = set()
    for e in batch["events"]:
        d = e["data"]
        action = (d.get("product_action") or d.get("promotion_action") or {}).get("action")
        action = {1: "view", 2: "click"}.get(action, action)  # as sent, promotion actions are numbers
        out.add(d.get("event_name") or d.get("screen_name") or action or e["event_type"])
    return out


def test_config_and_event_uploads_with_identity_stubbed_in_the_browser(fermion: FermionProcess) -> None:
    """The transport alone: identity answered inside the browser, everything else by Fermion."""
    result = run_scenario(fermion, "web-user-stubbed", "--stub-identity")
    assert result["sdk"]["ready"] is True, result
    (config,) = [r for r in result["requests"] if "/config?" in r["url"]]
    assert config["status"] == 200 and "env=1" in config["url"]
    batches = sent_batches(result)
    assert {b["mpid"] for b in batches} == {STUB_MPID}
    check_everything_sent_was_stored(fermion, batches)
    stored = stored_batches(fermion, STUB_MPID)
    assert {b["source_info"]["channel"] for b in stored} == {"javascript"}
    assert all(b["environment"] == "development" for b in stored)
    anonymous = [b for b in stored if names(b) & ANONYMOUS_NAMES]
    known = [b for b in stored if names(b) & KNOWN_NAMES]
    assert set().union(*map(names, anonymous)) >= ANONYMOUS_NAMES
    assert set().union(*map(names, known)) >= KNOWN_NAMES
    assert all(not (b.get("user_identities") or {}).get("customer_id") for b in anonymous)
    assert all(b["user_identities"]["customer_id"] == "web-user-stubbed" for b in known)
    promo = [e for b in anonymous for e in b["events"] if "promotion_action" in e["data"]]
    assert promo[0]["data"]["promotion_action"]["action"] == "click"  # the web SDK sent 2


def identity_search(fermion: FermionProcess, known: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{fermion.base_url}/v1/search",
        json={"environment": "development", "known_identities": known},
        headers={"x-mp-key": fermion.input_creds("web")[0], "Content-Type": "application/json"},
    )


def profile(fermion: FermionProcess, mpid: str) -> dict[str, Any]:
    """The Profile API's view of `mpid` (spec 3), polled until the worker has built it."""
    ws = httpx.get(
        f"{fermion.base_url}/api/v1/workspaces/{fermion.workspace_id}", headers=fermion.admin_headers
    ).json()
    url = f"{fermion.base_url}/userprofile/v1/{ws['org_id']}/{ws['account_id']}/{ws['id']}/{mpid}"
    deadline = time.monotonic() + 30
    while True:
        r = httpx.get(
            url, params={"fields": "user_identities,device_identities"}, headers=fermion.admin_headers
        )
        if r.status_code != 404 or time.monotonic() > deadline:
            assert r.status_code == 200, r.text
            found: dict[str, Any] = r.json()
            return found
        time.sleep(0.2)


def test_anonymous_then_logged_in_user_end_to_end(fermion: FermionProcess) -> None:
    """Fermion's own Identity API gives the MPIDs; with the default strategy (profile conversion,
    spec 1.9) the login adds the customer id to the anonymous profile, which keeps its MPID."""
    customer_id = "web-user-1"
    result = run_scenario(fermion, customer_id)
    sdk = result["sdk"]
    identify = sdk["identify"]
    assert identify.get("httpCode") == 200, f"/v1/identify from the browser failed: {result}"
    anonymous_mpid = identify["mpid"]
    assert isinstance(anonymous_mpid, str) and int(anonymous_mpid) != 0
    assert identify["body"]["is_logged_in"] is False
    assert sdk["anonymousMpid"] == anonymous_mpid

    batches = sent_batches(result)
    check_everything_sent_was_stored(fermion, batches)
    anonymous = [b for b in batches if names(b) & ANONYMOUS_NAMES]
    assert set().union(*map(names, anonymous)) >= ANONYMOUS_NAMES
    assert {b["mpid"] for b in anonymous} == {anonymous_mpid}
    assert all(b["mp_deviceid"] == sdk["deviceId"] for b in batches)

    # Login: the last step, as it depends on the whole Identity API.
    login = sdk["login"]
    assert login.get("httpCode") == 200, f"/v1/login from the browser failed: {login}"
    assert login["body"]["is_logged_in"] is True
    assert login["mpid"] == sdk["knownMpid"] == anonymous_mpid  # profile conversion keeps the MPID
    known = [b for b in batches if names(b) & KNOWN_NAMES]
    assert set().union(*map(names, known)) >= KNOWN_NAMES
    assert {b["mpid"] for b in known} == {login["mpid"]}
    assert all(b["user_identities"]["customer_id"] == customer_id for b in known)
    for b in stored_batches(fermion, login["mpid"]):
        if names(b) & KNOWN_NAMES:
            assert b["user_identities"]["customer_id"] == customer_id
    # IDSync now finds that profile by the customer id (alone, or with the browser's device stamp).
    for known_ids in (
        {"customerid": customer_id},
        {"customerid": customer_id, "device_application_stamp": sdk["deviceId"]},
    ):
        found = identity_search(fermion, known_ids)
        assert found.status_code == 200, found.text
        assert found.json()["mpid"] == login["mpid"]
    # The profile merges the anonymous browser's device stamp and the customer id.
    merged = profile(fermion, login["mpid"])
    assert str(merged["mpid"]) == login["mpid"]
    assert {"type": "customer_id", "value": customer_id} in [
        {"type": i["type"], "value": i["value"]} for i in merged["user_identities"]
    ]
    assert sdk["deviceId"] in [i["value"] for i in merged["device_identities"]], merged
