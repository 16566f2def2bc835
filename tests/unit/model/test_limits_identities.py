"""Identity and id lengths through the ingest decoder (model.limits): user identity values, device
identifiers (device_info and mp_deviceid) and source_request_id at and over their limits; the worker's
decoder still reads longer stored values."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fermion.identity.types import MAX_VALUE_LENGTH
from fermion.model.codec import BatchError, FieldError, decode_batch, decode_batch_checked
from fermion.model.identity_names import DEVICE_TYPES, USER_TYPES
from fermion.model.limits import (
    MAX_DEVICE_ID_CHARS,
    MAX_IDENTITY_CHARS,
    MAX_REQUEST_ID_CHARS,
    identity_limit,
)


def problem(body: Any) -> FieldError:
    with pytest.raises(BatchError) as caught:
        decode_batch_checked(json.dumps(body).encode())
    assert len(caught.value.errors) == 1
    return caught.value.errors[0]


def test_limits_match_what_the_stores_keep() -> None:
    assert MAX_IDENTITY_CHARS == MAX_VALUE_LENGTH  # what identity resolution takes
    assert (MAX_IDENTITY_CHARS, MAX_DEVICE_ID_CHARS, MAX_REQUEST_ID_CHARS) == (512, 256, 200)
    assert {identity_limit(t) for t in USER_TYPES} == {512}
    assert {identity_limit(t) for t in DEVICE_TYPES} == {256}
    assert identity_limit("my_custom_type") == 512


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_identities": {"email": "e" * 513}}, "user_identities.email"),
        ({"user_identities": {"customerid": "c" * 513}}, "user_identities.customerid"),
        ({"user_identities": {"other_id_10": "o" * 3000}}, "user_identities.other_id_10"),
        ({"mp_deviceid": "d" * 257}, "mp_deviceid"),
        ({"device_info": {"ios_advertising_id": "i" * 257}}, "device_info.ios_advertising_id"),
        ({"device_info": {"push_token": "p" * 257}}, "device_info.push_token"),
        ({"device_info": {"android_uuid": "u" * 257}}, "device_info.android_uuid"),
        ({"source_request_id": "r" * 201}, "source_request_id"),
    ],
)
def test_identities_and_ids_over_their_limit_are_refused(body: dict[str, Any], field: str) -> None:
    found = problem(body)
    assert found.field == field
    assert "at most" in found.message


def test_identities_and_ids_at_their_limit_pass() -> None:
    body = {
        "source_request_id": "r" * 200,
        "mp_deviceid": "d" * 256,
        "user_identities": {name: "v" * 512 for name in ("email", "customerid", "customer_id", "other")},
        "device_info": {"ios_advertising_id": "i" * 256, "push_token": "p" * 256, "brand": "b" * 1000},
    }
    batch, _ = decode_batch_checked(json.dumps(body).encode())
    assert batch.user_identities is not None and batch.user_identities.email == "v" * 512


def test_unknown_identity_keys_and_other_device_fields_are_not_identities() -> None:
    body = {
        "user_identities": {"not_a_type": "x" * 600},
        "device_info": {"http_header_user_agent": "a" * 600},
    }
    decode_batch_checked(json.dumps(body).encode())


def test_the_worker_decoder_reads_longer_stored_identities() -> None:
    raw = json.dumps({"user_identities": {"email": "e" * 600}, "source_request_id": "r" * 300}).encode()
    assert problem(json.loads(raw)).field == "source_request_id"
    batch = decode_batch(raw)  # batches stored before the limit still replay
    assert batch.user_identities is not None and batch.user_identities.email == "e" * 600
