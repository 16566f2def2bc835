"""Crash test: SIGKILL Fermion under concurrent load, restart it; every 202 batch is stored exactly once."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.fermion_proc import FermionProcess
from support.servers import serving

CLIENTS = 8


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FermionProcess]:
    with serving(FermionProcess(tmp_path)) as s:
        yield s


def test_sigkill_mid_stream_loses_and_duplicates_nothing(server: FermionProcess) -> None:
    key, secret = server.input_creds()
    auth = {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}
    accepted: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        with httpx.Client(base_url=server.base_url, headers=auth, timeout=5) as c:
            i = 0
            while not stop.is_set():
                name = f"crash-{n}-{i}"
                batch = {
                    "environment": "development",
                    "mpid": 1000 + n,
                    "events": [
                        {
                            "event_type": "custom_event",
                            "data": {
                                "event_name": name,
                                "custom_event_type": "other",
                                "timestamp_unixtime_ms": 1500000000000,
                            },
                        }
                    ],
                }
                i += 1
                try:
                    r = c.post("/v2/events", content=json.dumps(batch).encode())
                except httpx.HTTPError:
                    time.sleep(0.05)
                    continue
                if r.status_code == 202:
                    with lock:
                        accepted.append(name)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    server.kill()  # API process and worker, mid-stream
    time.sleep(0.5)
    server.start()
    time.sleep(1.5)
    stop.set()
    for t in threads:
        t.join()
    assert len(accepted) > 100

    deadline = time.monotonic() + 60
    stored: Counter[str] = Counter()
    while time.monotonic() < deadline:
        stored = Counter(
            e["event_name"] for n in range(CLIENTS) for e in server.events(mpid=1000 + n, limit=10000)
        )
        if set(accepted) <= set(stored):
            break
        time.sleep(0.5)
    missing = set(accepted) - set(stored)
    assert not missing, f"{len(missing)} accepted batches lost, e.g. {sorted(missing)[:5]}"
    duplicated = [name for name, count in stored.items() if count > 1]
    assert not duplicated, f"stored more than once: {duplicated[:5]}"
