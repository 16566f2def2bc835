"""The identity phase: MPIDs for Events API batches, user_identity_change events, idempotence."""

from __future__ import annotations

from typing import Any

import orjson

from fermion.identity.batch import BatchIdentity
from fermion.model.events import UserIdentityChangeEvent
from fermion.model.records import InboundRecord
from fermion.pipeline.normalize import normalize
from fermion.services.identity import IdentityService
from fermion.services.identity_phase import NOTE, IdentityPhase
from fermion.services.processing import ProcessingReport, Processor, PureStages, WorkItem
from support.identity_memory import MemoryIdentityStore

WS = 7
T0 = 1_700_000_000_000


class Capture:
    name = "capture"

    def __init__(self) -> None:
        self.items: list[WorkItem] = []

    def run(self, items: list[WorkItem], now_ms: int, report: ProcessingReport) -> list[WorkItem]:
        self.items = list(items)
        return items


def record(batch_id: int, body: dict[str, Any], workspace_id: int = WS, input_id: int = 1) -> InboundRecord:
    return InboundRecord(
        batch_id=batch_id,
        workspace_id=workspace_id,
        input_id=input_id,
        environment="production",
        received_ms=T0 + batch_id,
        source_ip="",
        request_id="r",
        historical=False,
        payload=orjson.dumps(
            {"events": [{"event_type": "custom_event", "data": {"event_name": "x"}}], **body}
        ),
    )


def process(service: IdentityService, store: MemoryIdentityStore, *records: InboundRecord) -> list[WorkItem]:
    capture = Capture()
    Processor([PureStages([normalize]), IdentityPhase(service, store), capture]).process(records)
    return capture.items


def changes(item: WorkItem) -> list[tuple[str | None, str | None, bool | None]]:
    out = []
    for event in item.batch.events:
        if isinstance(event, UserIdentityChangeEvent):
            new = event.data.new
            assert new is not None
            out.append((new.identity_type, new.identity, new.created_this_batch))
    return out


def test_batches_with_the_same_customer_id_share_an_mpid(
    service: IdentityService, store: MemoryIdentityStore
) -> None:
    first, second = process(
        service,
        store,
        record(1, {"user_identities": {"customerid": "c-1", "email": "c@example.com"}}),
        record(2, {"user_identities": {"customer_id": "c-1"}}, input_id=2),  # same group, other input
    )
    assert first.batch.mpid is not None and first.batch.mpid == second.batch.mpid
    assert changes(first) == [("customer_id", "c-1", True), ("email", "c@example.com", True)]
    assert changes(second) == []
    (later,) = process(
        service, store, record(3, {"user_identities": {"customerid": "c-1"}}, workspace_id=WS + 1)
    )
    assert later.batch.mpid == first.batch.mpid  # the organization's other workspace
    note = first.notes[NOTE]
    assert isinstance(note, BatchIdentity) and note.created and note.rule == "no_match"


def test_reprocessing_a_batch_gives_the_same_mpid_and_events(
    service: IdentityService, store: MemoryIdentityStore
) -> None:
    rec = record(10, {"user_identities": {"email": "r@example.com"}, "mp_deviceid": "das-r"})
    (once,) = process(service, store, rec)
    links = dict(store.links)
    (again,) = process(service, store, rec)
    assert again.batch.mpid == once.batch.mpid
    assert changes(again) == changes(once) == [("email", "r@example.com", True)]
    assert [e.data.event_id for e in again.batch.events] == [e.data.event_id for e in once.batch.events]
    assert store.links == links  # no duplicate identity rows
    (empty,) = process(service, store, record(11, {}))
    (empty_again,) = process(service, store, record(11, {}))  # no identities at all: still stable
    assert empty.batch.mpid == empty_again.batch.mpid is not None


def test_a_given_mpid_is_honoured_and_takes_unclaimed_identities(
    service: IdentityService, store: MemoryIdentityStore
) -> None:
    (owner,) = process(service, store, record(20, {"user_identities": {"customerid": "owned"}}))
    body = {"mpid": "-77", "user_identities": {"customerid": "owned", "email": "free@example.com"}}
    (given,) = process(service, store, record(21, body))
    assert given.batch.mpid == -77
    assert changes(given) == []  # a client that knows its MPID reports its own identity changes
    assert store.find_mpid(3, "customer_id", "owned") == owner.batch.mpid  # someone else's stays put
    assert store.find_mpid(3, "email", "free@example.com") == -77


def test_blocked_and_device_identities(service: IdentityService, store: MemoryIdentityStore) -> None:
    body = {
        "user_identities": {"customerid": "0", "email": "d@example.com"},
        "device_info": {"ios_idfv": "idfv-1", "ios_advertising_id": "00000000-0000-0000-0000-000000000000"},
    }
    (item,) = process(service, store, record(30, body))
    assert item.batch.mpid is not None
    assert sorted(store.identities_of(3, item.batch.mpid)) == [
        ("email", "d@example.com"),
        ("ios_idfv", "idfv-1"),
    ]
    assert changes(item) == [("email", "d@example.com", True)]  # device ids have no Events API type
    (same_device,) = process(service, store, record(31, {"device_info": {"ios_idfv": "idfv-1"}}))
    assert same_device.batch.mpid == item.batch.mpid
