"""`serve --workers 2`: two processing workers share the embedded inbound log, each taking its own
senders' batches (lanes), so every accepted batch is stored once and one device's batches keep order;
a worker that dies is started again by `serve`."""

from __future__ import annotations

import base64
import json
import os
import signal
import sqlite3
import threading
from collections.abc import Iterator

import httpx
import pytest

from fermion.identity.lanes import lane_of
from fermion.model.codec import decode_batch
from support.children import supervised_children
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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FermionProcess]:
    s = FermionProcess(tmp_path_factory.mktemp("lanes"))
    s.init()
    s.start("--workers", "2")
    try:
        yield s
    finally:
        s.stop()


def worker_lanes(server: FermionProcess) -> list[str]:
    """FERMION_WORKER_LANE of each worker process the server started."""
    return sorted(worker_pids(server))


def worker_pids(server: FermionProcess) -> dict[str, int]:
    """Worker processes of the server by their FERMION_WORKER_LANE."""
    lanes = {}
    for child in supervised_children(server):
        if b"worker" in child.cmdline:
            for v in child.environ:
                if v.startswith(b"FERMION_WORKER_LANE="):
                    lanes[v.split(b"=", 1)[1].decode()] = child.pid
    return lanes


def send(server: FermionProcess, devices: range, first_step: int, steps: int = PER_DEVICE) -> None:
    key, secret = server.input_creds()
    auth = {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}
    with httpx.Client(base_url=server.base_url, headers=auth, timeout=10) as client:
        for step in range(first_step, first_step + steps):
            for device in devices:
                r = client.post("/v2/events", content=json.dumps(device_batch(device, step)).encode())
                assert r.status_code == 202, r.text


def test_two_workers_store_every_batch_once_in_device_order(server: FermionProcess) -> None:
    # The devices fall in both lanes, so a lane nobody reads would leave batches unprocessed.
    lanes = {lane_of(decode_batch(json.dumps(device_batch(d, 0)).encode())) % 2 for d in range(DEVICES)}
    assert lanes == {0, 1}
    assert worker_lanes(server) == ["0", "1"]
    threads = [threading.Thread(target=send, args=(server, range(i, DEVICES, 4), 0)) for i in range(4)]
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


def test_a_killed_worker_is_started_again_and_its_lane_processed(server: FermionProcess) -> None:
    before = worker_pids(server)
    os.kill(before["1"], signal.SIGKILL)
    send(server, range(DEVICES), PER_DEVICE, steps=2)  # both lanes, while lane 1 has no worker
    after = wait_until(
        lambda: (pids := worker_pids(server)) and "1" in pids and pids["1"] != before["1"] and pids
    )
    assert after["0"] == before["0"] and after["1"] != before["1"]
    total = DEVICES * (PER_DEVICE + 2)
    assert len(server.wait_for_events(total, timeout_s=60, limit=total + 10)) == total
