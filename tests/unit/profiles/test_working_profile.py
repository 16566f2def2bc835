"""WorkingProfile (the group fast path) against apply_batch (the rules), batch after batch.

Random sequences of batches over small pools of names, values, identifiers and times, so that
attributes are rewritten, deleted and redelivered, devices are renamed by known identifiers, versions
tie and clocks run ahead. The final profile (dict order included), the change events of every batch
and the write must equal what applying the batches one by one with `apply_batch` gives.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from fermion.model.batch import Batch
from fermion.model.codec import decode_batch_obj
from fermion.model.events import Event
from fermion.profiles.merge import BatchFacts, apply_batch, empty_profile, event_times
from fermion.profiles.state import Header, Profile, ProfileWrite, Touched, write_of
from fermion.profiles.working import WorkingProfile
from support.profile_batches import ordered, random_body

WS, MPID = 3, 77


def random_batches(rng: random.Random, n: int) -> list[tuple[Batch, BatchFacts]]:
    out: list[tuple[Batch, BatchFacts]] = []
    bodies: list[dict[str, Any]] = []
    for _ in range(n):
        if out and rng.random() < 0.15:
            out.append(rng.choice(out))  # a redelivery
            continue
        body = random_body(rng)
        if bodies and rng.random() < 0.4:  # the same device again
            body = {**body, **{k: v for k, v in bodies[-1].items() if k in ("device_info", "mp_deviceid")}}
        bodies.append(body)
        batch = decode_batch_obj(body)
        received = rng.choice([2_000, 10_000, 10_000, 15_000])
        times = (
            None if rng.random() < 0.3 else tuple(rng.choice([1_000, 5_000, received]) for _ in batch.events)
        )
        out.append((batch, BatchFacts(rng.randint(1, 8), rng.choice([1, 2]), received, times)))
    return out


def slow(
    base: Profile, batches: list[tuple[Batch, BatchFacts]]
) -> tuple[Profile, list[list[Event]], ProfileWrite]:
    profile, touched, events = base, Touched(), []
    for batch, facts in batches:
        applied = apply_batch(profile, batch, facts)
        profile = applied.profile
        touched.update(applied.touched)
        events.append(applied.events)
    return profile, events, write_of(profile, touched)


def fast(
    base: Profile, batches: list[tuple[Batch, BatchFacts]]
) -> tuple[Profile, list[list[Event]], ProfileWrite]:
    working = WorkingProfile(base)
    events = [
        working.apply(batch, facts.batch_id, facts.input_id, facts.received_ms, event_times(batch, facts))
        for batch, facts in batches
    ]
    profile, write = working.profile_and_write()
    return profile, events, write


@pytest.mark.parametrize("seed", range(300))
def test_equals_apply_batch_one_by_one(seed: int) -> None:
    rng = random.Random(seed)
    base = empty_profile(WS, MPID)
    if rng.random() < 0.7:  # a stored profile, as loaded
        base = slow(base, random_batches(rng, rng.randint(1, 6)))[0]
    batches = random_batches(rng, rng.randint(1, 8))
    want_profile, want_events, want_write = slow(base, batches)
    got_profile, got_events, got_write = fast(base, batches)
    assert ordered(got_profile) == ordered(want_profile)
    assert got_events == want_events
    assert got_write == want_write
    assert list(got_write.attributes.items()) == list(want_write.attributes.items())


def test_unchanged_parts_are_not_written() -> None:
    data = {"event_name": "e", "custom_event_type": "other", "timestamp_unixtime_ms": 1_000}
    body = {
        "events": [{"event_type": "custom_event", "data": data}],
        "device_info": {"ios_idfv": "v", "platform": "iOS"},
    }
    batch = decode_batch_obj(body)
    base = slow(empty_profile(WS, MPID), [(batch, BatchFacts(1, 1, 5_000))])[0]
    working = WorkingProfile(base)
    working.apply(batch, 1, 1, 5_000, (1_000,))  # a redelivery
    profile, write = working.profile_and_write()
    assert profile == base
    assert write == ProfileWrite(WS, MPID)
    working.apply(batch, 2, 1, 6_000, (1_000,))  # the same times, a newer platform version
    profile, write = working.profile_and_write()
    assert write.header == profile.header == Header(1_000, 1_000, 6_000)  # stored later
    assert not write.inputs and not write.device_ids and not write.attributes
    assert [d.platform_version for d in write.devices] == [(1_000, 2)]
