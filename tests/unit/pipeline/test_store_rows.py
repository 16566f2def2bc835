"""to_processed: the stored rows are byte for byte those of the general (builtins) encoding, with or
without unknown fields anywhere in the batch."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fermion.model.batch import Batch
from fermion.model.codec import batch_to_builtins, decode_batch, event_name_of
from fermion.model.events_common import EXTRA_KEY
from fermion.model.records import InboundRecord, ProcessedBatch, StoredEvent
from fermion.pipeline.identity_stub import assign_mpid, device_ids_of
from fermion.pipeline.normalize import normalize
from fermion.pipeline.stage import Drop, StageContext, run_chain
from fermion.pipeline.store_rows import to_processed
from support.batches import all_fixture_names, load_fixture

_spec = importlib.util.spec_from_file_location(
    "roundtrip_strategies", Path(__file__).parents[1] / "model" / "test_roundtrip_hypothesis.py"
)
assert _spec is not None and _spec.loader is not None
_strategies = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_strategies)

RECORD = InboundRecord(
    batch_id=77,
    workspace_id=3,
    input_id=4,
    environment="development",
    received_ms=1_763_800_000_000,
    source_ip="10.1.2.3",
    request_id="req",
    historical=False,
    payload=b"",
)
_encoder = msgspec.json.Encoder()


def reference(batch: Batch, record: InboundRecord) -> ProcessedBatch:
    """The general encoding (what to_processed did before its fast path)."""
    as_json = batch_to_builtins(batch)
    events = [
        StoredEvent(
            event_id=event.data.event_id or 0,
            event_type=event.event_type,
            event_name=event_name_of(event),
            timestamp_ms=event.data.timestamp_unixtime_ms or record.received_ms,
            payload=_encoder.encode(event_json),
        )
        for event, event_json in zip(batch.events, as_json.get("events", []), strict=True)
    ]
    return ProcessedBatch(
        batch_id=record.batch_id,
        workspace_id=record.workspace_id,
        input_id=record.input_id,
        environment=record.environment,
        mpid=batch.mpid or 0,
        received_ms=record.received_ms,
        historical=record.historical,
        source_request_id=batch.source_request_id,
        device_ids=device_ids_of(batch),
        events=events,
        payload=_encoder.encode(as_json),
    )


def processed(obj: dict[str, Any]) -> Batch:
    result = run_chain(
        [normalize, assign_mpid], decode_batch(json.dumps(obj).encode()), StageContext(RECORD, 0)
    )
    assert not isinstance(result, Drop)
    return result


@pytest.mark.parametrize("name", all_fixture_names())
def test_fixtures_store_the_general_encoding(name: str) -> None:
    batch = processed(load_fixture(name))
    assert to_processed(batch, RECORD) == reference(batch, RECORD)


def test_unknown_fields_at_every_level_are_kept_in_place() -> None:
    obj = copy.deepcopy(load_fixture("custom_event"))
    obj["zz_batch"] = 1
    obj.setdefault("device_info", {})["zz_device"] = [1, 2]
    for event in obj["events"]:
        event["data"]["zz_data"] = {"a": None}
    batch = processed(obj)
    got = to_processed(batch, RECORD)
    assert got == reference(batch, RECORD)
    assert json.loads(got.payload)["zz_batch"] == 1 and EXTRA_KEY.encode() not in got.payload
    assert all(json.loads(e.payload)["data"]["zz_data"] == {"a": None} for e in got.events)


def test_a_value_spelled_like_the_extras_key_is_stored_as_is() -> None:
    obj = copy.deepcopy(load_fixture("custom_event"))
    obj["events"][0]["data"]["event_name"] = EXTRA_KEY
    batch = processed(obj)
    assert to_processed(batch, RECORD) == reference(batch, RECORD)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_strategies.batches)
def test_random_batches_store_the_general_encoding(batch: Batch) -> None:
    assert to_processed(batch, RECORD) == reference(batch, RECORD)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(all_fixture_names()), st.data())
def test_fixtures_with_random_unknown_fields(name: str, data: st.DataObject) -> None:
    obj = copy.deepcopy(load_fixture(name))
    _strategies.inject(obj, _strategies.BATCH_INFO, data.draw)
    batch = decode_batch(msgspec.json.encode(obj))
    assert to_processed(batch, RECORD) == reference(batch, RECORD)
