"""Calculated attributes benchmark: (a) backfill of N stored events (default 1M) with 20 active CAs,
(b) batches per second through the CA phase (in process) with 20 active CAs.

Run: .venv/bin/python bench/calculated.py [--events 1000000] [--events-per-batch 10] [--users 20000]
     [--phase-batches 20000] [--database-url postgresql+psycopg://...]  (default: a SQLite file)
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, insert

ROOT = Path(__file__).resolve().parents[1]
from fermion.adapters.sql import make_engine, migrate  # noqa: E402
from fermion.adapters.sql.calculated_store import SqlCalculatedStore  # noqa: E402
from fermion.adapters.sql.event_store import SqlEventStore  # noqa: E402
from fermion.adapters.sql.schema import batches as batches_t  # noqa: E402
from fermion.model.codec import decode_batch  # noqa: E402
from fermion.model.records import InboundRecord  # noqa: E402
from fermion.services.calculated_backfill import Backfill  # noqa: E402
from fermion.services.calculated_phase import CalculatedPhase  # noqa: E402
from fermion.services.processing import ProcessingReport, StoreEvents, WorkItem  # noqa: E402

WS = 1
DAY = 86_400_000
GROUP = 500  # batches per processing group (the worker's fetch size)
NOW = int(time.time() * 1000)
NAMES = ["Purchase", "View", "Search", "Share"]
CATEGORIES = [f"cat{i}" for i in range(30)]


def twenty_definitions() -> list[tuple[str, dict[str, Any]]]:
    """20 CAs: every calculation type over since and within periods, some with conditions."""
    since = {"type": "since", "date": "2020-01-01"}
    within = {"type": "within", "within": 30, "within_unit": "days"}
    cases = [
        ("count", None),
        ("sum", "amount"),
        ("min", "amount"),
        ("max", "amount"),
        ("average", "amount"),
        ("first_occurrence", "category"),
        ("last_occurrence", "category"),
        ("first_occurrence_timestamp", None),
        ("last_occurrence_timestamp", None),
        ("unique_list", "category"),
    ]
    out = []
    for i, (ctype, attribute) in enumerate(cases * 2):
        point: dict[str, Any] = {"type": "event", "event_type": "custom_event", "event_name": NAMES[i % 2]}
        if attribute:
            point.update(type="event_attribute", attribute_name=attribute)
        if i == 10:
            ctype, point["attribute_name"], point["type"] = "most_frequent", "category", "event_attribute"
        if i == 11:
            ctype, point["attribute_name"], point["type"] = (
                "unique_values_count",
                "category",
                "event_attribute",
            )
        conditions = []
        if i % 4 == 3:
            conditions = [
                {"type": "number", "operator": "greater_than", "attribute_name": "amount", "value": "20"}
            ]
        out.append(
            (
                f"ca{i}_{ctype}",
                {
                    "calculation_type": ctype,
                    "data_point": point,
                    "conditions": conditions,
                    "time_period": within if i >= 10 else since,
                },
            )
        )
    return out


def batch_json(rng: random.Random, mpid: int, events: int, newest_ms: int) -> dict[str, Any]:
    return {
        "mpid": str(mpid),
        "environment": "production",
        "events": [
            {
                "event_type": "custom_event",
                "data": {
                    "event_name": rng.choice(NAMES),
                    "custom_event_type": "other",
                    "event_id": rng.getrandbits(62),
                    "timestamp_unixtime_ms": newest_ms - rng.randrange(60 * DAY),
                    "custom_attributes": {
                        "amount": str(rng.randrange(1, 100)),
                        "category": rng.choice(CATEGORIES),
                    },
                },
            }
            for _ in range(events)
        ],
    }


def store_history(engine: Engine, batches: int, per_batch: int, users: int) -> None:
    """Stored batches straight into the batches table (the backfill reads only their payloads)."""
    rng = random.Random(1)
    rows = []
    start = time.perf_counter()
    with engine.begin() as conn:
        for n in range(batches):
            mpid = rng.randrange(users)
            payload = orjson.dumps(batch_json(rng, mpid, per_batch, NOW))
            rows.append(
                {
                    "batch_id": n + 1,
                    "workspace_id": WS,
                    "input_id": 1,
                    "environment": "production",
                    "mpid": mpid,
                    "received_ms": NOW,
                    "historical": False,
                    "source_request_id": None,
                    "device_ids": "[]",
                    "payload": payload,
                }
            )
            if len(rows) == 5000:
                conn.execute(insert(batches_t), rows)
                rows = []
        if rows:
            conn.execute(insert(batches_t), rows)
    print(f"stored {batches} batches ({batches * per_batch} events) in {time.perf_counter() - start:.1f} s")


def activate_all(store: SqlCalculatedStore) -> None:
    for name, body in twenty_definitions():
        ca = store.create(WS, name, "", body, NOW)
        store.activate(WS, ca.id, "bench", NOW - 3_600_000, 100)


def settle_gc() -> None:
    """The GC settings of a worker process (fermion.services.worker): measured as workers run."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def bench_backfill(engine: Engine, args: argparse.Namespace) -> None:
    batches = args.events // args.events_per_batch
    store_history(engine, batches, args.events_per_batch, args.users)
    store = SqlCalculatedStore(engine)
    activate_all(store)
    settle_gc()
    start, cpu = time.perf_counter(), time.process_time()
    backfill = Backfill(store)
    while backfill.run_once():
        pass
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    done = [c for c in store.find(WS) if c.status == "completed"]
    print(
        f"(a) backfill: {args.events} stored events, {len(done)}/20 CAs completed in {took:.1f} s "
        f"({args.events / took:,.0f} events/s; {cpu:.1f} s of CPU in this process)"
    )


def bench_phase(engine: Engine, args: argparse.Namespace) -> None:
    rng = random.Random(2)
    events = SqlEventStore(engine)
    phase = CalculatedPhase(SqlCalculatedStore(engine))
    base_id = 10_000_000
    groups = []
    for g in range(args.phase_batches // GROUP):
        items = []
        for i in range(GROUP):
            batch_id = base_id + g * GROUP + i
            body = orjson.dumps(batch_json(rng, rng.randrange(args.users), 3, NOW))
            record = InboundRecord(
                batch_id=batch_id,
                workspace_id=WS,
                input_id=1,
                environment="production",
                received_ms=NOW,
                source_ip="",
                request_id="",
                historical=False,
                payload=body,
            )
            items.append(WorkItem(record=record, batch=decode_batch(body)))
        groups.append(items)
    report = ProcessingReport()
    for items in groups:  # stored beforehand: only the CA phase is timed
        StoreEvents(events).run(items, NOW, report)
    settle_gc()
    start, cpu = time.perf_counter(), time.process_time()
    for items in groups:
        phase.run(items, NOW, report)
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    total = len(groups) * GROUP
    print(
        f"(b) CA phase: {total} batches (3 events each) with 20 active CAs: {total / took:,.0f} batches/s "
        f"({total / cpu:,.0f} per CPU second)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--events-per-batch", type=int, default=10)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--phase-batches", type=int, default=20_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(url)
        migrate(engine)
        bench_backfill(engine, args)
        bench_phase(engine, args)
        engine.dispose()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
