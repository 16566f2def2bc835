"""ProfileStore contract: round trips, idempotent and commutative saves, lookups (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest
from sqlalchemy import Engine

from fermion.adapters.sql.profile_store import SqlProfileStore
from fermion.model.codec import decode_batch_obj
from fermion.profiles.merge import BatchFacts, apply_batch, empty_profile
from fermion.profiles.state import Header, Profile, ProfileWrite, write_of

WS = 7
MPID = 1234567890123


@pytest.fixture
def store(sql_engine: Engine) -> SqlProfileStore:
    return SqlProfileStore(sql_engine)


def write(
    body: dict[str, Any],
    batch_id: int,
    received_ms: int,
    mpid: int = MPID,
    input_id: int = 1,
    base: Profile | None = None,
) -> ProfileWrite:
    """The write one batch produces when applied to `base` (an empty profile by default)."""
    profile = base or empty_profile(WS, mpid)
    applied = apply_batch(profile, decode_batch_obj(body), BatchFacts(batch_id, input_id, received_ms))
    return write_of(applied.profile, applied.touched)


def event(ts: int, **data: Any) -> dict[str, Any]:
    return {"event_type": "custom_event", "data": {"event_name": "e", "custom_event_type": "other",
                                                   "timestamp_unixtime_ms": ts, **data}}  # fmt: skip


FULL = {
    "events": [
        event(1_000),
        {"event_type": "opt_out", "data": {"is_opted_out": True, "timestamp_unixtime_ms": 1_500}},
    ],
    "user_attributes": {"$age": 30, "tags": ["a", "b"], "vip": None, "score": 1.5, "ok": True, "name": "Ann"},
    "deleted_user_attributes": ["gone"],
    "consent_state": {
        "gdpr": {"marketing": {"consented": True, "document": "v1", "timestamp_unixtime_ms": 900,
                               "location": "web", "hardware_id": "hw"}},
        "ccpa": {"data_sale_opt_out": {"consented": False, "timestamp_unixtime_ms": 800}},
    },
    "device_info": {"platform": "iOS", "ios_idfv": "idfv-1", "ios_advertising_id": "idfa-1",
                    "limit_ad_tracking": False, "push_token": "pt"},
    "mp_deviceid": "das-1",
}  # fmt: skip


def test_round_trip(store: SqlProfileStore) -> None:
    w = write(FULL, batch_id=10, received_ms=2_000)
    store.save([w])
    got = store.get(WS, MPID)
    assert got is not None
    expected = apply_batch(empty_profile(WS, MPID), decode_batch_obj(FULL), BatchFacts(10, 1, 2_000)).profile
    assert got == expected
    assert got.live_attributes() == {"$age": 30, "tags": ["a", "b"], "vip": None, "score": 1.5, "ok": True,
                                     "name": "Ann"}  # fmt: skip
    assert got.attributes["gone"].deleted
    assert got.header is not None and got.header.opted_out is True
    assert got.header.first_seen_ms == 1_000 and got.header.last_seen_ms == 1_500
    assert {k for k in got.consent} == {("gdpr", "marketing"), ("ccpa", "data_sale_opt_out")}
    assert set(got.devices) == {"ios_idfv:idfv-1"}
    assert {(d.id_type, d.value) for d in got.device_ids.values()} == {
        ("ios_idfv", "idfv-1"),
        ("ios_advertising_id", "idfa-1"),
        ("push_token", "pt"),
        ("mp_deviceid", "das-1"),
    }
    assert got.inputs[1].first_seen_ms == 1_000


def test_missing_profiles_are_left_out(store: SqlProfileStore) -> None:
    store.save([write({"user_attributes": {"a": 1}}, 1, 1_000)])
    assert store.load(WS, [MPID, 42]).keys() == {MPID}
    assert store.load(WS + 1, [MPID]) == {}
    assert store.load(WS, []) == {}
    assert store.get(WS, 42) is None


def test_saving_twice_changes_nothing(store: SqlProfileStore) -> None:
    w = write(FULL, batch_id=10, received_ms=2_000)
    store.save([w])
    first = store.get(WS, MPID)
    store.save([w, w])
    assert store.get(WS, MPID) == first


BATCHES = [
    # (body, batch_id, received_ms): written at their newest event time, or receive time.
    ({"events": [event(3_000)], "user_attributes": {"plan": "gold", "x": 1},
      "consent_state": {"gdpr": {"m": {"consented": False, "timestamp_unixtime_ms": 3_000}}},
      "device_info": {"ios_idfv": "d1", "platform": "iOS", "limit_ad_tracking": True}}, 30, 9_000),
    ({"events": [event(1_000)], "user_attributes": {"plan": "free", "y": 2},
      "consent_state": {"gdpr": {"m": {"consented": True, "timestamp_unixtime_ms": 1_000}}},
      "device_info": {"ios_idfv": "d1", "platform": "tvOS"}}, 10, 9_500),
    ({"events": [event(2_000), {"event_type": "opt_out", "data": {"is_opted_out": True,
                                                                  "timestamp_unixtime_ms": 2_000}}],
      "deleted_user_attributes": ["x", "y"], "device_info": {"ios_idfv": "d1", "limit_ad_tracking": False}},
     20, 9_200),
    ({"user_attributes": {"late": "yes"}, "mp_deviceid": "das"}, 40, 8_000),
]  # fmt: skip


def test_out_of_order_saves_converge(sql_engine: Engine) -> None:
    results = []
    for n, order in enumerate(itertools.permutations(range(len(BATCHES)))):
        if n % 5:  # a spread of the 24 orders keeps the test quick on PostgreSQL
            continue
        store = SqlProfileStore(sql_engine)
        mpid = MPID + n
        for i in order:
            body, batch_id, received = BATCHES[i]
            store.save([write(body, batch_id, received, mpid=mpid)])
        got = store.get(WS, mpid)
        assert got is not None
        results.append((order, got))
    _, reference = results[0]
    for order, got in results[1:]:
        assert got.live_attributes() == reference.live_attributes(), order
        assert got.consent == reference.consent, order
        assert got.devices == reference.devices, order
        assert got.header == reference.header, order
    # x was set at 3_000, after its delete at 2_000; y was set at 1_000, before it.
    assert reference.live_attributes() == {"plan": "gold", "x": 1, "late": "yes"}
    assert reference.consent[("gdpr", "m")].consented is False
    device = reference.devices["ios_idfv:d1"]
    assert device.platform == "iOS" and device.limit_ad_tracking is True
    assert reference.header is not None and reference.header.opted_out is True
    assert (reference.header.first_seen_ms, reference.header.last_seen_ms) == (1_000, 8_000)
    assert reference.header.last_stored_ms == 9_500


def test_a_newer_tombstone_beats_an_older_set_arriving_later(store: SqlProfileStore) -> None:
    store.save([write({"events": [event(5_000)], "deleted_user_attributes": ["a"]}, 2, 6_000)])
    store.save([write({"events": [event(4_000)], "user_attributes": {"a": "old"}}, 1, 6_500)])
    got = store.get(WS, MPID)
    assert got is not None and got.live_attributes() == {}
    store.save([write({"events": [event(5_001)], "user_attributes": {"a": "new"}}, 3, 7_000)])
    got = store.get(WS, MPID)
    assert got is not None and got.live_attributes() == {"a": "new"}


def test_equal_times_are_decided_by_batch_id(store: SqlProfileStore) -> None:
    store.save([write({"user_attributes": {"a": "from 9"}}, 9, 1_000)])
    store.save([write({"user_attributes": {"a": "from 8"}}, 8, 1_000)])
    got = store.get(WS, MPID)
    assert got is not None and got.live_attributes() == {"a": "from 9"}


def test_many_profiles_in_one_save(store: SqlProfileStore) -> None:
    writes = [write({"user_attributes": {"n": n}}, n + 1, 1_000, mpid=n) for n in range(1, 1_201)]
    store.save(writes)
    loaded = store.load(WS, list(range(1, 1_201)))
    assert len(loaded) == 1_200
    assert loaded[700].live_attributes() == {"n": 700}


def test_find_by_device_id_and_seen_across(store: SqlProfileStore) -> None:
    store.save([write({"events": [event(1_000)], "device_info": {"android_uuid": "aid"}}, 1, 2_000)])
    other = write({"events": [event(5_000)]}, 2, 6_000)
    store.save([ProfileWrite(workspace_id=WS + 1, mpid=MPID, header=other.header)])
    store.save([write({"mp_deviceid": "aid"}, 3, 3_000, mpid=99)])
    assert store.find_by_device_id(WS, "aid") == sorted([MPID, 99])
    assert store.find_by_device_id(WS, "nope") == []
    assert store.find_by_device_id(WS + 1, "aid") == []
    assert store.seen_across(MPID, [WS, WS + 1]) == (1_000, 5_000)
    assert store.seen_across(MPID, [WS]) == (1_000, 1_000)
    assert store.seen_across(MPID, []) is None
    assert store.seen_across(424242, [WS]) is None


def test_concurrent_writers_converge(store: SqlProfileStore) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def run(k: int) -> None:
        try:
            barrier.wait()
            for n in range(10):
                batch_id = k * 100 + n
                body = {"events": [event(batch_id)], "user_attributes": {"a": batch_id, f"k{k}": n}}
                store.save([write(body, batch_id, 10_000, mpid=mpid) for mpid in (1, 2, 3)])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    for mpid in (1, 2, 3):
        got = store.get(WS, mpid)
        assert got is not None
        assert got.live_attributes() == {"a": 309, "k0": 9, "k1": 9, "k2": 9, "k3": 9}


def test_a_seen_times_only_write_keeps_the_rest(store: SqlProfileStore) -> None:
    store.save([write(FULL, batch_id=10, received_ms=2_000)])
    store.save([ProfileWrite(workspace_id=WS, mpid=MPID, header=Header(500, 500, 500))])  # an alias's copy
    got = store.get(WS, MPID)
    assert got is not None and got.header is not None
    assert (got.header.first_seen_ms, got.header.last_seen_ms, got.header.last_stored_ms) == (
        500,
        1_500,
        2_000,
    )
    assert got.header.opted_out is True and got.live_attributes()["name"] == "Ann"
