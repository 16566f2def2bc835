"""The identity vocabulary (model.identity_names): every spelling maps to one name in each API."""

from __future__ import annotations

import pytest

from fermion.identity.types import canonical_type
from fermion.model.batch import UserIdentities
from fermion.model.enums import IDENTITY_TYPES
from fermion.model.identity_names import (
    DEVICE_TYPES,
    PROFILE_DEVICE_NAMES,
    PROFILE_USER_ORDER,
    USER_SET,
    USER_TYPES,
    batch_user_type,
    device_identity_name,
    lookup_type,
    user_identity_name,
)


def test_the_wire_schemas_list_the_same_user_types() -> None:
    fields = frozenset(UserIdentities.__struct_fields__) - {"extra", "customerid"}
    assert fields == USER_SET
    assert IDENTITY_TYPES - {"customerid"} == USER_SET
    assert sorted(PROFILE_USER_ORDER) == sorted(USER_TYPES)
    assert set(PROFILE_DEVICE_NAMES) == set(DEVICE_TYPES)


@pytest.mark.parametrize(
    ("spelling", "events_api"),
    [
        ("customerid", "customer_id"),
        ("customer_id", "customer_id"),
        ("other5", "other_id_5"),
        ("ios_idfa", None),
    ],
)
def test_user_names(spelling: str, events_api: str | None) -> None:
    assert user_identity_name(spelling) == events_api


@pytest.mark.parametrize(
    ("spelling", "idsync", "profile_api"),
    [
        ("ios_idfv", "ios_idfv", "ios_vendor_id"),
        ("ios_vendor_id", "ios_idfv", "ios_vendor_id"),
        ("android_advertising_id", "android_aaid", "google_advertising_id"),
        ("google_advertising_id", "android_aaid", "google_advertising_id"),
        ("mp_deviceid", "device_application_stamp", "unknown"),
        ("das", "device_application_stamp", "unknown"),
    ],
)
def test_device_names(spelling: str, idsync: str, profile_api: str) -> None:
    assert lookup_type(spelling) == idsync
    assert device_identity_name(spelling) == profile_api


def test_identity_resolution_and_batches_agree() -> None:
    assert canonical_type("CustomerID") == "customer_id"
    assert canonical_type("mobile_sha256") == "other_id_2"
    assert canonical_type("ios_advertising_id") == "ios_idfa"
    assert batch_user_type("customerid") == "customer_id"
    assert batch_user_type("other2") == "other2"  # a batch key is kept as sent
    assert lookup_type("nonsense") is None
