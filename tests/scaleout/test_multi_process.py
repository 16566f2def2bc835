"""Scale-out end to end: 2 API processes and 3 workers on PostgreSQL and NATS JetStream, under load from the
official Python SDK; a worker is SIGKILLed and an API process restarted mid-run. Every batch answered 202
must be stored exactly once, and delivered once to a webhook by a separate sender process."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import mparticle
import psycopg
import pytest
from mparticle import AppEvent, Batch, UserIdentities

from support import scaleout
from support.cluster import Cluster
from support.recorder import Recorder

CLIENTS = 6
LOAD_S = 10.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    problem = scaleout.postgres_problem() or scaleout.nats_problem()
    if problem:
        scaleout.skip_or_fail(problem)
    database, url = scaleout.create_database()
    stream = scaleout.new_stream_name()
    env = {
        "FERMION_DATABASE_URL": url,
        "FERMION_NATS_URL": scaleout.NATS_URL,
        "FERMION_NATS_STREAM": stream,
        "FERMION_NATS_ACK_WAIT_S": "5",  # a killed worker's batches come back after 5 s
        "FERMION_DELIVERY_SENDER_IN_WORKER": "0",  # as in the README: senders run on their own
        "FERMION_DELIVERY_IDLE_POLL_S": "0.2",
        "FERMION_CONFIG_CACHE_TTL_S": "0.3",
    }
    c = Cluster(tmp_path, env)
    try:
        yield c
    finally:
        c.close()
        scaleout.delete_stream(stream)
        scaleout.drop_database(database)


def sdk_api(base_url: str, key: str, secret: str) -> mparticle.EventsApi:
    config = mparticle.Configuration()
    config.api_key = key
    config.api_secret = secret
    config.host = base_url + "/v2"
    return mparticle.EventsApi(config)


def sdk_batch(name: str, client: int) -> Batch:
    batch = Batch()
    batch.environment = "development"
    # A retried upload (the SDK's HTTP pool retries) is then stored once, as Fermion dedupes on it.
    batch.source_request_id = name
    ids = UserIdentities()
    ids.customerid = f"scale-{client}"
    batch.user_identities = ids
    event = AppEvent(name, "other")
    event.timestamp_unixtime_ms = 1_600_000_000_000
    batch.events = [event]
    return batch


def connect_webhook(cluster: Cluster, api_url: str, hook_url: str) -> None:
    base = f"{api_url}/api/v1/workspaces/{cluster.info['workspace_id']}"
    h = cluster.admin_headers
    out = httpx.post(
        f"{base}/outputs", headers=h, json={"integration": "webhook", "settings": {"url": hook_url}}
    )
    assert out.status_code == 201, out.text
    input_id = next(i["id"] for i in cluster.info["inputs"] if i["platform"] == "custom")
    conn = httpx.post(
        f"{base}/connections", headers=h, json={"input_id": input_id, "output_id": out.json()["id"]}
    )
    assert conn.status_code == 201, conn.text


def delivered_names(partner: Recorder) -> dict[str, int]:
    names: dict[str, int] = {}
    for batch in partner.batches():
        for event in batch.get("events", []):
            name = event.get("data", {}).get("event_name", "")
            if name.startswith("scale-"):
                names[name] = names.get(name, 0) + 1
    return names


def stored_names(database_url: str) -> dict[str, int]:
    query = "SELECT event_name, count(*) FROM events WHERE event_name LIKE 'scale-%' GROUP BY event_name"
    with psycopg.connect(database_url.replace("postgresql+psycopg", "postgresql")) as conn:
        rows = conn.execute(query).fetchall()
    return {str(name): int(count) for name, count in rows}


@pytest.fixture
def partner() -> Iterator[Recorder]:
    with Recorder() as recorder:
        yield recorder


def test_two_apis_three_workers_crash_and_restart_store_every_accepted_batch_once(
    cluster: Cluster, partner: Recorder
) -> None:
    cluster.init()
    apis = [cluster.start("api1", "api", wait=False), cluster.start("api2", "api", wait=False)]
    for n in range(1, 4):
        cluster.start(f"worker{n}", "worker", wait=False)
    cluster.start("sender", "sender", wait=False)
    for rp in cluster.processes.values():
        cluster.wait_ready(rp)
    connect_webhook(cluster, apis[1].url, partner.url("/hook"))
    time.sleep(1.0)  # workers see the new connection on their next round
    key, secret = cluster.input_creds()
    accepted: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        targets = itertools.cycle([sdk_api(api.url, key, secret) for api in apis])
        for i in itertools.count():
            if stop.is_set():
                return
            name = f"scale-{n}-{i}"
            try:
                _, status, _ = next(targets).upload_events_with_http_info(sdk_batch(name, n))
            except Exception as exc:  # the API process being restarted: not accepted
                with lock:
                    failures.append(type(exc).__name__)
                time.sleep(0.05)
                continue
            if status == 202:
                with lock:
                    accepted.append(name)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    time.sleep(LOAD_S * 0.3)
    cluster.kill("worker2")  # mid-group: its unacknowledged batches must be redelivered
    time.sleep(LOAD_S * 0.2)
    assert cluster.stop("api1") == 0  # graceful: in-flight requests finish, then exit 0
    cluster.start("api1", "api")
    time.sleep(LOAD_S * 0.5)
    stop.set()
    for t in threads:
        t.join()
    assert len(accepted) > 200, f"only {len(accepted)} accepted; failures: {failures[:5]}"

    deadline = time.monotonic() + 90
    stored: dict[str, int] = {}
    while time.monotonic() < deadline:
        stored = stored_names(cluster.env["FERMION_DATABASE_URL"])
        if set(accepted) <= set(stored):
            break
        time.sleep(0.5)
    missing = set(accepted) - set(stored)
    assert not missing, f"{len(missing)} of {len(accepted)} accepted batches lost, e.g. {sorted(missing)[:5]}"
    duplicated = [name for name, count in stored.items() if count > 1]
    assert not duplicated, f"stored more than once: {duplicated[:5]}"

    partner.wait_until(lambda p: set(accepted) <= set(delivered_names(p)), 90)
    delivered = delivered_names(partner)
    undelivered = set(accepted) - set(delivered)
    assert not undelivered, (
        f"{len(undelivered)} accepted batches never delivered, e.g. {sorted(undelivered)[:5]}"
    )
    twice = [name for name, count in delivered.items() if count > 1]
    assert not twice, f"delivered more than once: {twice[:5]}"
    ready = cluster.processes["worker1"]
    details = httpx.get(f"{ready.url}/readyz", timeout=5).json()
    assert details["inbound_dead_letters"] == 0
    metrics = httpx.get(f"{ready.url}/metrics", timeout=5).text
    assert "fermion_batches_processed_total" in metrics
