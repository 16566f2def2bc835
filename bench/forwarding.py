"""Forwarding benchmark: sustained batches/s from the Events API to a webhook partner, with ingest→delivery
latency (p50/p99) and where the time goes (processing backlog vs delivery backlog, sampled each second).

Run: .venv/bin/python bench/forwarding.py [--rate 10000] [--seconds 20] [--per-request 100] [--output s3]

Fermion runs as `fermion serve` (role all: API process, worker process, sender process; with
--sender-in-worker the sender runs inside the worker process instead). A sink
process (aiohttp) plays the partner and measures latency as arrival time minus the batch's
`timestamp_unixtime_ms` (the ingest time Fermion stamps). Load is open-loop: bulk requests of
--bulk batches at --rate batches/s from this process. Everything shares this machine's cores.

--output s3 (the amazon_s3 integration against a local moto server) measures delivered batches/s
only: S3 objects carry no arrival time, so latency is reported for the webhook.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from calibrate import machine_line  # noqa: E402
from support.fermion_proc import FermionProcess, free_port, run_cli  # noqa: E402


class _Stamp(msgspec.Struct):
    batch_id: int
    timestamp_unixtime_ms: int


_decode_many = msgspec.json.Decoder(list[_Stamp]).decode
_decode_one = msgspec.json.Decoder(_Stamp).decode


def connect_webhook(server: FermionProcess, ws: int, input_id: int, sink_port: int, per_request: int) -> Any:
    """A webhook output to the local sink and a connection from the input to it (via the CLI)."""
    out = run_cli(
        server.data_dir,
        "outputs",
        "create",
        "--workspace",
        str(ws),
        "--integration",
        "webhook",
        "--setting",
        f"url=http://127.0.0.1:{sink_port}/hook",
        "--setting",
        f"batches_per_request={per_request}",
        env=server.env,
    )
    return run_cli(
        server.data_dir,
        "connections",
        "create",
        "--workspace",
        str(ws),
        "--input",
        str(input_id),
        "--output",
        str(out["id"]),
        env=server.env,
    )


# -- the partner (run in its own process) ---------------------------------------------------------


def run_sink(port: int) -> None:
    from aiohttp import web

    seen: set[int] = set()
    latencies: list[tuple[float, float]] = []  # (arrival, latency ms) of each first arrival

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        now = time.time()
        stamps = _decode_many(body) if body[:1] == b"[" else [_decode_one(body)]
        for s in stamps:
            if s.batch_id not in seen:
                seen.add(s.batch_id)
                latencies.append((now, now * 1000 - s.timestamp_unixtime_ms))
        return web.Response(text="ok")

    async def stats(request: web.Request) -> web.Response:
        if "since" not in request.query:  # progress polls: no sorting of every latency so far
            return web.json_response({"unique": len(seen)})
        since = float(request.query.get("since", "0"))
        window = sorted(lat for at, lat in latencies if at >= since)

        def pct(p: float) -> float:
            return window[min(len(window) - 1, int(len(window) * p))] if window else -1.0

        return web.json_response(
            {"unique": len(seen), "window": len(window), "p50": pct(0.5), "p99": pct(0.99)}
        )

    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.router.add_post("/hook", hook)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# -- load, sampling, report ---------------------------------------------------------------------


def role_cpu(server: FermionProcess) -> dict[str, float]:
    """CPU seconds used so far by each role of the server's processes (api, worker(s), sender)."""
    assert server.proc is not None
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes()
            stat = (proc / "stat").read_bytes().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(proc.name) == server.proc.pid:
            role = "api"
        elif f"FERMION_SUPERVISED={server.proc.pid}".encode() in environ.split(b"\0"):
            role = cmdline[cmdline.index(b"--role") + 1].decode() if b"--role" in cmdline else "?"
        else:
            continue
        # utime and stime: fields 14 and 15 of /proc/<pid>/stat (11 and 12 after the command name).
        used[role] = used.get(role, 0.0) + (int(stat[11]) + int(stat[12])) / tick
    return used


def batch(i: int, events: int) -> dict[str, Any]:
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
                    "custom_attributes": {"n": j},
                },
            }
            for j in range(events)
        ],
    }


