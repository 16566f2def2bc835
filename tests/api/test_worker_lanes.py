"""`serve --workers 2`: two processing workers share the embedded inbound log, each taking its own
senders' batches (lanes), so every accepted batch is stored once and one device's batches keep order."""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fermion.identity.lanes import lane_of
from fermion.model.codec import decode_batch
from support.fermion_proc import SCALE_OUT, FermionProcess
from support.waiting import wait_until

DEVICES = 24
PER_DEVICE = 15


def device_batch(device: int, step: int) -> dict[str, object]:
    return {
        "environment": "development",
        "mp_deviceid": f"lane-device-{device}",
        "events": [
            {
                "event_type": "custom_event",
                "data": {
                    "event_name": f"step-{device}-{step}",
                    "custom_event_type": "other",
                    "timestamp_unixtime_ms": 1_700_000_000_000 + step,
                },
            }
        ],
    }


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FermionProcess]:
    s = FermionProcess(tmp_path)
    s.init()
    s.start("--workers", "2")
    try:
        yield s
    finally:
        s.stop()


def worker_lanes(server: FermionProcess) -> list[str]:
    """FERMION_WORKER_LANE of each worker process the server started."""
    assert server.proc is not None
    lanes = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        supervised = f"FERMION_SUPERVISED={server.proc.pid}".encode()
        if b"worker" in cmdline and supervised in environ:
            lanes += [v.split(b"=", 1)[1].decode() for v in environ if v.startswith(b"FERMION_WORKER_LANE=")]
    return sorted(lanes)


def test_two_workers_store_every_batch_once_in_device_order(server: FermionProcess) -> None:
    # The devices fall in both lanes, so a lane nobody reads would leave batches unprocessed.
    lanes = {lane_of(decode_batch(json.dumps(device_batch(d, 0)).encode())) % 2 for d in range(DEVICES)}
    assert lanes == {0, 1}
    assert worker_lanes(server) == ["0", "1"]
    key, secret = server.input_creds()
    auth = {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}

    def send(devices: range) -> None:
        with httpx.Client(base_url=server.base_url, headers=auth, timeout=10) as client:
            for step in range(PER_DEVICE):
                for device in devices:
                    r = client.post("/v2/events", content=json.dumps(device_batch(device, step)).encode())
                    assert r.status_code == 202, r.text

    threads = [threading.Thread(target=send, args=(range(i, DEVICES, 4),)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = DEVICES * PER_DEVICE
    events = server.wait_for_events(total, timeout_s=60, limit=total + 10)
    names = [e["event_name"] for e in events]
    assert len(names) == total and len(set(names)) == total
    if SCALE_OUT:
        return  # NATS hands records to any worker; lanes are the embedded log's
    with sqlite3.connect(server.data_dir / "fermion.db") as db:
        rows = db.execute("SELECT mpid, batch_id FROM batches ORDER BY seq").fetchall()
    by_user: dict[int, list[int]] = {}
    for mpid, batch_id in rows:
        by_user.setdefault(mpid, []).append(batch_id)
    assert len(by_user) == DEVICES
    # One device's batches were sent one after another: processed in the order they were accepted.
    assert all(ids == sorted(ids) for ids in by_user.values())
    wait_until(
        lambda: (
            sqlite3.connect(server.data_dir / "inbound.db")
            .execute("SELECT count(*) FROM inbound")
            .fetchone()[0]
            == 0
        ),
        timeout_s=10,
    )
