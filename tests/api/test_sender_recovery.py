"""Prompt recovery under `serve`: a sender killed with SIGKILL is started again and delivers; the batches
it had claimed are taken over within seconds (its claims' leases are short and only a live sender renews
them), not after the 4.5 minutes a lease used to last; and a partner back from an outage gets its backlog
within seconds (a paused connection probes), not at the end of a long backoff."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import httpx
import pytest
from test_delivery_api import a_batch, api, connect_webhook, send

from support.children import supervised_children
from support.fermion_proc import FermionProcess
from support.recorder import Recorder
from support.servers import module_server
from support.waiting import wait_until

pytestmark = pytest.mark.slow

# A backoff of minutes (the first retry 100-200 s after a failure): only a probe resumes sooner.
LONG_BACKOFF = {
    "FERMION_CONFIG_CACHE_TTL_S": "0.3",
    "FERMION_DELIVERY_BACKOFF_BASE_S": "200",
    "FERMION_DELIVERY_BACKOFF_MAX_S": "600",
}


server = module_server("recovery", LONG_BACKOFF)


def sender_pid(server: FermionProcess) -> int | None:
    """The pid of the sender process `serve` started (None while there is none)."""
    for child in supervised_children(server):
        if b"sender" in child.cmdline and child.state != b"Z":
            return child.pid
    return None


def kill_sender(server: FermionProcess) -> int:
    """SIGKILL the sender; return its pid."""
    pid = wait_until(lambda: sender_pid(server), timeout_s=30)
    assert pid
    os.kill(pid, signal.SIGKILL)
    return int(pid)


def queue_of(server: FermionProcess, connection_id: int) -> dict[str, Any]:
    r = httpx.get(api(server, f"/connections/{connection_id}"), headers=server.admin_headers)
    assert r.status_code == 200, r.text
    return dict(r.json()["queue"])


def warm_up(server: FermionProcess, partner: Recorder) -> None:
    send(server, [a_batch("warm-up")])
    partner.wait_for_batches(1, 60)
    partner.clear()


def test_a_killed_sender_is_started_again_and_delivers(server: FermionProcess) -> None:
    with Recorder() as partner:
        connect_webhook(server, partner.url("/restart"))
        warm_up(server, partner)
        killed = kill_sender(server)
        restarted = wait_until(lambda: (pid := sender_pid(server)) and pid != killed and pid, timeout_s=60)
        assert restarted and restarted != killed
        send(server, [a_batch(f"after-restart-{i}") for i in range(5)])
        assert len(partner.wait_for_batches(5, 60)) == 5
        assert (server.data_dir / "server.log").read_text().count("signal only works in main thread") == 0


def test_a_killed_senders_claims_are_taken_over_within_seconds(server: FermionProcess) -> None:
    with Recorder() as partner:
        _, conn = connect_webhook(server, partner.url("/slow"))
        warm_up(server, partner)
        partner.delay_s = 60.0  # the partner hangs: the sender holds its claim while it waits
        send(server, [a_batch(f"claimed-{i}") for i in range(5)])
        wait_until(lambda: queue_of(server, conn)["inflight"] == 5, timeout_s=60)
        kill_sender(server)
        killed_at = time.monotonic()
        partner.recover()
        # Before: the claim's lease (timeout x rounds, 270 s for a webhook) had to run out first.
        assert len(partner.wait_for_batches(5, 120)) == 5
        assert time.monotonic() - killed_at < 120
        wait_until(lambda: queue_of(server, conn)["done"] == 6, timeout_s=30)


def test_delivery_resumes_soon_after_a_partner_outage(server: FermionProcess) -> None:
    outage_s = 20.0
    with Recorder() as partner:
        _, conn = connect_webhook(server, partner.url("/outage"))
        warm_up(server, partner)
        partner.fail_for(outage_s, status=503)
        back_at = time.time() + outage_s
        send(server, [a_batch("outage-0")])
        assert partner.wait_until(lambda p: any(r.answered == 503 for r in p.snapshot()), 60)
        sent = 1
        while time.time() < back_at:  # a trickle while the partner is down
            send(server, [a_batch(f"outage-{sent}")])
            sent += 1
            time.sleep(2.0)
        assert len(partner.wait_for_batches(sent, 120)) == sent
        resumed_after = max(r.at for r in partner.accepted()) - back_at
        # The old backoff (base 200 s: the first retry 100-200 s after the first failure) would have
        # resumed 80 s or more after the outage; a probe goes every 5 s.
        assert resumed_after < 60, resumed_after
        assert queue_of(server, conn)["dead"] == 0
        statuses = [r.answered for r in partner.snapshot()]
        assert statuses.count(503) >= 2  # probes while down
