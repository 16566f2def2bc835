"""Fault tests through a real server: a partner answering 500 and 429 (+Retry-After) for a while gets
every batch exactly once after dedupe by batch id, System Alerts show the errors, and a healthy
partner on the same input keeps its latency; a partner down past max attempts fills its dead letters
and a replay (CLI and API) delivers them; a time window of history can be replayed."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from test_delivery_api import FAST_RETRIES, a_batch, api, connect_webhook, send

from support.fermion_proc import FermionProcess, run_cli
from support.recorder import Recorder
from support.servers import module_server

pytestmark = pytest.mark.slow


server = module_server("faults", FAST_RETRIES)


def connection(server: FermionProcess, connection_id: int) -> dict[str, Any]:
    r = httpx.get(api(server, f"/connections/{connection_id}"), headers=server.admin_headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def wait(predicate: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert predicate()


def warm_up(server: FermionProcess, *partners: Recorder) -> None:
    """One batch through every partner (the worker and its sender may still be starting), then forget it."""
    send(server, [a_batch("warm-up")])
    for partner in partners:
        partner.wait_for_batches(1, 60)
        partner.clear()


def latencies_ms(rec: Recorder) -> list[float]:
    """Receive time minus the batch's ingest time, first arrival of each batch."""
    first: dict[int, float] = {}
    for req in rec.accepted():
        for batch in req.batches():
            first.setdefault(int(batch["batch_id"]), req.at * 1000 - batch["timestamp_unixtime_ms"])
    return sorted(first.values())


def test_errors_then_recovery_deliver_exactly_once_and_spare_the_healthy_partner(
    server: FermionProcess,
) -> None:
    with Recorder() as flaky, Recorder() as healthy:
        _, flaky_conn = connect_webhook(server, flaky.url("/flaky"))
        _, healthy_conn = connect_webhook(server, healthy.url("/healthy"))
        warm_up(server, flaky, healthy)
        flaky.fail_next(6, status=500)
        flaky.fail_next(3, status=429, retry_after="1")
        sent = 0
        started = time.monotonic()
        while time.monotonic() - started < 3.0:  # a steady trickle while the partner misbehaves
            send(server, [a_batch(f"fault-{sent + i}") for i in range(5)])
            sent += 5
            time.sleep(0.1)
        healthy_ids = healthy.wait_for_batches(sent, 30)
        flaky_ids = flaky.wait_for_batches(sent, 60)
        assert len(healthy_ids) == len(flaky_ids) == sent
        assert flaky_ids == healthy_ids  # every batch, once after dedupe by batch id
        assert len(healthy.batch_ids()) == sent  # the healthy partner never saw a retry
        answered = [r.answered for r in flaky.snapshot()]
        assert 500 in answered and 429 in answered, answered
        # The flaky partner's retries (Retry-After: 1) never held up the healthy one: its slowest batch
        # still beat the flaky partner's slowest. A relative check, not a wall-clock budget (timings
        # belong in bench/forwarding.py).
        assert max(latencies_ms(flaky)) > 1000  # the flaky one did wait
        assert max(latencies_ms(healthy)) < max(latencies_ms(flaky))

        wait(lambda: connection(server, flaky_conn)["queue"]["done"] == sent + 1)  # + the warm-up
        assert connection(server, flaky_conn)["queue"]["dead"] == 0
        alerts = httpx.get(api(server, "/alerts"), headers=server.admin_headers).json()
        by_conn = {c["connection_id"]: c for c in alerts["connections"]}
        assert healthy_conn not in by_conn
        types = {a["type"]: a for a in by_conn[flaky_conn]["alerts"]}
        assert types["server_error"]["volume"] >= 1 and types["rate_limited"]["volume"] >= 1
        assert types["server_error"]["last_message"].startswith("HTTP 500")
        prod_only = httpx.get(
            api(server, "/alerts"), headers=server.admin_headers, params={"environment": "development"}
        )
        assert flaky_conn not in {c["connection_id"] for c in prod_only.json()["connections"]}
        outbound = httpx.get(
            api(server, "/livestream/outbound"),
            headers=server.admin_headers,
            params={"connection_id": flaky_conn},
        ).json()["requests"]
        assert {r["outcome"] for r in outbound} >= {"delivered"}


def test_dead_letters_then_replay(server: FermionProcess) -> None:
    with Recorder() as partner:
        partner.fail_always(503)
        _, conn = connect_webhook(server, partner.url("/down"))
        time.sleep(0.5)
        send(server, [a_batch(f"dead-{i}") for i in range(6)])
        wait(lambda: connection(server, conn)["queue"]["dead"] == 6, 60)
        dead = httpx.get(
            api(server, f"/connections/{conn}/dead-letters"), headers=server.admin_headers
        ).json()
        assert len(dead["dead_letters"]) == 6
        assert all(d["attempts"] == 4 and d["error_type"] == "server_error" for d in dead["dead_letters"])
        assert partner.unique_batch_ids() == set()

        partner.recover()
        progress = run_cli(
            server.data_dir,
            "replay",
            "--connection",
            str(conn),
            "--dead-letters",
            "--timeout",
            "60",
            env=server.env,
        )
        assert progress["finished"] and progress["done"] == 6 and progress["dead"] == 0
        assert len(partner.wait_for_batches(6, 10)) == 6
        assert connection(server, conn)["queue"]["dead"] == 0


def test_replay_a_time_window_over_the_api(server: FermionProcess) -> None:
    with Recorder() as partner:
        since = int(time.time() * 1000)
        send(server, [a_batch(f"window-{i}") for i in range(4)])
        server.wait_for_events(4, since_ms=since)
        time.sleep(0.3)
        until = int(time.time() * 1000)
        _, conn = connect_webhook(server, partner.url("/late"))  # connected after the data arrived
        h = server.admin_headers
        bad = httpx.post(api(server, f"/connections/{conn}/replay"), headers=h, json={"until_ms": until})
        assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "since_ms"
        r = httpx.post(
            api(server, f"/connections/{conn}/replay"), headers=h, json={"since_ms": since, "until_ms": until}
        )
        assert r.status_code == 202, r.text
        job = r.json()
        wait(lambda: httpx.get(api(server, f"/replays/{job['id']}"), headers=h).json()["finished"])
        final = httpx.get(api(server, f"/replays/{job['id']}"), headers=h).json()
        assert final["job"]["enqueued"] == 4 and final["done"] == 4
        batches = partner.batches()
        assert len(batches) == 4
        assert {b["source_info"]["replay_job_id"] for b in batches} == {str(job["id"])}
        assert httpx.get(api(server, "/replays/999999"), headers=h).status_code == 404
