"""Random batch bodies for the profile merge tests: small pools of attribute names and values,
device identifiers, consent purposes and times, so that writes collide, tie and repeat."""

from __future__ import annotations

import random
from typing import Any

from fermion.profiles.state import Profile

NAMES = ["a", "b", "c", "", "x" * 257]
VALUES: list[Any] = [1, True, 1.0, "1", "s", None, ["l", 2], {"k": [1]}, [], 0, False]
ID_FIELDS = ["ios_idfv", "android_uuid", "ios_advertising_id", "push_token", "amp_id"]
ID_VALUES = ["v1", "v2", "v3", "", "00000000-0000-0000-0000-000000000000"]


def random_body(rng: random.Random) -> dict[str, Any]:
    body: dict[str, Any] = {}
    events = []
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        ts = rng.choice([None, 1_000, 2_000, 3_000, 9_000, 20_000])
        kind = rng.choice(["custom_event", "custom_event", "opt_out", "user_attribute_change"])
        data: dict[str, Any] = {}
        if ts is not None:
            data["timestamp_unixtime_ms"] = ts
        if kind == "custom_event":
            data.update(event_name="e", custom_event_type="other")
        elif kind == "opt_out":
            data["is_opted_out"] = rng.choice([True, False, None])
        else:
            data["user_attribute_name"] = rng.choice(NAMES)
        events.append({"event_type": kind, "data": data})
    body["events"] = events
    if rng.random() < 0.5:
        body["user_attributes"] = {rng.choice(NAMES): rng.choice(VALUES) for _ in range(rng.randint(0, 3))}
    if rng.random() < 0.25:
        body["deleted_user_attributes"] = rng.sample(NAMES, rng.randint(0, 2))
    if rng.random() < 0.25:
        body["consent_state"] = {
            reg: {
                rng.choice(["ads", "mail", ""]): {
                    "consented": rng.choice([True, False, None]),
                    **({"timestamp_unixtime_ms": rng.choice([500, 5_000])} if rng.random() < 0.5 else {}),
                    **({"document": "d"} if rng.random() < 0.5 else {}),
                }
            }
            for reg in rng.sample(["gdpr", "ccpa"], rng.randint(0, 2))
        }
    if rng.random() < 0.8:
        info: dict[str, Any] = {f: rng.choice(ID_VALUES) for f in rng.sample(ID_FIELDS, rng.randint(0, 3))}
        if rng.random() < 0.6:
            info["platform"] = rng.choice(["iOS", "Android"])
        if rng.random() < 0.3:
            info["limit_ad_tracking"] = rng.choice([True, False])
        body["device_info"] = info
    if rng.random() < 0.3:
        body["mp_deviceid"] = rng.choice(["das-1", "das-2", ""])
    return body


def ordered(profile: Profile) -> list[Any]:
    """The profile and its parts as lists: equal only with the same dict orders too."""
    parts = (profile.attributes, profile.consent, profile.devices, profile.device_ids, profile.inputs)
    return [profile, *(list(p.items()) for p in parts)]
