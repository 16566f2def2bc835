"""The event store's save on PostgreSQL with 1, 2 and 3 concurrent savers (as many workers would): batches/s,
time per save, and the share of it spent waiting for the save lock that keeps seq order.

Run: .venv/bin/python bench/event_store_pg.py [--groups 20] [--group 500]. Needs the local PostgreSQL.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import threading
import time
from pathlib import Path

import msgspec
from sqlalchemy import event

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from fermion.adapters.sql import SqlEventStore, make_engine, migrate  # noqa: E402
from fermion.model.records import ProcessedBatch, StoredEvent  # noqa: E402
from support import scaleout  # noqa: E402

_ids = itertools.count(1)


def group(size: int) -> list[ProcessedBatch]:
    out = []
    for _ in range(size):
        batch_id = next(_ids)
        events = [
            StoredEvent(
                event_id=batch_id * 10 + j,
                event_type="custom_event",
                event_name="Viewed Item",
                timestamp_ms=1_700_000_000_000 + j,
                payload=msgspec.json.encode({"event_type": "custom_event", "data": {"n": j}}),
            )
            for j in range(3)
        ]
        out.append(
            ProcessedBatch(
                batch_id=batch_id,
                workspace_id=1,
                input_id=1,
                environment="production",
                mpid=batch_id % 1000,
                received_ms=1_700_000_000_000,
                historical=False,
                source_request_id=None,
                device_ids=[f"idfv-{batch_id}"],
                events=events,
                payload=b'{"events":[]}' * 20,
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=20, help="saves per saver")
    parser.add_argument("--group", type=int, default=500, help="batches per save (the worker's fetch size)")
    args = parser.parse_args()
    problem = scaleout.postgres_problem()
    if problem:
        sys.exit(problem)
    database, url = scaleout.create_database()
    engine = make_engine(url)
    lock_wait = [0.0]
    started: dict[int, float] = {}

    @event.listens_for(engine, "before_cursor_execute")
    def before(conn: object, cursor: object, statement: str, *_: object) -> None:
        if "pg_advisory_xact_lock" in statement:
            started[threading.get_ident()] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn: object, cursor: object, statement: str, *_: object) -> None:
        if "pg_advisory_xact_lock" in statement:
            lock_wait[0] += time.perf_counter() - started.pop(threading.get_ident())

    try:
        migrate(engine)
        store = SqlEventStore(engine)
        store.save(group(args.group))  # warm up
        for savers in (1, 2, 3):
            groups = [[group(args.group) for _ in range(args.groups)] for _ in range(savers)]
            lock_wait[0] = 0.0
            t0 = time.perf_counter()
            threads = [threading.Thread(target=lambda gs=gs: [store.save(g) for g in gs]) for gs in groups]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - t0
            saves = savers * args.groups
            print(
                f"{savers} saver{'s' if savers > 1 else ' '}: {saves * args.group / elapsed:7.0f} batches/s,"
                f" {elapsed / args.groups * 1000:5.0f} ms per save of {args.group},"
                f" {lock_wait[0] / (elapsed * savers) * 100:3.0f}% of saver time waiting for the lock",
                flush=True,
            )
    finally:
        engine.dispose()
        scaleout.drop_database(database)


if __name__ == "__main__":
    main()
