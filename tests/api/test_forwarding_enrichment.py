"""Forwarded batches carry the user's profile, end to end through a real server: a batch with only an
`mpid` reaches a webhook with the identities, attributes and consent an earlier batch stored; a stored
CCPA opt-out stops the next batch on a data-sale connection; Heap in Customer ID mode gets the
enriched identity, and a batch whose user has no customer id is counted as skipped with its reason in
the forwarding report and System Alerts. The stored history keeps what was received."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from support.fermion_proc import FermionProcess
from support.outputs_api import admin, connect, ok, send
from support.recorder import Recorder
from support.waiting import wait_until

OPT_OUT_MS = 1_700_000_000_000


@dataclass
class Setup:
    server: FermionProcess
    partner: Recorder
    hook: int  # every batch: connection id
    sale: int  # a data-sale connection: "do not forward if the CCPA data sale opt-out is present"
    heap: int  # Heap with Customer ID as its identity


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    server = FermionProcess(tmp_path_factory.mktemp("enrich"), env={"FERMION_CONFIG_CACHE_TTL_S": "0.3"})
    server.init()
    server.start()
    try:
        with Recorder() as partner:
            hook = connect(server, "webhook", {"url": partner.url("/hook")}, {})
            rules = {"consent_rules": [{"regulation": "ccpa"}]}
            sale = connect(server, "webhook", {"url": partner.url("/sale")}, rules)
            heap_output = {"app_id": "app", "base_url": partner.url("/heap"), "external_id": "Customer ID"}
            heap = connect(server, "heap", heap_output, {})
            yield Setup(server, partner, hook, sale, heap)
    finally:
        server.stop()


def event(name: str) -> dict[str, Any]:
    return {"event_type": "custom_event", "data": {"event_name": name, "custom_event_type": "other"}}


def at(partner: Recorder, path: str, name: str) -> list[dict[str, Any]]:
    """The batches `path` received that carry an event named `name`."""
    return [
        b
        for r in partner.accepted()
        if r.path == path
        for b in r.batches()
        if any(e.get("data", {}).get("event_name") == name for e in b.get("events", []))
    ]


def first_at(partner: Recorder, path: str, name: str) -> dict[str, Any]:
    found = wait_until(lambda: at(partner, path, name), 60)
    assert found, f"{name} never reached {path}"
    return found[0]


def heap_calls(partner: Recorder, name: str) -> list[dict[str, Any]]:
    return [
        r.json() for r in partner.accepted() if r.path == "/heap/api/track" and r.json().get("event") == name
    ]


def known_user(s: Setup, tag: str, **extra: Any) -> int:
    """A user whose profile holds a customer id, an email, attributes and consent; returns the MPID."""
    first = {
        "environment": "production",
        "user_identities": {"customerid": f"cust-{tag}", "email": f"{tag}@example.test"},
        "user_attributes": {"plan": "gold", "$firstname": "Ada"},
        "events": [event(f"first {tag}")],
        **extra,
    }
    send(s.server, [first])
    return int(first_at(s.partner, "/hook", f"first {tag}")["mpid"])


def test_a_batch_with_only_an_mpid_arrives_with_the_profile(setup: Setup) -> None:
    s = setup
    consent = {"gdpr": {"marketing": {"consented": True, "timestamp_unixtime_ms": OPT_OUT_MS}}}
    mpid = known_user(s, "enrich", consent_state=consent)
    send(s.server, [{"environment": "production", "mpid": mpid, "events": [event("only mpid")]}])
    got = first_at(s.partner, "/hook", "only mpid")
    assert got["mpid"] == mpid
    assert got["user_identities"] == {"customer_id": "cust-enrich", "email": "enrich@example.test"}
    assert got["user_attributes"] == {"plan": "gold", "$firstname": "Ada"}
    marketing = got["consent_state"]["gdpr"]["marketing"]
    assert marketing["consented"] is True and marketing["timestamp_unixtime_ms"] == OPT_OUT_MS

    # The stored history keeps what was received: the archived batch has no identities or attributes.
    def archived() -> dict[str, Any] | None:
        for path in (s.server.data_dir / "archive" / str(s.server.workspace_id)).glob("*.ndjson"):
            for line in path.read_text().splitlines():
                stored: dict[str, Any] = json.loads(line) if line else {}
                if stored.get("batch_id") == got["batch_id"]:
                    return stored
        return None

    stored = wait_until(archived, 60)
    assert stored is not None and stored["mpid"] == mpid
    assert not {"user_identities", "user_attributes", "consent_state"} & set(stored)
    url = f"/activity/users/{mpid}/events"
    timeline = ok(admin(s.server, "GET", url))["batches"]
    latest = next(b for b in timeline if b["batch_id"] == str(got["batch_id"]))
    assert [e["event_name"] for e in latest["events"]] == ["only mpid"]


def test_a_stored_ccpa_opt_out_stops_the_next_batch_on_a_data_sale_connection(setup: Setup) -> None:
    s = setup
    opted_out = known_user(s, "optout")
    control = known_user(s, "control")
    opt_out = {"ccpa": {"data_sale_opt_out": {"consented": True, "timestamp_unixtime_ms": OPT_OUT_MS}}}
    send(
        s.server,
        [
            {
                "environment": "production",
                "mpid": opted_out,
                "consent_state": opt_out,
                "events": [event("opting out")],
            }
        ],
    )
    first_at(s.partner, "/hook", "opting out")
    # The next batches carry no consent of their own; the opted-out user's is sent before the
    # control's, so once the control's has reached the data-sale connection the other's was decided.
    send(
        s.server,
        [
            {"environment": "production", "mpid": opted_out, "events": [event("after opt-out")]},
            {"environment": "production", "mpid": control, "events": [event("after opt-out")]},
        ],
    )
    wait_until(lambda: len(at(s.partner, "/hook", "after opt-out")) >= 2, 60)
    sold = first_at(s.partner, "/sale", "after opt-out")
    assert sold["mpid"] == control
    assert all(b["mpid"] != opted_out for b in at(s.partner, "/sale", "after opt-out"))
    assert not at(s.partner, "/sale", "opting out")
    hooked = next(b for b in at(s.partner, "/hook", "after opt-out") if b["mpid"] == opted_out)
    assert hooked["consent_state"]["ccpa"]["data_sale_opt_out"]["consented"] is True


def test_heap_customer_id_mode_gets_the_enriched_identity_and_counts_skips(setup: Setup) -> None:
    s = setup
    mpid = known_user(s, "heap")
    send(
        s.server,
        [
            {"environment": "production", "mpid": mpid, "events": [event("heap known")]},
            {  # nobody has ever given this user a customer id
                "environment": "production",
                "user_identities": {"email": "anon@example.test"},
                "events": [event("heap nobody")],
            },
        ],
    )
    assert wait_until(lambda: heap_calls(s.partner, "heap known"), 60)
    assert {c["identity"] for c in heap_calls(s.partner, "heap known")} == {"cust-heap"}
    first_at(s.partner, "/hook", "heap nobody")  # processed: its Heap decision is made

    def skipped() -> list[dict[str, Any]]:
        report = ok(admin(s.server, "GET", f"/reports/forwarding?connection_id={s.heap}"))
        [conn] = report["connections"] or [{"events": []}]
        return [e for e in conn["events"] if e["event_name"] == "heap nobody" and e["skipped"] == 1]

    [counted] = wait_until(skipped, 60)
    assert (counted["inbound"], counted["outbound"]) == (1, 0)
    alerts = ok(admin(s.server, "GET", f"/alerts?connection_id={s.heap}"))["connections"]
    [alert] = [a for c in alerts for a in c["alerts"] if a["type"] == "missing_identity"]
    assert alert["volume"] >= 1 and "customer_id" in alert["last_message"]
    assert not heap_calls(s.partner, "heap nobody")  # never queued for Heap
