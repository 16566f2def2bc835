"""Live Stream (JSON and server-sent events), admin auth and isolation, and the daily archive."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
from test_events_api import a_batch, post

from support.fermion_proc import FermionProcess


def live(fermion: FermionProcess, **params: Any) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{fermion.base_url}/api/v1/workspaces/{fermion.workspace_id}/livestream",
        params=params,
        headers=fermion.admin_headers,
    )
    assert r.status_code == 200, r.text
    return list(r.json()["batches"])


def test_admin_api_needs_a_valid_token(fermion: FermionProcess) -> None:
    url = f"{fermion.base_url}/api/v1/workspaces/{fermion.workspace_id}/livestream"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    other = f"{fermion.base_url}/api/v1/workspaces/999999/livestream"
    r = httpx.get(other, headers=fermion.admin_headers)
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "workspace_id"
    r = httpx.get(url, headers=fermion.admin_headers, params={"environment": "staging"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "environment"


def test_livestream_filters_and_development_default(fermion: FermionProcess) -> None:
    dev = a_batch("live-dev", 1, mpid=9101, mp_deviceid="dev-device-1")
    prod = {**a_batch("live-prod", 1, mpid=9102), "environment": "production"}
    assert post(fermion, "/v2/bulkevents", [dev, prod]).status_code == 202
    fermion.wait_for_events(1, mpid=9102)
    mpids = {b["mpid"] for b in live(fermion)}
    assert "9101" in mpids and "9102" not in mpids
    assert {b["mpid"] for b in live(fermion, environment="production")} >= {"9102"}
    assert {b["mpid"] for b in live(fermion, environment="all", mpid=9102)} == {"9102"}
    assert [b["mpid"] for b in live(fermion, device_id="dev-device-1")] == ["9101"]
    server_input = next(i["id"] for i in fermion.info["inputs"] if i["platform"] == "custom")
    web_input = next(i["id"] for i in fermion.info["inputs"] if i["platform"] == "web")
    assert live(fermion, input_id=server_input, mpid=9101)
    assert not live(fermion, input_id=web_input, mpid=9101)


def test_livestream_sse_delivers_new_batches(fermion: FermionProcess) -> None:
    url = f"{fermion.base_url}/api/v1/workspaces/{fermion.workspace_id}/livestream/stream"
    seen: list[dict[str, Any]] = []

    def listen() -> None:
        with httpx.stream("GET", url, params={"mpid": 9201}, headers=fermion.admin_headers, timeout=20) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                if line.startswith("data:"):
                    seen.append(json.loads(line[5:]))
                    return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    time.sleep(1.0)
    assert post(fermion, "/v2/events", a_batch("sse", 1, mpid=9201)).status_code == 202
    t.join(20)
    assert seen and seen[0]["mpid"] == "9201"
    assert seen[0]["batch"]["events"][0]["data"]["event_name"] == "e0"


def test_daily_archive_holds_processed_batches(fermion: FermionProcess) -> None:
    assert post(fermion, "/v2/events", a_batch("archive", 1, mpid=9301)).status_code == 202
    fermion.wait_for_events(1, mpid=9301)
    deadline = time.monotonic() + 15
    found = False
    while time.monotonic() < deadline and not found:
        for path in (fermion.data_dir / "archive" / str(fermion.workspace_id)).glob("*.ndjson"):
            lines = [json.loads(line) for line in path.read_text().splitlines() if line]
            found = found or any(b.get("mpid") == 9301 for b in lines)
        time.sleep(0.3)
    assert found
