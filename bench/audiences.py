"""Audience benchmark: batches per second through the calculated-attributes phase and the audience
phase with 50 active real-time audiences and 20 active calculated attributes (in process, on a SQLite
store like `fermion serve` uses, pre-generated batches); then the CA backfill benchmark
(bench/calculated.py, 1M stored events) when it exists.

Run: .venv/bin/python bench/audiences.py [--groups 10] [--users 10000] [--no-backfill]
Targets: >= 5,000 batches/s through both phases; CA backfill of 1M events < 60 s.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
from fermion.adapters.sql import SqlConfigStore, SqlEventStore, make_engine, migrate  # noqa: E402
from fermion.adapters.sql.audience_store import SqlAudienceStore  # noqa: E402
from fermion.adapters.sql.calculated_store import SqlCalculatedStore  # noqa: E402
from fermion.adapters.sql.profile_store import SqlProfileStore  # noqa: E402
from fermion.model.audiences import MembershipChange  # noqa: E402
from fermion.model.codec import decode_batch  # noqa: E402
from fermion.model.records import InboundRecord  # noqa: E402
from fermion.pipeline.normalize import normalize  # noqa: E402
from fermion.ports import NoIdentities  # noqa: E402
from fermion.services.audience_admin import AudienceAdmin  # noqa: E402
from fermion.services.audience_engine import AudienceEngine  # noqa: E402
from fermion.services.audience_jobs import AudienceJobs  # noqa: E402
from fermion.services.audience_phase import AudiencePhase  # noqa: E402
from fermion.services.calculated_admin import CalculatedAdmin  # noqa: E402
from fermion.services.calculated_backfill import Backfill  # noqa: E402
from fermion.services.calculated_phase import CalculatedPhase  # noqa: E402
from fermion.services.calculated_values import CalculatedValuesService  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from calibrate import machine_line  # noqa: E402
from fermion.services.processing import Phase, ProcessingReport, PureStages, StoreEvents, WorkItem  # noqa: E402
from fermion.services.profile_phase import ProfilePhase  # noqa: E402
from fermion.services.worker import DEFAULT_FETCH_SIZE  # noqa: E402

GROUP = DEFAULT_FETCH_SIZE  # batches per processing group: what the worker fetches under a backlog
EVENT_NAMES = [f"ev{i}" for i in range(10)]


class CountingSink:
    """Where membership changes go in this benchmark: counted, not delivered."""

    def __init__(self) -> None:
        self.count = 0

    def publish(self, changes: Sequence[MembershipChange], now_ms: int) -> None:
        self.count += len(changes)


class NoLease:
    def hold(self) -> bool:
        return True

    def release(self) -> None:
        return None


def ca_bodies() -> list[dict[str, Any]]:
    """20 CAs: counts, sums and last values over the custom events, within 30 days or since a date."""
    bodies = []
    for i in range(20):
        kind = ("count", "sum", "max", "last_occurrence")[i % 4]
        point: dict[str, Any] = {
            "type": "event",
            "event_type": "custom_event",
            "event_name": EVENT_NAMES[i % 10],
        }
        if kind != "count":
            point.update(type="event_attribute", attribute_name="amount")
        period = (
            {"type": "within", "within": 30, "within_unit": "days"}
            if i % 2
            else {"type": "since", "date": "2020-01-01T00:00:00"}
        )
        bodies.append(
            {
                "name": f"ca{i}",
                "draft_definition": {"calculation_type": kind, "datapoint": point, "time_period": period},
            }
        )
    return bodies


def audience_criteria(i: int) -> Any:
    """50 audiences mixing event counts and windows, user attributes, CA values and combinations."""
    event = {
        "event": {
            "type": "custom_event",
            "name": EVENT_NAMES[i % 10],
            "count": {"operator": "greater_or_equal", "value": 1 + i % 3},
            "window_days": 7 + i,
        }
    }
    tier = {
        "user_attribute": {
            "name": "tier",
            "condition": {"type": "string", "operator": "exact_match", "value": ("gold", "silver")[i % 2]},
        }
    }
    calc = {
        "calculated_attribute": {
            "name": f"ca{(i * 4) % 20}",
            "condition": {"type": "number", "operator": "greater_than", "value": i % 5},
        }
    }
    visits = {
        "user_attribute": {
            "name": "visits",
            "condition": {"type": "number", "operator": "between", "min": i, "max": i + 200},
        }
    }
    shapes: list[Any] = [
        event,
        {"and": [event, tier]},
        {"or": [calc, visits]},
        {"exclude": [event, tier]},
        {"and": [calc, {"not": tier}]},
    ]
    return shapes[i % len(shapes)]


def work_items(group: int, users: int, rnd: random.Random, now_ms: int) -> list[WorkItem]:
    items = []
    for n in range(GROUP):
        batch_id = group * GROUP + n + 1
        mpid = rnd.randrange(users) + 1
        events = [
            {
                "event_type": "custom_event",
                "data": {
                    "event_name": rnd.choice(EVENT_NAMES),
                    "custom_event_type": "transaction",
                    "timestamp_unixtime_ms": now_ms - rnd.randrange(86_400_000),
                    "custom_attributes": {"amount": rnd.randrange(100)},
                },
            }
            for _ in range(3)
        ]
        # A user's tier rarely changes (1 batch in 50); visits count up.
        tier = ("gold", "silver", "bronze")[(mpid + (n % 50 == 0)) % 3]
        attrs = {"tier": tier, "visits": mpid % 250 + group // 10}
        payload = orjson.dumps(
            {"mpid": str(mpid), "environment": "production", "user_attributes": attrs, "events": events}
        )
        record = InboundRecord(
            batch_id=batch_id,
            workspace_id=1,
            input_id=1,
            environment="production",
            received_ms=now_ms,
            source_ip="",
            request_id="r",
            historical=False,
            payload=payload,
        )
        items.append(WorkItem(record=record, batch=decode_batch(payload)))
    return PureStages([normalize]).run(items, now_ms, ProcessingReport())


def phase_bench(groups: int, users: int) -> dict[str, float]:
    now_ms = int(time.time() * 1000)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        migrate(engine)
        config = SqlConfigStore(engine)
        org = config.create_organization("bench")
        ws = config.create_workspace(config.create_account(org.id, "a").id, "w")
        cas = SqlCalculatedStore(engine)
        ca_admin = CalculatedAdmin(cas)
        for body in ca_bodies():
            ca_admin.activate(ws.id, ca_admin.create(ws.id, body).id, "bench")
        backfill = Backfill(cas)
        while backfill.run_once():
            pass
        store = SqlAudienceStore(engine)
        sink = CountingSink()
        audience_engine = AudienceEngine(
            store, config, SqlProfileStore(engine), NoIdentities(), CalculatedValuesService(cas)
        )
        admin = AudienceAdmin(store, audience_engine, sink)
        for i in range(50):
            admin.activate(
                admin.create(ws.id, ws.account_id, {"name": f"aud{i}", "criteria": audience_criteria(i)})
            )
        AudienceJobs(audience_engine, SqlEventStore(engine), sink, NoLease()).tick()
        assert sum(a.status.value == "active" for a in store.list_audiences([ws.id])) == 50
        before: list[Phase] = [ProfilePhase(SqlProfileStore(engine)), StoreEvents(SqlEventStore(engine))]
        ca_phase, audience_phase = CalculatedPhase(cas), AudiencePhase(audience_engine, sink)
        # The worker's GC settings (fermion.services.worker): startup objects frozen, rare collections.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        rnd = random.Random(7)
        ca_times, audience_times, cpu_times = [], [], []
        warmup = max(2, 2 * users // GROUP)  # every user seen about twice before timing: joins settle
        for group in range(groups + warmup):
            items = work_items(group, users, rnd, now_ms)
            for phase in before:
                items = phase.run(items, now_ms, ProcessingReport())
            started, cpu = time.perf_counter(), time.process_time()
            items = ca_phase.run(items, now_ms, ProcessingReport())
            middle, cpu_middle = time.perf_counter(), time.process_time()
            audience_phase.run(items, now_ms, ProcessingReport())
            if group >= warmup:
                ca_times.append(middle - started)
                audience_times.append(time.perf_counter() - middle)
                cpu_times.append((cpu_middle - cpu, time.process_time() - cpu_middle))
        engine.dispose()
    both = [a + b for a, b in zip(ca_times, audience_times, strict=True)]
    return {
        "rate": GROUP * len(both) / sum(both),
        "audience_rate": GROUP * len(audience_times) / sum(audience_times),
        "ca_rate": GROUP * len(ca_times) / sum(ca_times),
        "median_ms": 1000 * statistics.median(both),
        "cpu_rate": GROUP * len(cpu_times) / sum(a + b for a, b in cpu_times),
        "audience_cpu_rate": GROUP * len(cpu_times) / sum(b for _, b in cpu_times),
        "changes": sink.count,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--no-backfill", action="store_true")
    args = parser.parse_args()
    r = phase_bench(args.groups, args.users)
    lines = [
        f"CA phase + audience phase, 20 CAs + 50 audiences (SQLite): {r['rate']:6.0f} batches/s wall clock,"
        f" {r['cpu_rate']:6.0f} batches/s of CPU time  (median {r['median_ms']:.0f} ms per group of {GROUP};"
        " target >= 5,000)",
        f"  audience phase alone: {r['audience_rate']:6.0f} batches/s wall clock,"
        f" {r['audience_cpu_rate']:6.0f} of CPU time; CA phase alone: {r['ca_rate']:6.0f} batches/s"
        " wall clock",
        f"  {r['changes']} membership changes (warm-up included) over {args.users} users",
        machine_line(),
    ]
    print("\n".join(lines), flush=True)
    backfill = ROOT / "bench" / "calculated.py"
    if not args.no_backfill and backfill.exists():
        print("CA backfill (bench/calculated.py):", flush=True)
        # Its own phase benchmark is kept short: the phase figures above are this benchmark's.
        subprocess.run([sys.executable, str(backfill), "--phase-batches", "2000"], check=False)
    elif not args.no_backfill:
        print("CA backfill: bench/calculated.py does not exist yet")


if __name__ == "__main__":
    main()
