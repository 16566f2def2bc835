"""The profile merge rules: last-write-wins by batch time, tombstones, consent, devices, change events."""

from __future__ import annotations

import itertools
from typing import Any

from fermion.model.codec import decode_batch_obj
from fermion.model.events import UserAttributeChangeEvent
from fermion.model.ids import derived_id
from fermion.profiles.merge import (
    Applied,
    BatchFacts,
    apply_batch,
    device_identifiers,
    empty_profile,
    normalize_value,
    write_time,
)
from fermion.profiles.state import Profile, Touched, write_of

WS, MPID = 3, 77


def ev(ts: int, event_type: str = "custom_event", **data: Any) -> dict[str, Any]:
    if event_type == "custom_event":
        data = {"event_name": "e", "custom_event_type": "other", **data}
    return {"event_type": event_type, "data": {"timestamp_unixtime_ms": ts, **data}}


def apply(
    profile: Profile, body: dict[str, Any], batch_id: int = 1, received: int = 10_000, input_id: int = 5
) -> Applied:
    return apply_batch(profile, decode_batch_obj(body), BatchFacts(batch_id, input_id, received))


def changes(applied: Applied) -> list[dict[str, Any]]:
    out = []
    for e in applied.events:
        assert isinstance(e, UserAttributeChangeEvent)
        d = e.data
        out.append({"name": d.user_attribute_name, "new": d.new, "old": d.old, "deleted": d.deleted,
                    "is_new": d.is_new_attribute})  # fmt: skip
    return out


EMPTY = empty_profile(WS, MPID)


def test_write_time_is_the_newest_event_capped_at_receipt() -> None:
    assert write_time([5, 9, 7], 100) == 9
    assert write_time([500], 100) == 100  # client clock ahead
    assert write_time([], 100) == 100


def test_the_client_event_times_decide_when_given() -> None:
    # Events Fermion added while processing (here one at the receive time) do not move the write time.
    body = {"events": [ev(1_000), ev(10_000, "user_identity_change")], "user_attributes": {"a": 1}}
    applied = apply_batch(EMPTY, decode_batch_obj(body), BatchFacts(1, 5, 10_000, event_times=(1_000,)))
    assert applied.profile.attributes["a"].ts_ms == 1_000
    assert apply(EMPTY, body).profile.attributes["a"].ts_ms == 10_000


def test_new_changed_unchanged_and_deleted_attributes() -> None:
    first = apply(EMPTY, {"events": [ev(1_000)], "user_attributes": {"a": "x", "b": 1}}, batch_id=1)
    assert changes(first) == [
        {"name": "a", "new": "x", "old": None, "deleted": False, "is_new": True},
        {"name": "b", "new": 1, "old": None, "deleted": False, "is_new": True},
    ]
    second = apply(
        first.profile,
        {"events": [ev(2_000)], "user_attributes": {"a": "y", "b": 1}, "deleted_user_attributes": ["c"]},
        batch_id=2,
    )
    assert changes(second) == [{"name": "a", "new": "y", "old": "x", "deleted": False, "is_new": False}]
    assert second.profile.attributes["b"].ts_ms == 2_000  # same value, newer version
    assert second.profile.attributes["c"].deleted  # a tombstone even for an unknown attribute
    third = apply(second.profile, {"events": [ev(3_000)], "deleted_user_attributes": ["a"]}, batch_id=3)
    assert changes(third) == [{"name": "a", "new": None, "old": "y", "deleted": True, "is_new": False}]
    assert third.profile.live_attributes() == {"b": 1}
    again = apply(third.profile, {"events": [ev(4_000)], "user_attributes": {"a": "z"}}, batch_id=4)
    assert changes(again) == [{"name": "a", "new": "z", "old": None, "deleted": False, "is_new": True}]


def test_change_events_are_stamped_and_idempotent_ids() -> None:
    applied = apply(EMPTY, {"events": [ev(1_000)], "user_attributes": {"a": 1}}, batch_id=9)
    (event,) = applied.events
    assert event.data.timestamp_unixtime_ms == 1_000
    assert event.data.event_id == derived_id("user_attribute_change", 9, "a")


def test_an_older_batch_changes_nothing_it_lost() -> None:
    newer = apply(EMPTY, {"events": [ev(2_000)], "user_attributes": {"a": "new"}}, batch_id=2)
    older = apply(
        newer.profile, {"events": [ev(1_000)], "user_attributes": {"a": "old", "b": "only"}}, batch_id=1
    )
    assert older.profile.live_attributes() == {"a": "new", "b": "only"}
    assert [c["name"] for c in changes(older)] == ["b"]
    assert older.touched.attributes == {"b"}


