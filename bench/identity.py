"""IDSync benchmark: identify requests per second over HTTP (wrk), and batches per second through the
identity and profile phases (in process) with 10K and with 1M identities (and their profiles) stored.

Run: .venv/bin/python bench/identity.py [--seconds 10] [--connections 32] [--groups 20]
     [--database-url postgresql+psycopg://...]   (default: a SQLite file, as `fermion serve` uses)
Needs `wrk` for the HTTP part (skipped with --no-http).
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from fermion.adapters.sql import SqlConfigStore, make_engine, migrate  # noqa: E402
from fermion.adapters.sql.identity_store import SqlIdentityStore  # noqa: E402
from fermion.adapters.sql.profile_store import SqlProfileStore  # noqa: E402
from fermion.adapters.sql.schema_identity import identity_keys, identity_links, identity_profiles  # noqa: E402
from fermion.adapters.sql.schema_profiles import profile_attributes, profiles  # noqa: E402
from fermion.model.codec import decode_batch  # noqa: E402
from fermion.model.records import InboundRecord  # noqa: E402
from fermion.pipeline.normalize import normalize  # noqa: E402
from fermion.services.identity import IdentityService  # noqa: E402
from fermion.services.identity_phase import IdentityPhase  # noqa: E402
from fermion.services.processing import ProcessingReport, PureStages, WorkItem  # noqa: E402
from fermion.services.profile_phase import ProfilePhase  # noqa: E402
from support.fermion_proc import FermionProcess  # noqa: E402

GROUP = 500  # batches per processing group (the worker's fetch size)
T0 = 1_700_000_000_000


# -- identify over HTTP ---------------------------------------------------------------------------


def wrk_identify(url: str, key: str, seconds: int, connections: int, unique: bool) -> dict[str, float]:
    """POST identify bodies; `unique` gives every request a new device (a new profile each time)."""
    template = (
        '{"environment":"production","previous_mpid":null,"known_identities":'
        '{"customerid":"bench-%s","device_application_stamp":"das-%s"}}'
    )
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "identify.lua"
        script.write_text(
            "\n".join(
                [
                    "local n = 0",
                    f"local template = '{template}'",
                    'local headers = {["Content-Type"] = "application/json", ["x-mp-key"] = "' + key + '"}',
                    "request = function()",
                    "  n = n + 1",
                    f"  local id = {'n' if unique else '1'}",
                    '  return wrk.format("POST", "/v1/identify", headers, string.format(template, id, id))',
                    "end",
                    "done = function(summary, latency, requests)",
                    '  io.write(string.format("STATUS non2xx=%d errors=%d\\n", summary.errors.status,',
                    "    summary.errors.connect + summary.errors.read + summary.errors.write"
                    " + summary.errors.timeout))",
                    "end",
                ]
            )
        )
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"STATUS non2xx=(\d+) errors=(\d+)", out)
    assert rps and bad, out
    return {
        "rps": float(rps.group(1)),
        "p50": pct("50"),
        "p99": pct("99"),
        "non2xx": float(bad.group(1)),
        "errors": float(bad.group(2)),
    }


def http_bench(seconds: int, connections: int) -> list[str]:
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        server = FermionProcess(Path(tmp), env={})
        server.init()
        server.start("--role", "api")  # the API alone: identify does not need the worker
        try:
            key, _ = server.input_creds("web")
            for label, unique in (("returning user", False), ("new user each call", True)):
                r = wrk_identify(f"{server.base_url}/v1/identify", key, seconds, connections, unique)
                lines.append(
                    f"identify, {label:<18}: {r['rps']:7.0f} req/s  p50 {r['p50']:.1f} ms"
                    f"  p99 {r['p99']:.1f} ms  (non-2xx {r['non2xx']:.0f}, errors {r['errors']:.0f})"
                )
        finally:
            server.stop()
    return lines


# -- the identity phase -----------------------------------------------------------------------------


def seed(engine: Engine, org_id: int, workspace_id: int, identities: int) -> None:
    """identities/2 profiles, each with a customer id and a device stamp, in bulk."""
    chunk = 50_000
    with engine.begin() as conn:
        for start in range(0, identities // 2, chunk):
            rng = range(start, min(start + chunk, identities // 2))
            conn.execute(
                insert(identity_profiles),
                [
                    {
                        "org_id": org_id,
                        "mpid": i + 1,
                        "workspace_id": workspace_id,
                        "created_ms": T0,
                    }
                    for i in rng
                ],
            )
            conn.execute(
                insert(profiles),
                [
                    {
                        "workspace_id": workspace_id,
                        "mpid": i + 1,
                        "first_seen_ms": T0,
                        "last_seen_ms": T0,
                        "last_stored_ms": T0,
                        "opted_out": None,
                        "opted_out_ts": 0,
                        "opted_out_batch": 0,
                    }
                    for i in rng
                ],
            )
            for name in ("tier", "visits"):
                conn.execute(
                    insert(profile_attributes),
                    [
                        {
                            "workspace_id": workspace_id,
                            "mpid": i + 1,
                            "name": name,
                            "value": '"x"',
                            "deleted": False,
                            "ts": T0 - 1,
                            "batch": 0,
                            "prev_exists": False,
                            "prev_value": None,
                        }
                        for i in rng
                    ],
                )
            for kind, prefix in (("customer_id", "c-"), ("device_application_stamp", "d-")):
                conn.execute(
                    insert(identity_keys),
                    [{"org_id": org_id, "identity_type": kind, "value": f"{prefix}{i}"} for i in rng],
                )
                conn.execute(
                    insert(identity_links),
                    [
                        {
                            "org_id": org_id,
                            "identity_type": kind,
                            "value": f"{prefix}{i}",
                            "mpid": i + 1,
                            "created_ms": T0,
                        }
                        for i in rng
                    ],
                )


def work_items(group: int, existing: int, rnd: random.Random) -> list[WorkItem]:
    """GROUP batches: 80% returning customers (random over the stored ones), 20% new customers."""
    items = []
    for n in range(GROUP):
        batch_id = group * GROUP + n + 1
        if n % 5:
            i = rnd.randrange(existing // 2)
            ids: dict[str, Any] = {"user_identities": {"customerid": f"c-{i}"}, "mp_deviceid": f"d-{i}"}
        else:
            ids = {"user_identities": {"customerid": f"new-{batch_id}"}, "mp_deviceid": f"new-d-{batch_id}"}
        ids["user_attributes"] = {"tier": "gold", "visits": n}
        payload = orjson.dumps(
            {"events": [{"event_type": "custom_event", "data": {"event_name": "e"}}], **ids}
        )
        record = InboundRecord(
            batch_id=batch_id,
            workspace_id=1,
            input_id=1,
            environment="production",
            received_ms=T0,
            source_ip="",
            request_id="r",
            historical=False,
            payload=payload,
        )
        items.append(WorkItem(record=record, batch=decode_batch(payload)))
    return PureStages([normalize]).run(items, T0, ProcessingReport())


def phase_bench(identities: int, groups: int, database_url: str | None) -> dict[str, float]:
    """Batches per second through the identity and profile phases (by wall clock, and by this
    process's CPU time, which other load on the machine disturbs less), and the median ms per group."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(database_url or f"sqlite:///{tmp}/bench.db")
        if database_url:
            _reset_postgres(engine)
        migrate(engine)
        config = SqlConfigStore(engine)
        org = config.create_organization("bench")
        ws = config.create_workspace(config.create_account(org.id, "a").id, "w")
        assert ws.id == 1
        seed(engine, org.id, ws.id, identities)
        store = SqlIdentityStore(engine)
        phases = [IdentityPhase(IdentityService(store, config), store), ProfilePhase(SqlProfileStore(engine))]
        rnd = random.Random(7)
        walls, cpus = [], []
        for group in range(groups + 2):
            items = work_items(group, identities, rnd)
            started, cpu = time.perf_counter(), time.process_time()
            for phase in phases:
                items = phase.run(items, T0, ProcessingReport())
            if group >= 2:  # the first groups warm caches
                walls.append(time.perf_counter() - started)
                cpus.append(time.process_time() - cpu)
            assert all(i.batch.mpid for i in items)
        engine.dispose()
    return {
        "wall_rate": GROUP * len(walls) / sum(walls),
        "cpu_rate": GROUP * len(cpus) / sum(cpus),
        "median_ms": 1000 * statistics.median(walls),
    }


def _reset_postgres(engine: Engine) -> None:
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL to bench (its public schema is reset)"
    )
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args()
    lines: list[str] = []
    if not args.no_http:
        if shutil.which("wrk") is None:
            sys.exit("wrk is needed: apt-get install wrk (or pass --no-http)")
        lines += http_bench(args.seconds, args.connections)
    backend = "PostgreSQL" if args.database_url else "SQLite"
    results = {}
    for size in (10_000, 1_000_000):
        r = results[size] = phase_bench(size, args.groups, args.database_url)
        lines.append(
            f"identity + profile phases, {size:>9,} identities ({backend}):"
            f" {r['wall_rate']:6.0f} batches/s wall clock,"
            f" {r['cpu_rate']:6.0f} batches/s of CPU time  (median {r['median_ms']:.0f} ms per group"
            f" of {GROUP}; 80% returning, 20% new users)"
        )
    small, large = results[10_000], results[1_000_000]
    lines.append(
        f"cost at 1M / cost at 10K: {small['wall_rate'] / large['wall_rate']:.2f} by wall clock,"
        f" {small['cpu_rate'] / large['cpu_rate']:.2f} by CPU time (target <= 1.20)"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
