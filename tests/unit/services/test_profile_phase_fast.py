"""The profile phase (WorkingProfile per user) against the batch-by-batch reference it replaced.

The reference is the phase as it was: `apply_batch` for every item in log order, the union of the
batches' `Touched`, `write_of` per user. Random groups over a few users and workspaces, with stored
profiles, redeliveries and client times missing or unreadable, must give the same writes, the same
change events on every batch and the same noted profiles.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from msgspec import structs

from fermion.model.codec import decode_batch
from fermion.model.records import InboundRecord
from fermion.profiles.merge import BatchFacts, apply_batch, empty_profile
from fermion.profiles.state import Profile, ProfileWrite, Touched, write_of
from fermion.services.processing import ProcessingReport, WorkItem
from fermion.services.profile_phase import NOTE, ProfilePhase, client_event_times
from support.profile_batches import ordered, random_body


class Store:
    def __init__(self, profiles: dict[tuple[int, int], Profile]) -> None:
        self.profiles = profiles
        self.saved: list[ProfileWrite] = []

    def load(self, workspace_id: int, mpids: Sequence[int]) -> dict[int, Profile]:
        return {m: self.profiles[(workspace_id, m)] for m in mpids if (workspace_id, m) in self.profiles}

    def save(self, writes: Sequence[ProfileWrite]) -> None:
        self.saved.extend(writes)

    def get(self, workspace_id: int, mpid: int) -> Profile | None:
        return self.profiles.get((workspace_id, mpid))

    def find_by_device_id(self, workspace_id: int, value: str) -> list[int]:
        raise NotImplementedError

    def seen_across(self, mpid: int, workspace_ids: Sequence[int]) -> tuple[int, int] | None:
        raise NotImplementedError


def reference(store: Store, items: list[WorkItem]) -> list[ProfileWrite]:
    """The phase as it was before WorkingProfile."""
    by_workspace: dict[int, list[WorkItem]] = {}
    for item in items:
        if item.batch.mpid is not None:
            by_workspace.setdefault(item.record.workspace_id, []).append(item)
    writes: list[ProfileWrite] = []
    for ws, group in by_workspace.items():
        loaded = store.load(ws, [i.batch.mpid for i in group if i.batch.mpid is not None])
        working: dict[int, Profile] = {}
        touched: dict[int, Touched] = {}
        for item in group:
            mpid = item.batch.mpid
            assert mpid is not None
            profile = working.get(mpid) or loaded.get(mpid) or empty_profile(ws, mpid)
            r = item.record
            applied = apply_batch(
                profile, item.batch, BatchFacts(r.batch_id, r.input_id, r.received_ms, client_event_times(r))
            )
            working[mpid] = applied.profile
            touched.setdefault(mpid, Touched()).update(applied.touched)
            if applied.events:
                item.batch = structs.replace(item.batch, events=[*item.batch.events, *applied.events])
        for item in group:
            item.notes[NOTE] = (0, working[item.batch.mpid])  # type: ignore[index]
        writes.extend(write_of(working[m], touched[m]) for m in sorted(working))
    return writes


def record(rng: random.Random, batch_id: int, body: dict[str, Any]) -> InboundRecord:
    payload = b"[1]" if rng.random() < 0.05 else orjson.dumps(body)  # unreadable: the batch's times
    return InboundRecord(batch_id=batch_id, workspace_id=rng.choice([1, 1, 2]), input_id=rng.choice([1, 2]),
                         environment="production", received_ms=rng.choice([2_000, 10_000, 15_000]),
                         source_ip="", request_id="r", historical=False, payload=payload)  # fmt: skip


def random_group(rng: random.Random) -> list[tuple[InboundRecord, dict[str, Any]]]:
    group: list[tuple[InboundRecord, dict[str, Any]]] = []
    for n in range(rng.randint(1, 30)):
        if group and rng.random() < 0.1:
            group.append(rng.choice(group))  # redelivered
            continue
        body = random_body(rng)
        if rng.random() < 0.9:
            body["mpid"] = rng.randint(1, 6)
        group.append((record(rng, n + 1, body), body))
    return group


def stored_profiles(rng: random.Random) -> dict[tuple[int, int], Profile]:
    profiles: dict[tuple[int, int], Profile] = {}
    for ws in (1, 2):
        for mpid in range(1, 7):
            if rng.random() < 0.5:
                continue
            profile = empty_profile(ws, mpid)
            for k in range(rng.randint(1, 4)):
                batch = decode_batch(orjson.dumps(random_body(rng)))
                profile = apply_batch(
                    profile, batch, BatchFacts(100 + k, 1, rng.choice([1_000, 12_000]))
                ).profile
            profiles[(ws, mpid)] = profile
    return profiles


@pytest.mark.parametrize("seed", range(150))
def test_the_phase_equals_the_batch_by_batch_reference(seed: int) -> None:
    rng = random.Random(seed)
    profiles = stored_profiles(rng)
    group = random_group(rng)
    # Decoded from the body: an unreadable payload still has its batch.
    fast_items = [WorkItem(r, decode_batch(orjson.dumps(body))) for r, body in group]
    slow_items = [WorkItem(r, decode_batch(orjson.dumps(body))) for r, body in group]
    fast_store, slow_store = Store(profiles), Store(profiles)
    ProfilePhase(fast_store).run(fast_items, 0, ProcessingReport())
    slow_store.save(reference(slow_store, slow_items))
    assert fast_store.saved == slow_store.saved
    for fast, slow in zip(fast_items, slow_items, strict=True):
        assert fast.batch.events == slow.batch.events
        assert (NOTE in fast.notes) == (NOTE in slow.notes)
        if NOTE in fast.notes:
            assert ordered(fast.notes[NOTE][1]) == ordered(slow.notes[NOTE][1])