def test_delete_wins_over_a_set_in_the_same_batch() -> None:
    applied = apply(EMPTY, {"user_attributes": {"a": 1}, "deleted_user_attributes": ["a"]})
    assert applied.profile.live_attributes() == {}
    assert applied.events == []


def test_equal_times_are_decided_by_batch_id_in_any_order() -> None:
    a = {"user_attributes": {"k": "from 1"}}
    b = {"user_attributes": {"k": "from 2"}}
    one = apply(apply(EMPTY, a, batch_id=1).profile, b, batch_id=2).profile
    two = apply(apply(EMPTY, b, batch_id=2).profile, a, batch_id=1).profile
    assert one.live_attributes() == two.live_attributes() == {"k": "from 2"}


BATCHES = [
    ({"events": [ev(3_000)], "user_attributes": {"plan": "gold", "x": 1}}, 3),
    ({"events": [ev(1_000)], "user_attributes": {"plan": "free", "y": 2, "z": [1, "a"]}}, 1),
    ({"events": [ev(2_000)], "deleted_user_attributes": ["x", "y"], "user_attributes": {"w": None}}, 2),
    ({"events": [ev(2_000)], "user_attributes": {"plan": "silver"}}, 4),
]


def test_any_order_gives_the_same_profile() -> None:
    results = set()
    for order in itertools.permutations(BATCHES):
        profile = EMPTY
        for body, batch_id in order:
            profile = apply(profile, body, batch_id=batch_id).profile
        results.add(repr(sorted(profile.live_attributes().items())))
        assert profile.header is not None and profile.header.first_seen_ms == 1_000
    assert len(results) == 1
    assert results.pop() == repr(sorted({"plan": "gold", "x": 1, "z": ["1", "a"], "w": None}.items()))


def test_redelivery_reports_the_same_changes_and_changes_nothing() -> None:
    base = apply(EMPTY, {"events": [ev(1_000)], "user_attributes": {"a": "x", "gone": 1}}, batch_id=1).profile
    body = {"events": [ev(2_000)], "user_attributes": {"a": "y", "b": 2}, "deleted_user_attributes": ["gone"]}
    first = apply(base, body, batch_id=2)
    again = apply(first.profile, body, batch_id=2)
    assert changes(again) == changes(first)
    assert [e.data.event_id for e in again.events] == [e.data.event_id for e in first.events]
    assert again.profile.attributes == first.profile.attributes


def test_change_events_the_batch_already_carries_are_not_repeated() -> None:
    body = {
        "events": [{"event_type": "user_attribute_change", "data": {"user_attribute_name": "a", "new": "x"}}],
        "user_attributes": {"a": "x", "b": "y"},
    }
    assert [c["name"] for c in changes(apply(EMPTY, body))] == ["b"]


def test_values_and_names() -> None:
    assert normalize_value(["a", 1, True, 1.5]) == ["a", "1", "true", "1.5"]
    assert normalize_value({"k": [1]}) == '{"k":[1]}'
    assert normalize_value(None) is None and normalize_value(2) == 2
    applied = apply(EMPTY, {"user_attributes": {"n" * 257: 1, "": 2, "$Age": 30, "tag": None}})
    assert applied.profile.live_attributes() == {"$Age": 30, "tag": None}


def test_bool_and_number_are_different_values() -> None:
    first = apply(EMPTY, {"user_attributes": {"a": 1}}, batch_id=1, received=1)
    second = apply(first.profile, {"user_attributes": {"a": True}}, batch_id=2, received=2)
    assert changes(second) == [{"name": "a", "new": True, "old": 1, "deleted": False, "is_new": False}]


def consent(consented: bool | None, ts: int | None = None, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"consented": consented, **kw}
    if ts is not None:
        out["timestamp_unixtime_ms"] = ts
    return out


