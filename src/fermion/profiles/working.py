"""WorkingProfile: a group's batches merged into one profile in place, then frozen once.

The processing phase applies every batch of a group to its user's profile in log order. Doing that
with `merge.apply_batch` builds a whole new `Profile` (and its parts) per batch; real traffic repeats
the same users and devices, so most batches only move seen-times and setting versions. This keeps
those as plain lists while the group is merged and builds the frozen parts once, at the end.

The rules are `merge.apply_batch`'s, step for step (tests/unit/profiles/test_working_profile.py
holds the two equal on random batch sequences): the final profile equals the last `apply_batch`
result, each batch gets the same change events, and the write equals `write_of` of the final profile
with the union of the batches' `Touched` (a part is flagged when a batch changes it). A batch from
the device the user's previous batch came from skips working out the device again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from fermion.model.batch import Batch
from fermion.model.events import Event, OptOutEvent
from fermion.profiles.merge import (
    DAS,
    DEVICE_ID_FIELDS,
    attribute_edits,
    change_event,
    change_of,
    consent_entry,
    id_values,
    identifiers_of,
)
from fermion.profiles.state import (
    ZERO_VERSION,
    Attribute,
    ConsentEntry,
    Device,
    DeviceIdentity,
    Header,
    InputSeen,
    Profile,
    ProfileWrite,
)

_NAMING = frozenset(DEVICE_ID_FIELDS) | {DAS}
K = TypeVar("K")
V = TypeVar("V")


class WorkingProfile:
    """One user's profile while a group's batches are applied to it (see the module docstring)."""

    __slots__ = (
        "_attributes",
        "_base",
        "_consent",
        "_device_ids",
        "_devices",
        "_header",
        "_inputs",
        "_last_device",
        "_touched_attributes",
        "_touched_consent",
    )

    def __init__(self, base: Profile) -> None:
        self._base = base
        h = base.header
        # The parts a batch looked at, as lists updated in place, each ending in a "changed" flag
        # (set when a batch changed the part, which then differs from the base's and is written).
        # [first_seen_ms, last_seen_ms, last_stored_ms, opted_out, opted_out_version, changed]
        self._header: list[Any] | None = (
            None
            if h is None
            else [h.first_seen_ms, h.last_seen_ms, h.last_stored_ms, h.opted_out, h.opted_out_version, False]
        )
        self._inputs: dict[int, list[Any]] = {}  # [first_seen_ms, last_seen_ms, changed]
        # [first_seen_ms, last_seen_ms, platform, platform_version, limit_ad_tracking, lat_version, changed]
        self._devices: dict[str, list[Any]] = {}
        self._device_ids: dict[tuple[str, str], list[Any]] = {}  # [device_key, last_seen_ms, changed]
        # The last batch's device identifiers (device_info's, mp_deviceid), its device's key and
        # its identifiers' entries: a batch from the same device finds them here.
        self._last_device: tuple[tuple[Any, ...] | None, str | None, str, list[list[Any]]] | None = None
        self._attributes: dict[str, Attribute] | None = None  # a copy of the base's, once written
        self._touched_attributes: set[str] = _NONE  # a set of its own once written
        self._consent: dict[tuple[str, str], ConsentEntry] | None = None
        self._touched_consent: set[tuple[str, str]] = _NONE

    def apply(
        self, batch: Batch, batch_id: int, input_id: int, received_ms: int, times: Sequence[int]
    ) -> list[Event]:
        """Apply one batch (`times`: its client event times, as `merge.event_times`); the
        user_attribute_change events to add to it."""
        # One function for the parts every batch has (seen-times, the device): it runs per batch.
        if times:
            ts = min(max(times), received_ms)
            first = min(min(times), received_ms)
        else:
            ts = first = received_ms
        h = self._header
        if h is None:
            h = self._header = [first, ts, received_ms, None, ZERO_VERSION, True]
        else:
            if first < h[0]:
                h[0] = first
                h[5] = True
            if ts > h[1]:
                h[1] = ts
                h[5] = True
            if received_ms > h[2]:
                h[2] = received_ms
                h[5] = True
        for event in batch.events:
            if isinstance(event, OptOutEvent):
                self._merge_opt_out(batch, batch_id, received_ms, h)
                break
        seen = self._inputs.get(input_id)
        if seen is None:
            old = self._base.inputs.get(input_id)
            if old is None:
                self._inputs[input_id] = [first, ts, True]
            else:
                self._inputs[input_id] = [
                    min(old.first_seen_ms, first),
                    max(old.last_seen_ms, ts),
                    first < old.first_seen_ms or ts > old.last_seen_ms,
                ]
        else:
            if first < seen[0]:
                seen[0] = first
                seen[2] = True
            if ts > seen[1]:
                seen[1] = ts
                seen[2] = True
        events: list[Event] = []
        if batch.user_attributes or batch.deleted_user_attributes:
            events = self._merge_attributes(batch, batch_id, ts)
        if batch.consent_state is not None:
            self._merge_consent(batch, batch_id, ts)
        info = batch.device_info
        das = batch.mp_deviceid
        if info is None and not das:
            return events
        values = id_values(info) if info is not None else None
        last = self._last_device
        if last is not None and last[0] == values and last[1] == das:
            # The same identifiers as the last batch: all known now, on the same device.
            key, entries = last[2], last[3]
        else:
            found = self._device_key(identifiers_of(values, das))
            if found is None:
                return events
            key, entries = found
            self._last_device = (values, das, key, entries)
        device = self._devices.get(key)
        if device is None:
            old_device = self._base.devices.get(key)
            if old_device is None:
                device = [first, ts, None, ZERO_VERSION, None, ZERO_VERSION, True]
            else:
                device = [
                    old_device.first_seen_ms,
                    old_device.last_seen_ms,
                    old_device.platform,
                    old_device.platform_version,
                    old_device.limit_ad_tracking,
                    old_device.lat_version,
                    False,
                ]
            self._devices[key] = device
        if first < device[0]:
            device[0] = first
            device[6] = True
        if ts > device[1]:
            device[1] = ts
            device[6] = True
        if info is not None:
            platform = info.platform
            lat = info.limit_ad_tracking
            if platform is not None and (ts, batch_id) > device[3]:
                device[2] = platform
                device[3] = (ts, batch_id)
                device[6] = True
            if lat is not None and (ts, batch_id) > device[5]:
                device[4] = lat
                device[5] = (ts, batch_id)
                device[6] = True
        for entry in entries:
            if ts > entry[1]:
                entry[1] = ts
                entry[2] = True
        return events

    @staticmethod
    def _merge_opt_out(batch: Batch, batch_id: int, received_ms: int, h: list[Any]) -> None:
        # The newest opt_out event of the batch (by timestamp, then position) is the batch's say.
        newest: tuple[int, int, bool] | None = None
        for index, event in enumerate(batch.events):
            if isinstance(event, OptOutEvent) and event.data.is_opted_out is not None:
                at = (event.data.timestamp_unixtime_ms or received_ms, index, event.data.is_opted_out)
                newest = at if newest is None or at[:2] > newest[:2] else newest
        if newest is not None and (newest[0], batch_id) > h[4]:
            h[3] = newest[2]
            h[4] = (newest[0], batch_id)
            h[5] = True

    def _merge_attributes(self, batch: Batch, batch_id: int, ts: int) -> list[Event]:
        deletes, sets, already_reported = attribute_edits(batch)
        attributes = self._attributes if self._attributes is not None else self._base.attributes
        version = (ts, batch_id)
        events: list[Event] = []
        for name in sorted(sets.keys() | deletes):
            current = attributes.get(name)
            if current is not None and (current.ts_ms, current.batch_id) == version:
                # This batch wrote the attribute before (a redelivery): report the change again.
                change = change_of(name, current) if name not in already_reported else None
            elif current is not None and (current.ts_ms, current.batch_id) > version:
                continue  # a newer write already decided this attribute
            else:
                if self._attributes is None:
                    attributes = self._attributes = dict(self._base.attributes)
                    self._touched_attributes = set()
                deleting = name in deletes
                existed = current is not None and not current.deleted
                written = Attribute(
                    None if deleting else sets[name],
                    ts,
                    batch_id,
                    deleting,
                    existed,
                    current.value if current is not None and existed else None,
                )
                attributes[name] = written
                self._touched_attributes.add(name)
                change = change_of(name, written) if name not in already_reported else None
            if change is not None:
                events.append(change_event(name, change, batch_id, ts))
        return events

    def _merge_consent(self, batch: Batch, batch_id: int, ts: int) -> None:
        state = batch.consent_state
        assert state is not None
        for regulation, purposes in (("gdpr", state.gdpr), ("ccpa", state.ccpa)):
            for purpose, given in sorted((purposes or {}).items()):
                entry = consent_entry(regulation, purpose, given, batch_id, ts)
                if entry is None:
                    continue
                consent = self._consent if self._consent is not None else self._base.consent
                key = (regulation, purpose)
                current = consent.get(key)
                if current is None or (entry.ts_ms, entry.batch_id) > (current.ts_ms, current.batch_id):
                    if self._consent is None:
                        consent = self._consent = dict(self._base.consent)
                        self._touched_consent = set()
                    consent[key] = entry
                    self._touched_consent.add(key)

    def _device_key(self, ids: list[tuple[str, str]]) -> tuple[str, list[list[Any]]] | None:
        """The key of the batch's device and the working entries of its identifiers (added, with
        the key, for identifiers not seen before), as `merge.apply_batch` decides them; None if the
        batch names no device."""
        working_ids = self._device_ids
        base_ids = self._base.device_ids
        # A device is known by any identifier seen on it before; a new one is named by its
        # strongest identifier (`merge.device_key_of`).
        key: str | None = None
        for pair in ids:
            known = working_ids.get(pair)
            if known is not None:
                key = known[0]
                break
            based = base_ids.get(pair)
            if based is not None:
                key = based.device_key
                break
        if key is None:
            for id_type, value in ids:
                if id_type in _NAMING:
                    key = f"{id_type}:{value}"
                    break
            else:
                return None
        entries = []
        for pair in ids:
            entry = working_ids.get(pair)
            if entry is None:
                based = base_ids.get(pair)
                if based is None:
                    entry = [key, -(2**63), True]  # the caller's max() sets the time
                else:
                    entry = [based.device_key, based.last_seen_ms, False]
                working_ids[pair] = entry
            entries.append(entry)
        return key, entries

    # -- the result ----------------------------------------------------------------------------

    def profile_and_write(self) -> tuple[Profile, ProfileWrite]:
        """The merged profile and the parts of it the batches changed."""
        # Plain loops, not comprehensions (a function call each in Python 3.11): once per user.
        base = self._base
        header = base.header
        write_header: Header | None = None
        h = self._header
        if h is not None and h[5]:
            header = write_header = Header(h[0], h[1], h[2], h[3], h[4])
        new_devices: dict[str, Device] = {}
        for k, d in self._devices.items():
            if d[6]:
                new_devices[k] = Device(k, d[0], d[1], d[2], d[3], d[4], d[5])
        new_ids: dict[tuple[str, str], DeviceIdentity] = {}
        for pair, i in self._device_ids.items():
            if i[2]:
                new_ids[pair] = DeviceIdentity(i[0], pair[0], pair[1], i[1])
        new_inputs: dict[int, InputSeen] = {}
        for input_id, i in self._inputs.items():
            if i[2]:
                new_inputs[input_id] = InputSeen(input_id, i[0], i[1])
        attributes = self._attributes if self._attributes is not None else base.attributes
        consent = self._consent if self._consent is not None else base.consent
        profile = Profile(
            base.workspace_id,
            base.mpid,
            header,
            attributes,
            consent,
            _merged(base.devices, new_devices),
            _merged(base.device_ids, new_ids),
            _merged(base.inputs, new_inputs),
        )
        touched_attributes = self._touched_attributes
        touched_consent = self._touched_consent
        write = ProfileWrite(
            base.workspace_id,
            base.mpid,
            write_header,
            {n: attributes[n] for n in sorted(touched_attributes)} if touched_attributes else {},
            [consent[k] for k in sorted(touched_consent)] if touched_consent else [],
            _by_key(new_devices),
            _by_key(new_ids),
            _by_key(new_inputs),
        )
        return profile, write


_NONE: Any = frozenset()  # no names touched yet (shared, never added to)


def _merged(base: dict[K, V], new: dict[K, V]) -> dict[K, V]:
    """`base` with `new`'s entries replacing or added after its own (as the batches added them)."""
    if not new:
        return base
    if not base:
        return new
    merged = dict(base)
    merged.update(new)
    return merged


def _by_key(new: dict[K, V]) -> list[V]:
    if len(new) < 2:
        return list(new.values())
    return [new[k] for k in sorted(new)]  # type: ignore[type-var]


__all__ = ["WorkingProfile"]
