"""Poison-batch benchmark: how much a few batches that fail in processing slow the worker's drain.

Appends --batches batches (bench/forwarding.py's, 1 custom event each) to a fresh embedded inbound log,
--poison of them (spread evenly) with a user attribute beyond 64 bits (ingest refuses it; written
straight into the log, it decodes but fails in processing), and drains the log with the real worker
(services/worker.py, bootstrap.processing_phases, a webhook connection queued for) until every batch
is processed or dead-lettered. Prints the drain time (wall clock and CPU) with and without the poison
and their ratios.
`--strategy one-by-one` retries a failed group batch by batch (the worker before bisection; the
embedded log then left the failures in place until a restart), for comparison.

Run: .venv/bin/python bench/poison.py [--batches 10000] [--poison 10] [--strategy bisect|one-by-one]
     [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
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
from fermion.adapters.inbound_sqlite import SqliteInboundLog  # noqa: E402
from fermion.bootstrap import open_stores, processing_phases  # noqa: E402
from fermion.model.records import InboundRecord  # noqa: E402
from fermion.scaleout import store_outage  # noqa: E402
from fermion.services.processing import Processor  # noqa: E402
from fermion.services.worker import Worker, _Outcome  # noqa: E402
from fermion.settings import from_env  # noqa: E402
from forwarding import batch, connect_webhook  # noqa: E402
from support.fermion_proc import FermionProcess  # noqa: E402


class OneByOne(Worker):
    """The worker before bisection: a failed group is retried batch by batch; failures stay in the log."""

    async def _isolate(self, records: list[InboundRecord]) -> _Outcome:
        outcome = _Outcome()
        try:
            await asyncio.to_thread(self._processor.process, records)
            outcome.done = records
            return outcome
        except Exception:
            pass
        for record in records:
            try:
                await asyncio.to_thread(self._processor.process, [record])
                outcome.done.append(record)
            except Exception:
                pass  # unacknowledged: the old embedded log did not deliver it again until a restart
        return outcome


def records(n: int, poison: int, ws: int, input_id: int) -> list[InboundRecord]:
    every = n // poison if poison else n + 1
    now = int(time.time() * 1000)
    out = []
    for i in range(n):
        body = batch(i % 100, 1)
        bad = poison > 0 and i % every == every // 2
        if bad:
            body["user_attributes"] = {"huge": 2**64}
        out.append(
            InboundRecord(
                batch_id=i + 1,
                workspace_id=ws,
                input_id=input_id,
                environment="production",
                received_ms=now,
                source_ip="127.0.0.1",
                request_id=f"r{i // 100}",
                historical=False,
                payload=json.dumps(body).encode() if bad else orjson.dumps(body),
            )
        )
    return out


def drain(n: int, poison: int, strategy: str) -> tuple[float, float, int, int]:
    """Wall-clock and CPU seconds to drain n batches (poison of them bad); batches processed; dead
    letters. CPU time (every thread of this process: the worker, SQLite) is steadier on a shared machine."""
    with tempfile.TemporaryDirectory() as tmp:
        server = FermionProcess(Path(tmp))
        server.init()
        ws = server.workspace_id
        input_id = next(i["id"] for i in server.info["inputs"] if i["platform"] == "custom")
        connect_webhook(server, ws, input_id, 9, 100)
        settings = from_env(data_dir=Path(tmp))
        stores = open_stores(settings)
        processor = Processor(processing_phases(stores, settings))
        kind = OneByOne if strategy == "one-by-one" else Worker

        async def run() -> tuple[float, float, int, int]:
            log = SqliteInboundLog(settings.inbound_path)
            await log.append(records(n, poison, ws, input_id))
            worker = kind(log, processor, linger_s=0, store_outage=store_outage)
            started, cpu = time.perf_counter(), time.process_time()
            while await worker.run_once() and log.pending():
                pass
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            dead = log.dead_letter_count()
            await log.close()
            return seconds, cpu, worker.processed, dead

        return asyncio.run(run())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=10_000)
    parser.add_argument("--poison", type=int, default=10)
    parser.add_argument("--strategy", choices=["bisect", "one-by-one"], default="bisect")
    parser.add_argument("--rounds", type=int, default=2, help="Drains of each kind, alternating (best kept).")
    args = parser.parse_args(argv)
    logging.getLogger("fermion").setLevel(logging.CRITICAL)  # one traceback per failed attempt otherwise
    clean = poisoned = clean_cpu = poisoned_cpu = float("inf")
    for _ in range(args.rounds):
        seconds, cpu, _, _ = drain(args.batches, 0, args.strategy)
        clean, clean_cpu = min(clean, seconds), min(clean_cpu, cpu)
        seconds, cpu, processed, dead = drain(args.batches, args.poison, args.strategy)
        poisoned, poisoned_cpu = min(poisoned, seconds), min(poisoned_cpu, cpu)
    print(
        f"{args.batches} batches, worker {args.strategy}: clean {clean:.1f} s ({clean_cpu:.1f} s CPU); with"
        f" {args.poison} poison {poisoned:.1f} s ({poisoned_cpu:.1f} s CPU; {processed} processed, {dead}"
        f" dead-lettered): {poisoned / clean:.2f}x wall clock, {poisoned_cpu / clean_cpu:.2f}x CPU"
    )
    print(machine_line())


if __name__ == "__main__":
    main()
