"""The profile phase: bulk-load the group's profiles, merge each batch (pure), save what changed.

Each user's batches of the group are merged into one WorkingProfile (the rules of
`merge.apply_batch`, batch by batch), frozen once at the end into the profile noted for later phases
and the write of the parts that changed.

Runs after the MPID is set and before events are stored, so the user_attribute_change events it adds
to a batch are stored (and later forwarded) with it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import msgspec
from msgspec import structs

from fermion.model.records import InboundRecord
from fermion.ports import ProfileStore
from fermion.profiles.merge import BatchFacts, empty_profile, event_times
from fermion.profiles.state import Profile, ProfileWrite
from fermion.profiles.working import WorkingProfile
from fermion.services.processing import ProcessingReport, WorkItem


class _ClientData(msgspec.Struct):
    timestamp_unixtime_ms: Any = None


class _ClientEvent(msgspec.Struct):
    data: _ClientData | None = None


class _ClientBatch(msgspec.Struct):
    events: list[_ClientEvent] | None = None


_decode_client_batch = msgspec.json.Decoder(_ClientBatch).decode
# item.notes[NOTE]: (monotonic ns taken before the load, the user's merged profile) for later phases.
NOTE = "profile"


def client_event_times(record: InboundRecord) -> tuple[int, ...] | None:
    """The times of the events as the client sent them (a missing one is the receive time, as the
    normalize stage sets it), read from the inbound payload: phases before this one may have added
    events of their own. None if the payload cannot be read this way."""
    try:
        batch = _decode_client_batch(record.payload)
    except msgspec.DecodeError:
        return None
    times = []
    for event in batch.events or ():
        ts = event.data.timestamp_unixtime_ms if event.data is not None else None
        times.append(ts if isinstance(ts, int) and not isinstance(ts, bool) else record.received_ms)
    return tuple(times)


class ProfilePhase:
    name = "profiles"

    def __init__(self, store: ProfileStore) -> None:
        self._store = store

    def run(self, items: list[WorkItem], now_ms: int, report: ProcessingReport) -> list[WorkItem]:
        by_workspace: dict[int, list[WorkItem]] = {}
        for item in items:
            if item.batch.mpid is not None:
                by_workspace.setdefault(item.record.workspace_id, []).append(item)
        writes: list[ProfileWrite] = []
        for workspace_id, group in by_workspace.items():
            writes.extend(self._merge_group(workspace_id, group))
        if writes:
            self._store.save(writes)
        return items

    def _merge_group(self, workspace_id: int, group: list[WorkItem]) -> list[ProfileWrite]:
        loaded_ns = time.monotonic_ns()
        loaded = self._store.load(workspace_id, [i.batch.mpid for i in group if i.batch.mpid is not None])
        working: dict[int, WorkingProfile] = {}
        # In log order, so a later batch of the group sees (and reports changes against) earlier ones.
        for item in group:
            mpid = item.batch.mpid
            assert mpid is not None
            profile = working.get(mpid)
            if profile is None:
                base = loaded.get(mpid) or empty_profile(workspace_id, mpid)
                profile = working[mpid] = WorkingProfile(base)
            record = item.record
            batch = item.batch
            times: Sequence[int] | None = client_event_times(record)
            if times is None:
                times = event_times(batch, BatchFacts(record.batch_id, record.input_id, record.received_ms))
            events = profile.apply(batch, record.batch_id, record.input_id, record.received_ms, times)
            if events:
                item.batch = structs.replace(batch, events=[*batch.events, *events])
        noted: dict[int, tuple[int, Profile]] = {}
        writes: dict[int, ProfileWrite] = {}
        for mpid, profile in working.items():
            merged, writes[mpid] = profile.profile_and_write()
            noted[mpid] = (loaded_ns, merged)
        for item in group:
            item.notes[NOTE] = note = noted[item.batch.mpid]  # type: ignore[index]
            item.profile = note[1]  # forwarding enriches outgoing batches with it
        return [writes[mpid] for mpid in sorted(writes)]
