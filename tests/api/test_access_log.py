"""The access log: one JSON line per request on the server's stderr with the method, path (no query
string), status and latency in milliseconds, for the Events API as for every other route."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx

from support.fermion_proc import FermionProcess
from support.waiting import wait_until


def access_lines(fermion: FermionProcess) -> list[dict[str, Any]]:
    lines = []
    for line in (fermion.data_dir / "server.log").read_text(errors="replace").splitlines():
        if line.startswith("{") and '"log":"access"' in line:
            lines.append(json.loads(line))
    return lines


def test_one_line_per_request(fermion: FermionProcess) -> None:
    marker = uuid.uuid4().hex
    key, secret = fermion.input_creds()
    auth = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
    batch = {"environment": "development", "mpid": 7, "events": []}
    with httpx.Client(base_url=fermion.base_url, timeout=30) as client:
        assert client.post("/v2/events", json=batch, headers={"Authorization": auth}).status_code == 202
        assert client.get(f"/api/v1/workspaces/1/events?q={marker}").status_code == 401
        assert client.get(f"/nothing-here/{marker}").status_code == 404

    def mine() -> list[dict[str, Any]]:
        found = [
            line
            for line in access_lines(fermion)
            if marker in line["path"] or line["path"] in ("/v2/events", "/api/v1/workspaces/1/events")
        ]
        return found if len(found) >= 3 else []

    lines = wait_until(mine)
    by_path = {line["path"]: line for line in lines}
    assert by_path["/v2/events"]["method"] == "POST" and by_path["/v2/events"]["status"] == 202
    assert by_path["/api/v1/workspaces/1/events"]["status"] == 401  # the query string is not logged
    assert by_path[f"/nothing-here/{marker}"]["status"] == 404
    for line in lines:
        assert isinstance(line["ms"], float | int) and line["ms"] >= 0
        assert line["ts"].endswith("Z")
        assert set(line) == {"log", "ts", "method", "path", "status", "ms"}
    assert not any(marker in json.dumps(line) for line in lines if "nothing-here" not in line["path"])
