"""Unit tests of the pure processing stages over the shared canonical fixtures."""

from __future__ import annotations

import json

import pytest

from fermion.model.codec import batch_to_builtins, decode_batch
from fermion.model.ids import BatchIdGenerator, derived_id, event_id_for, to_signed64
from fermion.model.records import InboundRecord
from fermion.pipeline.identity_stub import assign_mpid
from fermion.pipeline.normalize import normalize
from fermion.pipeline.stage import Drop, StageContext, run_chain
from fermion.pipeline.store_rows import to_processed
from support.batches import all_fixture_names, load_fixture

RECEIVED = 1_763_800_000_000


def ctx(historical: bool = False, batch_id: int = 77) -> StageContext:
    record = InboundRecord(
        batch_id=batch_id,
        workspace_id=3,
        input_id=4,
        environment="development",
        received_ms=RECEIVED,
        source_ip="10.1.2.3",
        request_id="req",
        historical=historical,
        payload=b"",
    )
    return StageContext(record=record, now_ms=RECEIVED + 5)


@pytest.mark.parametrize("name", all_fixture_names())
def test_every_fixture_normalizes_and_keeps_its_fields(name: str) -> None:
    raw = json.dumps(load_fixture(name)).encode()
    batch = decode_batch(raw)
    out = normalize(batch, ctx())
    assert out.batch_id == 77 and out.timestamp_unixtime_ms == RECEIVED
    assert out.environment == "development"
    assert out.source_info is not None and out.source_info.channel
    for i, event in enumerate(out.events):
        original = batch.events[i].data
        assert event.data.timestamp_unixtime_ms == (original.timestamp_unixtime_ms or RECEIVED)
        assert event.data.event_id == (
            original.event_id if original.event_id is not None else event_id_for(77, i)
        )
    before, after = batch_to_builtins(batch), batch_to_builtins(out)
    stamped = {
        "user_identities",
        "source_info",
        "ip",
        "environment",
        "timestamp_unixtime_ms",
        "batch_id",
        "events",
    }
    for key in set(before) - stamped:
        assert after[key] == before[key], key


def test_defaults_and_customer_id_spelling() -> None:
    raw = json.dumps(
        {
            "user_identities": {"customerid": "c1", "email": "a@b.c"},
            "events": [
                {"event_type": "session_start", "data": {"session_uuid": "S-1", "timestamp_unixtime_ms": 5}},
                {
                    "event_type": "custom_event",
                    "data": {"event_name": "x", "custom_event_type": "other", "session_uuid": "S-1"},
                },
            ],
        }
    ).encode()
    out = normalize(decode_batch(raw), ctx(historical=True))
    assert out.user_identities is not None
    assert out.user_identities.customer_id == "c1" and out.user_identities.customerid is None
    assert out.ip == "10.1.2.3"
    assert out.source_info is not None and out.source_info.is_historical is True
    assert out.source_info.channel == "server_to_server"
    start, custom = out.events
    assert start.data.session_id == custom.data.session_id == derived_id("session", "S-1")
    assert custom.data.session_start_unixtime_ms == 5
    assert custom.data.timestamp_unixtime_ms == RECEIVED


def test_mpid_is_kept_or_derived_stably() -> None:
    given = decode_batch(b'{"mpid": -5, "user_identities": {"email": "x@y.z"}}')
    assert assign_mpid(given, ctx()).mpid == -5
    by_email = assign_mpid(decode_batch(b'{"user_identities": {"email": "x@y.z"}}'), ctx())
    again = assign_mpid(decode_batch(b'{"user_identities": {"email": "x@y.z"}}'), ctx(batch_id=99))
    assert by_email.mpid == again.mpid
    spelled = assign_mpid(decode_batch(b'{"user_identities": {"customerid": "c"}}'), ctx())
    other = assign_mpid(decode_batch(b'{"user_identities": {"customer_id": "c"}}'), ctx())
    assert spelled.mpid == other.mpid
    device = assign_mpid(decode_batch(b'{"mp_deviceid": "d-1"}'), ctx())
    assert device.mpid == derived_id("mpid", 3, "device", "d-1")


def test_chain_and_store_rows() -> None:
    raw = json.dumps(load_fixture("python_sdk_full")).encode()
    result = run_chain([normalize, assign_mpid], decode_batch(raw), ctx())
    assert not isinstance(result, Drop)
    processed = to_processed(result, ctx().record)
    assert processed.mpid == 600868121729048600
    assert len(processed.events) == 8
    assert json.loads(processed.payload)["mpid"] == 600868121729048600
    assert {e.event_name for e in processed.events} >= {"Hello World", "Home", "purchase"}
    assert processed.source_request_id == "req-1"
    assert "59780f39-d7a0-4ebe-9950-280f937c29e2" in processed.device_ids
    dropped = run_chain([lambda b, c: Drop("test")], decode_batch(raw), ctx())
    assert dropped == Drop("test")


def test_ids() -> None:
    gen = BatchIdGenerator(node_id=5)
    ids = [gen.next(RECEIVED) for _ in range(10_000)] + [gen.next(RECEIVED - 10), gen.next(RECEIVED + 5000)]
    assert len(set(ids)) == len(ids) and ids == sorted(ids) and ids[0] > 0 and ids[-1] < 2**63
    assert BatchIdGenerator(node_id=6).next(RECEIVED) != BatchIdGenerator(node_id=5).next(RECEIVED)
    assert to_signed64(2**64 - 1) == -1 and to_signed64(5) == 5
    assert derived_id("x", 1) == derived_id("x", 1) != derived_id("x", 2)
