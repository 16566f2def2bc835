"""Profile renderings (Profile API body, User Activity sections) and identity type names."""

from __future__ import annotations

from fermion.model.codec import decode_batch_obj
from fermion.model.identity_names import lookup_type, user_identity_name
from fermion.profiles.merge import BatchFacts, apply_batch, empty_profile
from fermion.profiles.views import (
    PROFILE_FIELDS,
    attribute_order,
    attributes_json,
    devices_json,
    preferred_device_id,
    profile_api_json,
    split_identities,
)

BODY = {
    "events": [{"event_type": "custom_event", "data": {"event_name": "e", "custom_event_type": "other",
                                                       "timestamp_unixtime_ms": 1_000}}],
    "user_attributes": {"zeta": 1.5, "$City": "Paris", "$age": 30, "alpha": True, "list": ["a"], "tag": None},
    "consent_state": {"gdpr": {"ads": {"consented": True, "timestamp_unixtime_ms": 900}}},
    "device_info": {"platform": "Android", "android_uuid": "aid", "android_advertising_id": "gaid",
                    "limit_ad_tracking": True},
    "mp_deviceid": "das",
}  # fmt: skip
PROFILE = apply_batch(empty_profile(1, -5), decode_batch_obj(BODY), BatchFacts(1, 2, 2_000)).profile
IDENTITIES = [
    ("customerid", "c1"),
    ("email", "e@x"),
    ("ios_idfa", "idfa"),
    ("device_application_stamp", "das2"),
]


def test_reserved_attributes_first_then_alphabetical() -> None:
    assert attribute_order(["b", "$zip", "A", "$Age", "$firstname", "$custom"]) == [
        "$Age",
        "$firstname",
        "$zip",
        "$custom",
        "A",
        "b",
    ]
    assert [a["name"] for a in attributes_json(PROFILE)] == ["$age", "$City", "alpha", "list", "tag", "zeta"]


def test_profile_api_body_with_every_field() -> None:
    body = profile_api_json(PROFILE, IDENTITIES, PROFILE_FIELDS)
    assert body["mpid"] == -5 and body["created_timestamp_ms"] == 1_000
    assert body["last_stored_timestamp_ms"] == 2_000
    assert body["is_opted_out"] is False and body["limit_ad_tracking"] is True
    assert body["user_attributes"] == {
        "$age": "30",
        "$City": "Paris",
        "alpha": "true",
        "list": ["a"],
        "tag": None,
        "zeta": "1.5",
    }
    assert body["user_identities"] == [
        {"type": "customer_id", "encoding": "none", "value": "c1"},
        {"type": "email", "encoding": "none", "value": "e@x"},
    ]
    types = {(d["type"], d["value"]) for d in body["device_identities"]}
    assert types == {
        ("android_id", "aid"),
        ("google_advertising_id", "gaid"),
        ("unknown", "das"),
        ("ios_advertising_id", "idfa"),
        ("unknown", "das2"),
    }
    assert body["audience_memberships"] == [] and body["calculated_attributes"] == {}
    assert body["consent_state"]["gdpr"]["ads"]["consented"] is True
    assert body["account_userattributes"] is None


def test_profile_api_body_has_only_requested_fields() -> None:
    body = profile_api_json(PROFILE, IDENTITIES, frozenset({"user_identities"}))
    assert "user_attributes" not in body and "device_identities" not in body and "user_identities" in body


def test_activity_sections() -> None:
    assert preferred_device_id(PROFILE) == {"type": "google_advertising_id", "value": "gaid"}
    (device,) = devices_json(PROFILE)
    assert device["platform"] == "Android" and device["limit_ad_tracking"] is True
    assert {i["type"] for i in device["identities"]} == {"android_id", "google_advertising_id", "unknown"}


def test_identity_type_names() -> None:
    assert user_identity_name("customerid") == "customer_id" and user_identity_name("other3") == "other_id_3"
    assert user_identity_name("ios_idfa") is None
    assert lookup_type("customerid") == "customer_id"
    assert (
        lookup_type("ios_advertising_id") == "ios_idfa"
        and lookup_type("mp_deviceid") == "device_application_stamp"
    )
    assert lookup_type("nonsense") is None
    users, devices = split_identities([("other2", "o"), ("android_aaid", "g"), ("weird", "w")])
    assert users == [("other_id_2", "o")] and devices == [("google_advertising_id", "g"), ("unknown", "w")]
