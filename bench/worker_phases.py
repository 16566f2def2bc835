"""Worker benchmark: CPU time per batch in each processing phase of `fermion serve`'s worker, in process.

The batches are bench/forwarding.py's (1 custom event each; 100 users, each request's 100 batches one per
user), grouped as the worker fetches them under a backlog (DEFAULT_FETCH_SIZE), through the real
processing chain (bootstrap.processing_phases) on a SQLite data dir with a webhook connection, plus the
archiver once per 10,000 batches (the worker archives once a second; 10,000 batches/s is the target).
CPU time is steadier than wall-clock time on a shared machine, so compare these figures between
changes; bench/forwarding.py gives the end-to-end one.

Run: .venv/bin/python bench/worker_phases.py [--groups 10] [--group-size 2000] [--users 100] [--events 1]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from calibrate import machine_line  # noqa: E402
from fermion.bootstrap import open_stores, processing_phases  # noqa: E402
from fermion.model.codec import decode_batch_checked  # noqa: E402
from fermion.model.records import InboundRecord  # noqa: E402
from fermion.scaleout import archive_runner  # noqa: E402
from fermion.services.processing import Phase, ProcessingReport, Processor, WorkItem  # noqa: E402
from fermion.services.worker import DEFAULT_FETCH_SIZE  # noqa: E402
from fermion.settings import from_env  # noqa: E402
from forwarding import batch, connect_webhook  # noqa: E402
from support.fermion_proc import FermionProcess  # noqa: E402


class TimedPhase:
    """A phase that adds its CPU time to `spent[name]`."""

    def __init__(self, inner: Phase, spent: dict[str, float]) -> None:
        self.name = inner.name
        self._inner = inner
        self._spent = spent

    def run(self, items: list[WorkItem], now_ms: int, report: ProcessingReport) -> list[WorkItem]:
        started = time.process_time()
        try:
            return self._inner.run(items, now_ms, report)
        finally:
            self._spent[self.name] = self._spent.get(self.name, 0.0) + time.process_time() - started


def records(group: int, size: int, users: int, events: int, ws: int, input_id: int) -> list[InboundRecord]:
    now = int(time.time() * 1000)
    return [
        InboundRecord(
            batch_id=group * size + i + 1,
            workspace_id=ws,
            input_id=input_id,
            environment="production",
            received_ms=now,
            source_ip="127.0.0.1",
            request_id=f"r{group}-{i // 100}",
            historical=False,
            payload=payload,
            plain=decode_batch_checked(payload)[1],  # as ingest marks it
        )
        for i, payload in ((i, orjson.dumps(batch(i % users, events))) for i in range(size))
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--group-size", type=int, default=DEFAULT_FETCH_SIZE)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--events", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        server = FermionProcess(Path(tmp))
        server.init()
        ws = server.workspace_id
        input_id = next(i["id"] for i in server.info["inputs"] if i["platform"] == "custom")
        connect_webhook(server, ws, input_id, 9, 100)
        settings = from_env(data_dir=Path(tmp))
        stores = open_stores(settings)
        spent: dict[str, float] = {}
        processor = Processor([TimedPhase(p, spent) for p in processing_phases(stores, settings)])
        archiver = archive_runner(settings, stores.engine, stores.config, stores.events)
        groups = [
            records(g, args.group_size, args.users, args.events, ws, input_id) for g in range(args.groups + 2)
        ]
        for group in groups[:2]:  # warm-up: users created, caches filled
            processor.process(group)
        archiver.run_once()
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)  # as the worker does (services/worker.py)
        spent.clear()
        archive_cpu = 0.0
        wall, cpu = time.perf_counter(), time.process_time()
        since_archive = 0
        for group in groups[2:]:
            processor.process(group)
            since_archive += len(group)
            if since_archive >= 10_000:
                since_archive = 0
                started = time.process_time()
                archiver.run_once()
                archive_cpu += time.process_time() - started
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    total = args.groups * args.group_size
    print(
        f"{total} batches ({args.events} event(s) each, {args.users} users) in groups of {args.group_size}: "
        f"{cpu / total * 1e6:.0f} us CPU per batch ({total / cpu:.0f} batches/s of CPU, "
        f"{total / wall:.0f} wall clock)"
    )
    for name, seconds in [*spent.items(), ("archive", archive_cpu)]:
        print(f"  {name:<12} {seconds / total * 1e6:6.1f} us")
    other = cpu - sum(spent.values()) - archive_cpu
    print(f"  {'(decode etc)':<12} {other / total * 1e6:6.1f} us")
    print(machine_line())


if __name__ == "__main__":
    main()
