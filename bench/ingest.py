"""Ingest benchmark: bare-ASGI ceiling vs durable /v2/events (req/s, p50/p99) and /v2/bulkevents (events/s).

Run: .venv/bin/python bench/ingest.py [--seconds 10] [--connections 64]. Needs `wrk` (apt-get install wrk).
Fermion runs as `fermion serve --role api` so the figures are the ingest path alone.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from support.fermion_proc import FermionProcess, free_port  # noqa: E402


def batch(i: int, events: int) -> dict[str, object]:
    return {
        "environment": "production",
        "user_identities": {"customerid": f"user-{i}", "email": f"user-{i}@example.com"},
        "device_info": {"platform": "iOS", "ios_idfv": f"idfv-{i}"},
        "user_attributes": {"tier": "gold"},
        "events": [
            {
                "event_type": "custom_event",
                "data": {
                    "event_name": "Viewed Item",
                    "custom_event_type": "navigation",
                    "timestamp_unixtime_ms": 1700000000000 + j,
                    "custom_attributes": {"item": f"sku-{j}", "n": j},
                },
            }
            for j in range(events)
        ],
    }


def wrk(url: str, body: bytes, headers: dict[str, str], seconds: int, connections: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        body_path = Path(tmp) / "body.json"
        body_path.write_bytes(body)
        script = Path(tmp) / "post.lua"
        lines = [
            'wrk.method = "POST"',
            f'local f = io.open("{body_path}", "rb")',
            'wrk.body = f:read("*all")',
            "f:close()",
            'wrk.headers["Content-Type"] = "application/json"',
        ]
        lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
        lines += [
            "done = function(summary, latency, requests)",
            '  io.write(string.format("STATUS non2xx=%d errors=%d\\n", summary.errors.status,',
            "    summary.errors.connect + summary.errors.read",
            "    + summary.errors.write + summary.errors.timeout))",
            "end",
        ]
        script.write_text("\n".join(lines))
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
        return float(m.group(1)) * scale

    bad = re.search(r"STATUS non2xx=(\d+) errors=(\d+)", out)
    return {
        "rps": rps,
        "p50_ms": pct("50"),
        "p99_ms": pct("99"),
        "non2xx": float(bad.group(1)) if bad else -1,
        "errors": float(bad.group(2)) if bad else -1,
    }


def wait_up(url: str) -> None:
    for _ in range(200):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    single = json.dumps(batch(1, 3)).encode()
    bulk_batches = [batch(i, 10) for i in range(100)]
    bulk = json.dumps(bulk_batches).encode()
    assert len(bulk) < 256 * 1024, len(bulk)
    events_per_bulk = sum(len(b["events"]) for b in bulk_batches)  # type: ignore[arg-type]

    port = free_port()
    bare = subprocess.Popen([sys.executable, str(ROOT / "bench" / "bare_asgi.py"), str(port)])
    try:
        wait_up(f"http://127.0.0.1:{port}/")
        ceiling = wrk(f"http://127.0.0.1:{port}/v2/events", single, {}, args.seconds, args.connections)
    finally:
        bare.terminate()
        bare.wait()

    with tempfile.TemporaryDirectory() as tmp:
        server = FermionProcess(Path(tmp), env={})  # production defaults
        server.init()
        server.start("--role", "api")
        try:
            key, secret = server.input_creds()
            auth = {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}
            durable = wrk(f"{server.base_url}/v2/events", single, auth, args.seconds, args.connections)
            bulk_res = wrk(f"{server.base_url}/v2/bulkevents", bulk, auth, args.seconds, 8)
        finally:
            server.stop()

    print(
        f"bare ASGI ceiling     : {ceiling['rps']:9.0f} req/s  p50 {ceiling['p50_ms']:.2f} ms  "
        f"p99 {ceiling['p99_ms']:.2f} ms"
    )
    print(
        f"durable /v2/events    : {durable['rps']:9.0f} req/s  p50 {durable['p50_ms']:.2f} ms  "
        f"p99 {durable['p99_ms']:.2f} ms  ({100 * durable['rps'] / ceiling['rps']:.0f}% of ceiling; "
        f"non-2xx {durable['non2xx']:.0f}, errors {durable['errors']:.0f})"
    )
    print(
        f"durable /v2/bulkevents: {bulk_res['rps'] * events_per_bulk:9.0f} events/s "
        f"({bulk_res['rps']:.0f} req/s x {events_per_bulk} events, {len(bulk) // 1024} KB)  "
        f"p50 {bulk_res['p50_ms']:.2f} ms  p99 {bulk_res['p99_ms']:.2f} ms  non-2xx {bulk_res['non2xx']:.0f}"
    )


if __name__ == "__main__":
    main()
