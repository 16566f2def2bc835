"""Soak benchmark: steady load for a long while, and each Fermion process's memory over time.

Run: .venv/bin/python bench/soak.py [--minutes 30] [--rate 5000] [--warmup 3] [--every 30]

Fermion runs as `fermion serve` (API process, worker process(es), sender process) with a webhook to a
local sink process, as in bench/forwarding.py. The load is open-loop /v2/bulkevents at --rate batches/s
(default 5,000: half of the 10,000 batches/s bench/forwarding.py keeps pace with). Every --every seconds
the RSS of each process is printed (anonymous + file-backed, from /proc/<pid>/status), with what was
stored and delivered so far. At the end, for each process: its size after the warm-up and at the end
(each the median of --window samples: a worker's RSS swings with the group it holds), the largest sample,
the growth per minute (least squares over the samples after warm-up, anonymous and file-backed apart),
and whether its size at the end is within 5% of its size after warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from calibrate import machine_line  # noqa: E402
from forwarding import batch, connect_webhook, db_counts, load  # noqa: E402
from support.fermion_proc import FermionProcess, free_port  # noqa: E402

TOLERANCE = 0.05


@dataclass
class Series:
    """RSS samples (minutes since the load began, RssAnon MB, RssFile MB) of one process."""

    role: str
    pid: int
    samples: list[tuple[float, float, float]] = field(default_factory=list)


def processes(server: FermionProcess) -> dict[str, int]:
    """The server's processes by role: api, worker (worker-1, ... with several), sender."""
    assert server.proc is not None
    found = {"api": server.proc.pid}
    supervised = f"FERMION_SUPERVISED={server.proc.pid}".encode()
    for proc in sorted(Path("/proc").iterdir(), key=lambda p: p.name):
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if supervised in environ and b"--role" in cmdline:
            role = cmdline[cmdline.index(b"--role") + 1].decode()
            name = role if role not in found else f"{role}-{sum(r.startswith(role) for r in found)}"
            found[name] = int(proc.name)
    return found


def rss_mb(pid: int) -> tuple[float, float] | None:
    """(RssAnon, RssFile + RssShmem) of a process in MB; None when it is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    kb = {k: int(v.split()[0]) for k, v in (ln.split(":", 1) for ln in lines) if v.strip().endswith("kB")}
    return kb.get("RssAnon", 0) / 1024, (kb.get("RssFile", 0) + kb.get("RssShmem", 0)) / 1024


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points (0 with fewer than two)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


async def delivered(session: aiohttp.ClientSession, sink_url: str) -> int:
    async with session.get(f"{sink_url}/stats") as r:
        return int((await r.json())["unique"])


async def watch(
    server: FermionProcess, sink_url: str, every_s: float, stop: asyncio.Event, series: dict[str, Series]
) -> None:
    """Sample every process's RSS every `every_s` seconds and print a line."""
    db = server.data_dir / "fermion.db"
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            minutes = (time.monotonic() - started) / 60
            for role, pid in processes(server).items():
                s = series.get(role)
                if s is None or s.pid != pid:  # new, or started again: a new series
                    s = series[role] = Series(role, pid) if s is None else Series(f"{role}@{pid}", pid)
                if (mb := rss_mb(pid)) is not None:
                    s.samples.append((minutes, *mb))
            stored, backlog = await asyncio.to_thread(db_counts, db)
            sent = await delivered(session, sink_url)
            sizes = "  ".join(
                f"{s.role} {s.samples[-1][1] + s.samples[-1][2]:6.1f}" for s in series.values() if s.samples
            )
            print(
                f"{minutes:6.1f} min  stored {stored:9d}  delivered {sent:9d}  "
                f"backlog {sum(backlog.values()):7d}  RSS MB: {sizes}",
                flush=True,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def verdicts(series: dict[str, Series], warmup_min: float, window: int) -> list[str]:
    """Per process: its size after warm-up and at the end (medians of `window` samples: a worker's RSS
    swings with the group in hand), the largest sample, the growth per minute, and the verdict."""
    lines = []
    for s in series.values():
        after = [(t, anon + file) for t, anon, file in s.samples if t >= warmup_min]
        if len(after) < 2 * window:
            lines.append(f"{s.role:8s}: not enough samples after the warm-up ({len(after)})")
            continue
        base = median([rss for _, rss in after[:window]])
        end = median([rss for _, rss in after[-window:]])
        top = max(rss for _, rss in after)
        anon = slope([(t, a) for t, a, _ in s.samples if t >= warmup_min])
        file = slope([(t, f) for t, _, f in s.samples if t >= warmup_min])
        within = abs(end / base - 1) <= TOLERANCE
        lines.append(
            f"{s.role:8s}: {base:6.1f} MB after warm-up, {end:6.1f} MB at the end "
            f"({(end / base - 1) * 100:+5.1f}%), "
            f"largest {top:6.1f} MB; growth {anon:+.2f} MB/min anonymous, {file:+.2f} MB/min file-backed"
            f" -> {'within' if within else 'NOT within'} {TOLERANCE:.0%}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=30.0, help="how long the load runs")
    parser.add_argument("--rate", type=float, default=5000, help="offered batches/s")
    parser.add_argument("--warmup", type=float, default=3.0, help="minutes before the size is taken")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--window", type=int, default=5, help="samples whose median is a size")
    parser.add_argument("--bulk", type=int, default=100, help="batches per /v2/bulkevents request")
    parser.add_argument("--per-request", type=int, default=100, help="webhook batches_per_request")
    parser.add_argument("--workers", type=int, default=1, help="processing worker processes")
    args = parser.parse_args()

    sink_port = free_port()
    sink = subprocess.Popen([sys.executable, str(ROOT / "bench" / "forwarding.py"), "--sink", str(sink_port)])
    series: dict[str, Series] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {"FERMION_DELIVERY_MAX_BATCH_SIZE": "500", "FERMION_WORKERS": str(args.workers)}
        server = FermionProcess(Path(tmp), env=env)
        server.init()
        ws = server.workspace_id
        input_id = next(i["id"] for i in server.info["inputs"] if i["platform"] == "custom")
        connect_webhook(server, ws, input_id, sink_port, args.per_request)
        try:
            try:
                server.start()
            except RuntimeError:
                print((server.data_dir / "server.log").read_text()[-3000:], file=sys.stderr)
                raise
            key, secret = server.input_creds()
            body = json.dumps([batch(i, 1) for i in range(args.bulk)]).encode()
            url, auth = f"{server.base_url}/v2/bulkevents", aiohttp.encode_basic_auth(key, secret)
            sink_url = f"http://127.0.0.1:{sink_port}"

            async def run() -> dict[str, float]:
                stop = asyncio.Event()
                watcher = asyncio.create_task(watch(server, sink_url, args.every, stop, series))
                result = await load(url, auth, body, args.bulk, args.rate, args.minutes * 60)
                stop.set()
                await watcher
                return result

            print(f"soak: {args.rate:.0f} batches/s offered for {args.minutes:g} min (pid {os.getpid()})")
            result = asyncio.run(run())
        finally:
            server.stop()
            sink.terminate()
            sink.wait()
    secs = result["seconds"]
    print(f"accepted {result['accepted'] / secs:.0f} batches/s ({result['failed']:.0f} refused)")
    print(f"after a {args.warmup:g} min warm-up (RSS = anonymous + file-backed):")
    for line in verdicts(series, args.warmup, args.window):
        print("  " + line)
    print(machine_line())


if __name__ == "__main__":
    main()