async def load(
    url: str, auth: str, body: bytes, per_request: int, rate: float, seconds: float
) -> dict[str, float]:
    """Open loop: one request every per_request/rate seconds, however long earlier ones take."""
    interval = per_request / rate
    accepted = failed = 0
    pending: set[asyncio.Task[None]] = set()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:

        async def one() -> None:
            nonlocal accepted, failed
            try:
                headers = {"Content-Type": "application/json", "Authorization": auth}
                async with session.post(url, data=body, headers=headers) as r:
                    await r.read()
                    if r.status == 202:
                        accepted += per_request
                    else:
                        failed += per_request
            except aiohttp.ClientError:
                failed += per_request

        started = time.monotonic()
        n = 0
        while (elapsed := time.monotonic() - started) < seconds:
            due = started + n * interval
            if due > time.monotonic():
                await asyncio.sleep(due - time.monotonic())
            task = asyncio.create_task(one())
            pending.add(task)
            task.add_done_callback(pending.discard)
            n += 1
        if pending:
            await asyncio.wait(pending)
    return {"accepted": accepted, "failed": failed, "seconds": elapsed}


def db_counts(db: Path) -> tuple[int, dict[str, int]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        stored = conn.execute("SELECT max(seq) FROM batches").fetchone()[0] or 0
        # Only the backlog, through the claim index: counting every delivered row each second would
        # scan the whole queue table and take CPU from the server being measured.
        queue = dict(
            conn.execute(
                "SELECT status, count(*) FROM delivery_queue WHERE connection_id IN (1, 2)"
                " AND status IN ('pending', 'inflight') GROUP BY status"
            ).fetchall()
        )
    finally:
        conn.close()
    return int(stored), {k: int(v) for k, v in queue.items()}


def per_connection(db: Path) -> dict[int, dict[str, int]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute(
            "SELECT connection_id, status, count(*) FROM delivery_queue GROUP BY 1, 2"
        ).fetchall()
    finally:
        conn.close()
    found: dict[int, dict[str, int]] = {}
    for connection_id, status, n in rows:
        found.setdefault(int(connection_id), {})[status] = int(n)
    return found


async def sample(db: Path, sink: str, stop: asyncio.Event, rows: list[dict[str, Any]]) -> None:
    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        while not stop.is_set():
            stored, queue = await asyncio.to_thread(db_counts, db)
            async with session.get(f"{sink}/stats") as r:
                delivered = (await r.json())["unique"]
            rows.append(
                {"t": time.monotonic() - started, "stored": stored, "queue": queue, "delivered": delivered}
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)


def s3_setup(server: FermionProcess, workspace: int, input_id: int) -> tuple[subprocess.Popen[bytes], int]:
    """Hook for the S3 output: a moto server, a bucket, an amazon_s3 output and connection."""
    import boto3

    port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            s3 = boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id="x",
                aws_secret_access_key="x",
            )
            s3.create_bucket(Bucket="mp-forwarding-bench")
            break
        except Exception:
            time.sleep(0.1)
    out = run_cli(
        server.data_dir,
        "outputs",
        "create",
        "--workspace",
        str(workspace),
        "--integration",
        "amazon_s3",
        "--settings-json",
        json.dumps({"access_key_id": "x", "secret_access_key": "x", "endpoint_url": endpoint}),
        env=server.env,
    )
    run_cli(
        server.data_dir,
        "connections",
        "create",
        "--workspace",
        str(workspace),
        "--input",
        str(input_id),
        "--output",
        str(out["id"]),
        "--settings-json",
        # Send as Batch gathers ~10 minutes by default (the reference's "roughly 10-minute batches"):
        # a 1 s window lets the run measure how fast files get written.
        json.dumps({"bucket_name": "mp-forwarding-bench", "batch_window_s": 1}),
        env=server.env,
    )
    return moto, out["id"]


def sender_only(args: argparse.Namespace, sink_port: int) -> None:
    """The sender's own capacity: N batches queued up front, delivered by `serve --role sender`."""
    from fermion.adapters.sql import make_engine
    from fermion.adapters.sql.delivery_store import SqlDeliveryQueue
    from fermion.model.delivery import QueueItem

    with tempfile.TemporaryDirectory() as tmp:
        server = FermionProcess(Path(tmp), env={"FERMION_DELIVERY_MAX_BATCH_SIZE": "500"})
        server.init()
        ws, input_id = server.workspace_id, server.info["inputs"][0]["id"]
        conn = connect_webhook(server, ws, input_id, sink_port, args.per_request)
        queue = SqlDeliveryQueue(make_engine(f"sqlite:///{server.data_dir / 'fermion.db'}"))
        now = int(time.time() * 1000)
        payload = json.dumps({**batch(0, args.events), "timestamp_unixtime_ms": now}).encode()
        for start in range(0, args.sender_only, 10_000):
            items = [
                QueueItem(
                    connection_id=conn["id"],
                    workspace_id=ws,
                    batch_id=i,
                    input_id=input_id,
                    environment="production",
                    mpid=1,
                    received_ms=now,
                    payload=payload.replace(b'"events"', f'"batch_id":{i},"events"'.encode(), 1),
                    summary=[("custom_event", "Viewed Item", args.events)],
                )
                for i in range(start + 1, min(start + 10_001, args.sender_only + 1))
            ]
            queue.enqueue(items, now, {})
        cmd = [
            sys.executable,
            "-m",
            "fermion.cli",
            "serve",
            "--role",
            "sender",
            "--data-dir",
            str(server.data_dir),
        ]
        started = time.monotonic()
        first: tuple[float, int] | None = None
        proc = subprocess.Popen([*cmd, "--port", str(free_port())], env={**os.environ, **server.env})
        try:
            while time.monotonic() - started < 300:
                stats = subprocess.run(
                    ["curl", "-s", f"http://127.0.0.1:{sink_port}/stats"], capture_output=True, text=True
                )
                with contextlib.suppress(ValueError):
                    unique = json.loads(stats.stdout)["unique"]
                    if first is None and unique > 0:
                        first = (time.monotonic(), unique)
                    if unique >= args.sender_only:
                        break
                time.sleep(0.1)
            took = time.monotonic() - started
            steady = (args.sender_only - first[1]) / max(time.monotonic() - first[0], 1e-3) if first else 0.0
            stat = Path(f"/proc/{proc.pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
            cpu_s = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
        finally:
            proc.terminate()
            proc.wait()
    print(
        f"sender alone: {args.sender_only} queued batches delivered in {took:.1f} s "
        f"({args.sender_only / took:.0f} batches/s with process start, {steady:.0f} batches/s once "
        f"delivering; {args.per_request} batches per request); "
        f"sender CPU {cpu_s / args.sender_only * 1e6:.0f} us per batch (process start included)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=10_000, help="offered batches/s")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--bulk", type=int, default=100, help="batches per /v2/bulkevents request")
    parser.add_argument("--events", type=int, default=1, help="events per batch")
    parser.add_argument("--per-request", type=int, default=100, help="webhook batches_per_request")
    parser.add_argument("--output", choices=["webhook", "s3"], default="webhook")
    parser.add_argument(
        "--sender-in-worker",
        action="store_true",
        help="run the sender inside the worker process (the default gives it a process of its own)",
    )
    parser.add_argument("--workers", type=int, default=1, help="processing worker processes (lanes)")
    parser.add_argument(
        "--sender-only",
        type=int,
        default=0,
        metavar="N",
        help="queue N batches directly; time the sender alone",
    )
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        run_sink(args.sink)
        return

    sink_port = free_port()
    sink = subprocess.Popen([sys.executable, __file__, "--sink", str(sink_port)])
    if args.sender_only:
        try:
            sender_only(args, sink_port)
        finally:
            sink.terminate()
            sink.wait()
        return
    moto: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        env = {"FERMION_DELIVERY_MAX_BATCH_SIZE": "500", "FERMION_WORKERS": str(args.workers)}
        if args.sender_in_worker:
            env["FERMION_DELIVERY_SENDER_PROCESS"] = "0"
        server = FermionProcess(Path(tmp), env=env)
        server.init()
        ws, input_id = (
            server.workspace_id,
            next(i["id"] for i in server.info["inputs"] if i["platform"] == "custom"),
        )
        connect_webhook(server, ws, input_id, sink_port, args.per_request)
        if args.output == "s3":
            moto, _ = s3_setup(server, ws, input_id)
        server.start()
        try:
            key, secret = server.input_creds()
            body = json.dumps([batch(i, args.events) for i in range(args.bulk)]).encode()
            url, auth = f"{server.base_url}/v2/bulkevents", aiohttp.encode_basic_auth(key, secret)
            sink_url = f"http://127.0.0.1:{sink_port}"
            # Warm up: the worker process may still be starting.
            asyncio.run(load(url, auth, body, args.bulk, 500, 1.0))
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with contextlib.suppress(Exception):
                    if (
                        json.loads(
                            subprocess.run(
                                ["curl", "-s", f"{sink_url}/stats"], capture_output=True, text=True
                            ).stdout
                        )["unique"]
                        >= 500
                    ):
                        break
                time.sleep(0.5)
            db = server.data_dir / "fermion.db"
            stored0, _ = db_counts(db)
            rows: list[dict[str, Any]] = []

            async def run() -> dict[str, float]:
                stop = asyncio.Event()
                sampler = asyncio.create_task(sample(db, sink_url, stop, rows))
                result = await load(url, auth, body, args.bulk, args.rate, args.seconds)
                # Drain: wait until everything accepted is delivered (or 120 s).
                drain_start = time.monotonic()
                target = 500 + result["accepted"]
                async with aiohttp.ClientSession() as s:
                    while time.monotonic() - drain_start < 120:
                        async with s.get(f"{sink_url}/stats") as r:
                            if (await r.json())["unique"] >= target:
                                break
                        await asyncio.sleep(0.2)
                result["drain_s"] = time.monotonic() - drain_start
                stop.set()
                await sampler
                return result

            load_started = time.time()
            cpu_before = role_cpu(server)
            result = asyncio.run(run())
            cpu_used = {role: spent - cpu_before.get(role, 0.0) for role, spent in role_cpu(server).items()}
            stats = json.loads(
                subprocess.run(
                    ["curl", "-s", f"{sink_url}/stats?since={load_started}"], capture_output=True, text=True
                ).stdout
            )
            s3_done_s = 0.0
            if args.output == "s3":  # the S3 connection drains on its own: wait for its queue too
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and any(
                    per_connection(db).get(2, {}).get(s, 0) for s in ("pending", "inflight")
                ):
                    time.sleep(0.2)
                s3_done_s = time.time() - load_started
            delivered_by = per_connection(db)
        finally:
            server.stop()
            if moto is not None:
                moto.terminate()
            sink.terminate()
            sink.wait()

    accepted, secs = result["accepted"], result["seconds"]
    total = secs + result["drain_s"]
    print(
        f"offered {args.rate:.0f} batches/s for {secs:.1f} s "
        f"({args.bulk} batches/request, {args.events} event(s)/batch)"
    )
    print(f"accepted by the Events API : {accepted / secs:9.0f} batches/s ({result['failed']:.0f} refused)")
    print(
        f"delivered to the webhook   : {stats['window']:9d} batches in {total:.1f} s = "
        f"{stats['window'] / total:.0f} batches/s "
        f"end to end (drain after load: {result['drain_s']:.1f} s)"
    )
    print(f"ingest -> delivery latency : p50 {stats['p50']:.0f} ms  p99 {stats['p99']:.0f} ms")
    print(
        "CPU per delivered batch    : "
        + ", ".join(
            f"{role} {spent / max(stats['window'], 1) * 1e6:.0f} us" for role, spent in cpu_used.items()
        )
    )
    print(machine_line())
    if args.output == "s3":
        s3_done = delivered_by.get(2, {}).get("done", 0)
        print(
            f"delivered to S3            : {s3_done:9d} batches written by {s3_done_s:.1f} s after the load"
            f" began = {s3_done / max(s3_done_s, 1e-3):.0f} batches/s (1 s Send-as-Batch window)"
        )
    for connection_id, statuses in sorted(delivered_by.items()):
        name = "webhook" if connection_id == 1 else "amazon_s3"
        print(f"queue of connection {connection_id} ({name}) at the end: {statuses}")
    print("where the time goes (per second: stored by the worker, delivered by the sender, backlogs):")
    prev = None
    for row in rows:
        stored = row["stored"] - stored0
        q = row["queue"]
        if prev is not None:
            print(
                f"  t={row['t']:5.1f}s stored {stored - prev[0]:6d}/s  "
                f"delivered {row['delivered'] - prev[1]:6d}/s  "
                f"queue pending {q.get('pending', 0):6d} inflight {q.get('inflight', 0):5d}"
            )
        prev = (stored, row["delivered"])


if __name__ == "__main__":
    main()
