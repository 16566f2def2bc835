"""End-to-end throughput (accepted by the API -> stored by workers), embedded vs scale-out, 1 vs 2 workers.

Run: .venv/bin/python bench/scale.py [--batches 20000] [--bulk 50] [--clients 6]. Needs the local PostgreSQL
and NATS (JetStream). Embedded runs `serve --role all` (the API and its one worker: the SQLite inbound log
has one reader, so embedded mode has no 2-worker figure); scale-out runs one `--role api` and N
`--role worker` processes (each keeps two groups in flight, see services/worker.py). Figures are
batches per second from the first request until every accepted batch is in the event store; the ratio
compares scale-out with embedded at 1 worker.
"""

from __future__ import annotations

import argparse
import base64
import json
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from support import scaleout  # noqa: E402
from support.cluster import Cluster  # noqa: E402
from support.fermion_proc import FermionProcess  # noqa: E402


def batch(i: int, events: int) -> dict[str, object]:
    return {
        "environment": "production",
        "user_identities": {"customerid": f"user-{i}"},
        "device_info": {"platform": "iOS", "ios_idfv": f"idfv-{i}"},
        "events": [
            {
                "event_type": "custom_event",
                "data": {
                    "event_name": "Viewed Item",
                    "custom_event_type": "navigation",
                    "timestamp_unixtime_ms": 1700000000000 + j,
                    "custom_attributes": {"item": f"sku-{j}"},
                },
            }
            for j in range(events)
        ],
    }


def drive(url: str, key: str, secret: str, total: int, bulk: int, clients: int) -> tuple[int, float, float]:
    """Post `total` batches in bulk requests from `clients` threads; return (accepted, start, end)."""
    auth = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
    bodies = [json.dumps([batch(c * 1000 + i, 3) for i in range(bulk)]).encode() for c in range(clients)]
    requests = total // bulk
    counter = iter(range(requests))
    lock = threading.Lock()
    accepted = [0]

    def client(c: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": auth}, timeout=60) as http:
            while True:
                with lock:
                    if next(counter, None) is None:
                        return
                r = http.post("/v2/bulkevents", content=bodies[c])
                if r.status_code == 202:
                    with lock:
                        accepted[0] += bulk

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return accepted[0], t0, time.monotonic()


def wait_stored(count: Callable[[], int], target: int, timeout_s: float = 600) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if count() >= target:
            return time.monotonic()
        time.sleep(0.05)
    raise RuntimeError(f"only {count()} of {target} batches stored in {timeout_s} s")


def run_embedded(args: argparse.Namespace) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        server = FermionProcess(Path(tmp), env={})
        server.init()
        server.start()
        try:
            db = Path(tmp) / "fermion.db"

            def count() -> int:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                    return int(conn.execute("SELECT count(*) FROM batches").fetchone()[0])

            accepted, t0, t1 = drive(
                server.base_url, *server.input_creds(), args.batches, args.bulk, args.clients
            )
            return accepted / (t1 - t0), accepted / (wait_stored(count, accepted) - t0)
        finally:
            server.stop()


def run_scale_out(args: argparse.Namespace, workers: int) -> tuple[float, float]:
    database, url = scaleout.create_database()
    stream = scaleout.new_stream_name()
    env = {"FERMION_DATABASE_URL": url, "FERMION_NATS_URL": scaleout.NATS_URL, "FERMION_NATS_STREAM": stream}
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(Path(tmp), env)
        try:
            cluster.init()
            api = cluster.start("api", "api", wait=False)
            for n in range(workers):
                cluster.start(f"worker{n}", "worker", wait=False)
            for rp in cluster.processes.values():
                cluster.wait_ready(rp)
            pg = url.replace("postgresql+psycopg", "postgresql")

            def count() -> int:
                with psycopg.connect(pg) as conn:
                    row = conn.execute("SELECT count(*) FROM batches").fetchone()
                return int(row[0]) if row else 0

            accepted, t0, t1 = drive(api.url, *cluster.input_creds(), args.batches, args.bulk, args.clients)
            return accepted / (t1 - t0), accepted / (wait_stored(count, accepted) - t0)
        finally:
            cluster.close()
            scaleout.delete_stream(stream)
            scaleout.drop_database(database)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=20_000)
    parser.add_argument("--bulk", type=int, default=50, help="batches per /v2/bulkevents request")
    parser.add_argument("--clients", type=int, default=6)
    args = parser.parse_args()
    problem = scaleout.postgres_problem() or scaleout.nats_problem()
    if problem:
        sys.exit(problem)
    rows = [("embedded", 1, run_embedded(args))]
    print(row(*rows[-1]), flush=True)
    print("embedded,  2 workers:  n/a (the SQLite inbound log has one reader)", flush=True)
    for workers in (1, 2):
        rows.append(("scale-out", workers, run_scale_out(args, workers)))
        print(row(*rows[-1]), flush=True)
    embedded, one, two = (r[2][1] for r in rows)
    print(
        f"end to end, scale-out / embedded: {one / embedded:.2f} (1 worker), {two / embedded:.2f} (2 workers)"
    )
    print(f"end to end, scale-out 2 workers / 1 worker: {two / one:.2f}")


def row(mode: str, workers: int, figures: tuple[float, float]) -> str:
    ingest, end_to_end = figures
    label = f"{workers} worker{'s' if workers > 1 else ' '}"
    return f"{mode + ',':10} {label}: {end_to_end:6.0f} batches/s end to end (ingest alone {ingest:6.0f}/s)"


if __name__ == "__main__":
    main()
