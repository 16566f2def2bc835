"""The forwarding phase with the user's profile: enriched batches queued with their own payload (encoded
once for all connections), unchanged ones by reference, consent rules on the stored consent, and an
output's skips counted in the forwarding report and System Alerts once."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from fermion.adapters.sql.event_store import SqlEventStore
from fermion.delivery.forwarding import SKIPPED, Encoded, Forwarder, ForwardingPhase
from fermion.delivery.routing import Routes
from fermion.delivery.stages import ConnectionHooks
from fermion.model.codec import decode_batch_obj
from fermion.model.delivery import QueueItem
from fermion.model.records import InboundRecord
from fermion.privacy.forwarding import ConsentRulesLoader, consent_forwarding
from fermion.profiles.state import Attribute, ConsentEntry, Profile
from fermion.services.processing import ProcessingReport, StoreEvents, WorkItem
from support.delivery_env import DeliveryEnv

MPID = 42
IDS = {"customer_id": ["cust-42"], "email": ["a@b.c"]}


@pytest.fixture
def env(tmp_path: Path) -> DeliveryEnv:
    return DeliveryEnv(tmp_path)


def profile(opted_out: bool = False) -> Profile:
    consent = {}
    if opted_out:
        entry = ConsentEntry(
            regulation="ccpa", purpose="data_sale_opt_out", consented=True, ts_ms=1_000, batch_id=1
        )
        consent[entry.key] = entry
    return Profile(
        workspace_id=1,
        mpid=MPID,
        attributes={"plan": Attribute(value="gold", ts_ms=1_000, batch_id=1)},
        consent=consent,
    )


def work(env: DeliveryEnv, batch_id: int, **user: Any) -> WorkItem:
    body = {
        "environment": "production",
        "mpid": MPID,
        "events": [{"event_type": "custom_event", "data": {"event_name": "A", "custom_event_type": "other"}}],
    }
    record = InboundRecord(
        batch_id=batch_id,
        workspace_id=env.workspace.id,
        input_id=env.input.id,
        environment="production",
        received_ms=1_700_000_000_000,
        source_ip="",
        request_id="r",
        historical=False,
        payload=b"{}",
    )
    return WorkItem(record=record, batch=decode_batch_obj(body), notes={"new": True}, **user)


def hooks() -> ConnectionHooks:
    return ConnectionHooks(stages=[consent_forwarding], loaders=[ConsentRulesLoader()])


def phase(env: DeliveryEnv) -> ForwardingPhase:
    """The phase with the consent rule hook (and its loader), reporting skips to the delivery log."""
    return ForwardingPhase(
        Routes(env.outputs, hooks().loaders, ttl_s=0.1), env.queue, hooks(), alerts=env.log
    )


def claimed(env: DeliveryEnv, connection_id: int) -> list[dict[str, Any]]:
    items = env.queue.claim(connection_id, 10, int(time.time() * 1000) + 1, 60_000)
    return [json.loads(c.payload) if c.payload else {} for c in items]


def heap(env: DeliveryEnv) -> int:
    settings = {"app_id": "a", "external_id": "Customer ID"}
    out, _ = env.outputs.create_output(env.workspace.id, "heap", "heap", settings)
    conn, _ = env.outputs.create_connection(env.workspace.id, env.input.id, out.id, {})
    return conn.id


def test_enriched_batches_carry_the_profile_and_are_encoded_once(env: DeliveryEnv) -> None:
    _, a = env.webhook("http://a.test/")
    _, b = env.webhook("http://b.test/")
    item = work(env, 1, identities=IDS, profile=profile())
    ForwardingPhase(env.routes(), env.queue, ConnectionHooks()).run([item], 0, ProcessingReport())
    for conn in (a, b):
        [sent] = claimed(env, conn.id)
        assert sent["user_identities"] == {"customer_id": "cust-42", "email": "a@b.c"}
        assert sent["user_attributes"] == {"plan": "gold"}
    assert item.batch.user_identities is None and item.batch.user_attributes is None  # stored as received

    table = env.routes().current()
    forwarder, encoded = Forwarder(ConnectionHooks()), Encoded()
    enriched = decode_batch_obj({"mpid": MPID, "user_attributes": {"x": 1}, "events": []})
    routed = [
        forwarder.route(enriched, item.record, r, table, 0, stored=item.batch, encoded=encoded)
        for r in table.by_input[env.input.id]
    ]
    assert all(isinstance(q, QueueItem) for q in routed)
    payloads = [q.payload for q in routed if isinstance(q, QueueItem)]
    assert payloads[0] is not None and payloads[0] is payloads[1]  # one encoding for both


def test_a_batch_the_profile_adds_nothing_to_is_queued_by_reference(env: DeliveryEnv) -> None:
    _, a = env.webhook("http://a.test/")
    ForwardingPhase(env.routes(), env.queue, ConnectionHooks()).run(
        [work(env, 1, identities={"ios_idfv": ["x"]})], 0, ProcessingReport()
    )
    assert claimed(env, a.id) == [{}]  # no payload of its own: the stored batch is sent


def test_consent_rules_decide_on_the_stored_consent(env: DeliveryEnv) -> None:
    out, _ = env.outputs.create_output(env.workspace.id, "webhook", "sale", {"url": "http://sale.test/"})
    rules = {"consent_rules": [{"regulation": "ccpa"}]}
    sale, _ = env.outputs.create_connection(env.workspace.id, env.input.id, out.id, rules)
    p = phase(env)
    p.run(
        [work(env, 1, profile=profile(opted_out=True)), work(env, 2, profile=profile())],
        0,
        ProcessingReport(),
    )
    assert [b["mpid"] for b in claimed(env, sale.id)] == [MPID]  # only batch 2's user has not opted out
    assert p.drops["consent_rule"] == 1


def test_an_outputs_skips_are_counted_and_alerted_once(env: DeliveryEnv) -> None:
    conn = heap(env)
    p = phase(env)
    now = int(time.time() * 1000)
    nobody = work(env, 1, identities={"email": ["a@b.c"]})
    p.run([nobody, work(env, 2, identities=IDS)], now, ProcessingReport())
    [sent] = claimed(env, conn)
    assert sent["user_identities"]["customer_id"] == "cust-42"
    # Processed again after a crash (stored, so queued again where missing): counted once.
    again = work(env, 1, identities={"email": ["a@b.c"]})
    StoreEvents(SqlEventStore(env.engine)).run([again], now, ProcessingReport())
    assert again.notes["new"] is True
    again.notes["new"] = False
    p.run([again], now, ProcessingReport())
    counts = env.log.counts(env.workspace.id, now - 3_600_000, now + 3_600_000, connection_id=conn)
    assert sorted((c.direction, c.event_name, c.count) for c in counts) == [("in", "A", 2), (SKIPPED, "A", 1)]
    [alert] = env.log.alerts(env.workspace.id, now - 3_600_000, now + 3_600_000, connection_id=conn)
    assert (alert.error_type, alert.count) == ("missing_identity", 1)
    assert "customer_id" in alert.last_message
