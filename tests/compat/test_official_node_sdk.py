"""The official npm `mparticle` SDK, unchanged but for its basePath, against a running Fermion."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from support.client_events import wait_for_client_events
from support.fermion_proc import FermionProcess

NODE_DIR = Path(__file__).parent / "node"


def test_node_sdk_uploads_are_accepted_and_stored(fermion: FermionProcess) -> None:
    key, secret = fermion.input_creds()
    out = subprocess.run(
        ["node", "upload.js", fermion.base_url, key, secret, "node-sdk"],
        cwd=NODE_DIR,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    results = json.loads(out.stdout.strip().splitlines()[-1])
    assert results == {"single": 202, "bulk": 202, "wrong_secret": 403}
    events = wait_for_client_events(fermion, 6, since_ms=1600000000000, until_ms=1600000000101)
    assert len(events) == 6
    assert {e["event_name"] for e in events} == {"Hello World", "purchase"}
    assert len({e["mpid"] for e in events}) == 3
