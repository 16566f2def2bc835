"""Historical batches (/v2/bulkevents/historical) never change audiences or calculated attributes, also
when those are computed over stored history: activating a real-time audience, calculating a standard
one, and backfilling a calculated attribute all leave the historical batches out, while a real-time
batch with the same event, stored before the activation too, counts."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx

from support.fermion_proc import FermionProcess
from support.waiting import wait_until

DAY = 86_400_000
HISTORICAL_USER, CONTROL_USER = 9101, 9102


def _post(fermion: FermionProcess, path: str, body: Any) -> httpx.Response:
    key, secret = fermion.input_creds()
    token = base64.b64encode(f"{key}:{secret}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
    return httpx.post(fermion.base_url + path, content=json.dumps(body).encode(), headers=headers, timeout=30)


def _batch(mpid: int, name: str, ts: int) -> dict[str, Any]:
    data = {"event_name": name, "custom_event_type": "transaction", "timestamp_unixtime_ms": ts}
    return {
        "environment": "production",
        "mpid": mpid,
        "user_identities": {"customer_id": f"user-{mpid}"},
        "events": [{"event_type": "custom_event", "data": data}],
    }


def _audiences(fermion: FermionProcess, method: str, path: str = "", **kw: Any) -> httpx.Response:
    url = f"{fermion.base_url}/api/v1/workspaces/{fermion.workspace_id}/audiences{path}"
    return httpx.request(method, url, headers=fermion.admin_headers, timeout=30, **kw)


def _audience(fermion: FermionProcess, name: str, kind: str, event_name: str) -> int:
    criteria = {"event": {"type": "custom_event", "name": event_name, "window_days": 30}}
    r = _audiences(fermion, "POST", json={"name": name, "kind": kind, "criteria": criteria})
    assert r.status_code == 201, r.text
    audience_id = int(r.json()["id"])
    verb = "activate" if kind == "real_time" else "calculate"
    r = _audiences(fermion, "POST", f"/{audience_id}/{verb}")
    assert r.status_code == 202, r.text
    active = wait_until(
        lambda: _audiences(fermion, "GET", f"/{audience_id}").json()["status"] == "active", timeout_s=60
    )
    assert active, _audiences(fermion, "GET", f"/{audience_id}").text
    return audience_id


def _members(fermion: FermionProcess, audience_id: int) -> set[int]:
    r = _audiences(fermion, "GET", f"/{audience_id}/members", params={"limit": 100})
    assert r.status_code == 200, r.text
    return {int(m["mpid"]) for m in r.json()["members"]}


def _calculated(fermion: FermionProcess, name: str, event_name: str) -> dict[str, Any]:
    base = f"{fermion.base_url}/platform/v2/workspaces/{fermion.workspace_id}/calculatedattributes"
    definition = {
        "recipe_type": "event",
        "datapoint": {"type": "event", "event_type": "custom_event", "event_name": event_name},
        "calculation_type": "count",
        "conditions": [],
        "time_period": {"type": "since", "date": "2020-01-01T00:00:00"},
    }
    r = httpx.post(
        base,
        json={"name": name, "description": "d", "draft_definition": definition},
        headers=fermion.admin_headers,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    ca_id = int(r.json())
    r = httpx.post(f"{base}/{ca_id}/activation", headers=fermion.admin_headers, timeout=30)
    assert r.is_success, r.text

    def completed() -> dict[str, Any] | None:
        r = httpx.get(f"{base}/{ca_id}/calculation", headers=fermion.admin_headers, timeout=30)
        body: dict[str, Any] = r.json()
        return body if body["status"] == "completed" else None

    calculation = wait_until(completed, timeout_s=60)
    assert calculation, "the calculated attribute's backfill did not complete"
    return calculation


def _attributes(fermion: FermionProcess, mpid: int) -> dict[str, Any] | None:
    info = fermion.info
    url = (
        f"{fermion.base_url}/userprofile/v1/{info['organization_id']}/{info['account_id']}/"
        f"{fermion.workspace_id}/{mpid}?fields=user_attributes"
    )
    r = httpx.get(url, headers=fermion.admin_headers, timeout=30)
    return dict(r.json().get("user_attributes") or {}) if r.status_code == 200 else None


def test_history_computations_leave_historical_batches_out(fermion: FermionProcess) -> None:
    four_days_ago = int(time.time() * 1000) - 4 * DAY
    r = _post(fermion, "/v2/bulkevents/historical", [_batch(HISTORICAL_USER, "Bought", four_days_ago)])
    assert r.status_code == 202, r.text
    r = _post(fermion, "/v2/bulkevents", [_batch(CONTROL_USER, "Bought", four_days_ago)])
    assert r.status_code == 202, r.text
    # Both stored (and both users have a profile) before anything is activated.
    for mpid in (HISTORICAL_USER, CONTROL_USER):
        assert fermion.wait_for_events(1, mpid=mpid, event_type="custom_event")
        assert wait_until(lambda m=mpid: _attributes(fermion, m) is not None), mpid

    real_time = _audience(fermion, "Bought (real-time)", "real_time", "Bought")
    standard = _audience(fermion, "Bought (standard)", "standard", "Bought")
    calculation = _calculated(fermion, "Bought count", "Bought")

    for audience_id in (real_time, standard):
        assert wait_until(lambda a=audience_id: CONTROL_USER in _members(fermion, a)), _members(
            fermion, audience_id
        )
        assert HISTORICAL_USER not in _members(fermion, audience_id)
    assert wait_until(lambda: (_attributes(fermion, CONTROL_USER) or {}).get("Bought count") == "1")
    assert (_attributes(fermion, HISTORICAL_USER) or {}).get("Bought count") in (None, "0")
    # The calculation's progress counts only the batches it computes from.
    assert calculation["total_batches"] == calculation["processed_batches"] == 1, calculation
