"""Calls that a set of input credentials opens (Events API, IDSync plain and signed, Alias, CA seeding,
Web SDK), and polling until all of them refuse or all accept: shared by the revocation tests."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

import httpx

from fermion.services.identity_auth import signature
from support.waiting import wait_until

REFUSED = (401, 403)
DEADLINE_S = 10.0  # twice config_cache_ttl_s (5 s): how long a revoked credential may keep working


def basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


def batch() -> dict[str, Any]:
    return {
        "environment": "development",
        "user_identities": {"customerid": "rev-" + uuid.uuid4().hex[:8]},
        "events": [{"event_type": "custom_event", "data": {"event_name": "e", "custom_event_type": "other"}}],
    }


def idsync_body() -> bytes:
    return json.dumps(
        {
            "client_sdk": {"platform": "web", "sdk_vendor": "mparticle", "sdk_version": "2.68.0"},
            "environment": "development",
            "request_id": str(uuid.uuid4()),
            "request_timestamp_ms": int(time.time() * 1000),
            "known_identities": {"customerid": "rev-idsync"},
        }
    ).encode()


def input_routes(base: str, key: str, secret: str) -> dict[str, Callable[[], int]]:
    """Every route a server input's key and secret open, each answering its status."""
    auth = {"Authorization": basic(key, secret), "Content-Type": "application/json"}

    def events() -> int:
        return httpx.post(f"{base}/v2/events", json=batch(), headers=auth, timeout=30).status_code

    def idsync() -> int:
        return httpx.post(f"{base}/v1/identify", content=idsync_body(), headers=auth, timeout=30).status_code

    def signed_idsync() -> int:
        raw, date = idsync_body(), formatdate(usegmt=True)
        headers = {
            "x-mp-key": key,
            "Date": date,
            "x-mp-signature": signature(secret, "POST", date, "/v1/identify", raw),
            "Content-Type": "application/json",
        }
        return httpx.post(f"{base}/v1/identify", content=raw, headers=headers, timeout=30).status_code

    def alias() -> int:
        body = {"source_mpid": 1, "destination_mpid": 2, "start_unixtime_ms": 0, "end_unixtime_ms": 1}
        return httpx.post(f"{base}/v1/identity/{key}/Alias", json=body, headers=auth, timeout=30).status_code

    def seeding() -> int:
        return httpx.post(
            f"{base}/v2/calculatedattributes", content=b"{}", headers=auth, timeout=30
        ).status_code

    return {"events": events, "idsync": idsync, "signed": signed_idsync, "alias": alias, "seeding": seeding}


def web_route(base: str, key: str) -> Callable[[], int]:
    def upload() -> int:
        return httpx.post(f"{base}/v3/JS/{key}/events", json=batch(), timeout=30).status_code

    return upload


def assert_open(routes: dict[str, Callable[[], int]]) -> None:
    statuses = {name: call() for name, call in routes.items()}
    assert not [n for n, s in statuses.items() if s in REFUSED], statuses


def wait_refused(routes: dict[str, Callable[[], int]]) -> None:
    """Poll until every route refuses (401/403); fail naming the routes that still let it in."""
    still_open: dict[str, int] = {}

    def all_refused() -> bool:
        still_open.clear()
        for name, call in routes.items():
            status = call()
            if status not in REFUSED:
                still_open[name] = status
        return not still_open

    assert wait_until(all_refused, DEADLINE_S, 0.25), f"still accepted after {DEADLINE_S} s: {still_open}"


def wait_open(routes: dict[str, Callable[[], int]]) -> None:
    assert wait_until(lambda: all(call() not in REFUSED for call in routes.values()), DEADLINE_S, 0.25), {
        name: call() for name, call in routes.items()
    }
