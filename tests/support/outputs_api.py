"""Test helpers over the real HTTP APIs: send fixture batches, create outputs and connections, set data
filters, read the catalog."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from support.fermion_proc import FermionProcess


def admin(fermion: FermionProcess, method: str, path: str, body: Any = None) -> httpx.Response:
    url = f"{fermion.base_url}/api/v1/workspaces/{fermion.workspace_id}{path}"
    return httpx.request(method, url, json=body, headers=fermion.admin_headers, timeout=30)


def ok(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


def input_id(fermion: FermionProcess, platform: str = "custom") -> int:
    return int(next(i["id"] for i in fermion.info["inputs"] if i["platform"] == platform))


def connect(
    fermion: FermionProcess,
    integration: str,
    output_settings: dict[str, Any],
    connection_settings: dict[str, Any],
    platform: str = "custom",
    status: str = "active",
) -> int:
    """Create an output and connect the input of `platform` to it; return the connection id."""
    out = ok(admin(fermion, "POST", "/outputs", {"integration": integration, "settings": output_settings}))
    body = {
        "input_id": input_id(fermion, platform),
        "output_id": out["id"],
        "settings": connection_settings,
        "status": status,
    }
    return int(ok(admin(fermion, "POST", "/connections", body))["id"])


def send(fermion: FermionProcess, batches: list[dict[str, Any]], platform: str = "custom") -> None:
    key, secret = fermion.input_creds(platform)
    auth = base64.b64encode(f"{key}:{secret}".encode()).decode()
    r = httpx.post(
        f"{fermion.base_url}/v2/bulkevents",
        content=json.dumps(batches).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}"},
        timeout=30,
    )
    assert r.status_code == 202, r.text


def data_points(fermion: FermionProcess, **params: Any) -> list[dict[str, Any]]:
    url = f"{fermion.base_url}/api/v1/workspaces/{fermion.workspace_id}/data-points"
    r = httpx.get(url, params=params, headers=fermion.admin_headers, timeout=30)
    points: list[dict[str, Any]] = ok(r)["data_points"]
    return points


def put_filter(fermion: FermionProcess, connection_id: int, body: dict[str, Any]) -> httpx.Response:
    return admin(fermion, "PUT", f"/connections/{connection_id}/filters", body)
