"""Lanes: a batch's lane follows its most stable sender identity."""

from __future__ import annotations

import json
import zlib

from fermion.identity.lanes import lane_key, lane_of
from fermion.model.codec import decode_batch


def batch(**fields: object) -> object:
    return decode_batch(json.dumps({"environment": "production", **fields}).encode())


def test_the_device_stamp_wins_over_everything_else() -> None:
    first = batch(mp_deviceid="das-1")
    later = batch(mp_deviceid="das-1", mpid=42, user_identities={"customerid": "c-1"})
    assert lane_key(first) == lane_key(later) == "das:das-1"  # type: ignore[arg-type]
    assert lane_of(first) == lane_of(later) == zlib.crc32(b"das:das-1")  # type: ignore[arg-type]


def test_device_identities_then_mpid_then_user_identities() -> None:
    device = batch(device_info={"ios_idfv": "v-1"}, mpid=42, user_identities={"email": "a@b.c"})
    assert lane_key(device) == "ios_idfv:v-1"  # type: ignore[arg-type]
    assert lane_key(batch(mpid=42, user_identities={"email": "a@b.c"})) == "mpid:42"  # type: ignore[arg-type]
    assert lane_key(batch(user_identities={"customerid": "c-1"})) == "customer_id:c-1"  # type: ignore[arg-type]


def test_a_batch_naming_nobody_takes_lane_zero() -> None:
    assert lane_key(batch()) == "" and lane_of(batch()) == 0  # type: ignore[arg-type]