def test_consent_keeps_the_latest_timestamp_per_purpose() -> None:
    first = apply(EMPTY, {"consent_state": {"gdpr": {"ads": consent(True, 5_000, document="v2"),
                                                     "mail": consent(True, 1_000)}}}, batch_id=1)  # fmt: skip
    second = apply(
        first.profile,
        {"consent_state": {"gdpr": {"ads": consent(False, 4_000), "mail": consent(False, 2_000)},
                           "ccpa": {"data_sale_opt_out": consent(True)}}},
        batch_id=2,
        received=9_000,
    )  # fmt: skip
    c = second.profile.consent
    assert c[("gdpr", "ads")].consented is True and c[("gdpr", "ads")].document == "v2"
    assert c[("gdpr", "mail")].consented is False
    assert c[("ccpa", "data_sale_opt_out")].ts_ms == 9_000  # no timestamp: the batch's time
    assert second.touched.consent == {("gdpr", "mail"), ("ccpa", "data_sale_opt_out")}
    skipped = apply(EMPTY, {"consent_state": {"gdpr": {"x": consent(None, 1)}}})
    assert skipped.profile.consent == {}


def test_devices_keep_the_newest_platform_and_lat_each() -> None:
    info = {"platform": "iOS", "ios_idfv": "V", "ios_advertising_id": "00000000-0000-0000-0000-000000000000"}
    first = apply(EMPTY, {"events": [ev(1_000)], "device_info": {**info, "limit_ad_tracking": True},
                          "mp_deviceid": "das"}, batch_id=1)  # fmt: skip
    assert set(first.profile.devices) == {"ios_idfv:V"}
    assert set(first.profile.device_ids) == {("ios_idfv", "V"), ("mp_deviceid", "das")}
    # The newest batch says nothing of LAT; the older one arriving last still beats LAT=True at 1_000,
    # but not the newest batch's platform.
    newer_info = {"ios_idfv": "V", "platform": "tvOS"}
    newer = apply(first.profile, {"events": [ev(3_000)], "device_info": newer_info}, batch_id=3)
    older_info = {"ios_idfv": "V", "limit_ad_tracking": False, "platform": "Android"}
    older = apply(newer.profile, {"events": [ev(2_000)], "device_info": older_info}, batch_id=2)
    device = older.profile.devices["ios_idfv:V"]
    assert (device.platform, device.limit_ad_tracking) == ("tvOS", False)
    assert (device.first_seen_ms, device.last_seen_ms) == (1_000, 3_000)


def test_device_identifiers_order_and_web_stamp_only() -> None:
    batch = decode_batch_obj({"device_info": {"push_token": "p", "android_advertising_id": "g",
                                              "android_uuid": "u"}, "mp_deviceid": "d"})  # fmt: skip
    assert device_identifiers(batch) == [
        ("android_uuid", "u"), ("android_advertising_id", "g"), ("push_token", "p"), ("mp_deviceid", "d"),
    ]  # fmt: skip
    web = apply(EMPTY, {"mp_deviceid": "das-1"})
    assert set(web.profile.devices) == {"mp_deviceid:das-1"}
    later = apply(web.profile, {"device_info": {"ios_idfv": "V"}, "mp_deviceid": "das-1"})
    assert set(later.profile.devices) == {"mp_deviceid:das-1"}  # known by its stamp
    assert later.profile.device_ids[("ios_idfv", "V")].device_key == "mp_deviceid:das-1"
    none = apply(EMPTY, {"device_info": {"push_token": "only"}})
    assert none.profile.devices == {} and none.touched.devices == set()


def test_opt_out_header_and_inputs() -> None:
    events = [ev(2_000, "opt_out", is_opted_out=True), ev(1_000, "opt_out", is_opted_out=False)]
    first = apply(EMPTY, {"events": events}, batch_id=1, input_id=5)
    assert first.profile.header is not None and first.profile.header.opted_out is True
    second = apply(
        first.profile, {"events": [ev(1_500, "opt_out", is_opted_out=False)]}, batch_id=2, input_id=6
    )
    header = second.profile.header
    assert header is not None and header.opted_out is True  # older than the opt-out at 2_000
    assert (header.first_seen_ms, header.last_seen_ms, header.last_stored_ms) == (1_000, 2_000, 10_000)
    assert {i: (s.first_seen_ms, s.last_seen_ms) for i, s in second.profile.inputs.items()} == {
        5: (1_000, 2_000),
        6: (1_500, 1_500),
    }


def test_write_of_holds_only_what_was_touched() -> None:
    applied = apply(EMPTY, {"user_attributes": {"a": 1}, "mp_deviceid": "d"})
    w = write_of(applied.profile, applied.touched)
    assert list(w.attributes) == ["a"] and w.header is not None
    assert [d.key for d in w.devices] == ["mp_deviceid:d"] and [i.input_id for i in w.inputs] == [5]
    nothing = write_of(applied.profile, Touched())
    assert nothing.header is None and not nothing.attributes and not nothing.devices
