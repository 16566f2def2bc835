"""WorkingProfile: a group's batches merged into one profile in place, then frozen once.

The processing phase applies every batch of a group to its user's profile in log order. Doing that
with `merge.apply_batch` builds a whole new `Profile` (and its parts) per batch; real traffic repeats
the same users and devices, so most batches only move seen-times and setting versions. This keeps
those as small mutable records while the group is merged and builds the frozen parts once, at the end.

The rules are `merge.apply_batch`'s, step for step (tests/unit/profiles/test_working_profile.py
holds the two equal on random batch sequences): the final profile equals the last `apply_batch`
result, each batch gets the same change events, and the write equals `write_of` of the final profile
with the union of the batches' `Touched` (a part is flagged when a batch changes it). A batch from
the device the user's previous batch came from skips working out the device again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from fermion.model.batch import Batch, DeviceInfo
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
from fermion.profiles.working_records import (
    DeviceWork,
    HeaderWork,
    IdWork,
    InputWork,
    LastDevice,
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
        self._header: HeaderWork | None = (
            None
            if h is None
            else HeaderWork(
                h.first_seen_ms, h.last_seen_ms, h.last_stored_ms, h.opted_out, h.opted_out_version, False
            )
        )
        self._inputs: dict[int, InputWork] = {}
        self._devices: dict[str, DeviceWork] = {}
        self._device_ids: dict[tuple[str, str], IdWork] = {}
        self._last_device: LastDevice | None = None
        self._attributes: dict[str, Attribute] | None = None  # a copy of the base's, once written
        self._touched_attributes: set[str] = _NONE  # a set of its own once written
        self._consent: dict[tuple[str, str], ConsentEntry] | None = None
        self._touched_consent: set[tuple[str, str]] = _NONE

    def apply(
        self, batch: Batch, batch_id: int, input_id: int, received_ms: int, times: Sequence[int]
    ) -> list[Event]:
        """Apply one batch (`times`: its client event times, as `merge.event_times`); the
        user_attribute_change events to add to it."""
        # Inline, not in helpers, for the parts every batch has (seen-times): it runs per batch.
        if times:
            ts = min(max(times), received_ms)
            first = min(min(times), received_ms)
        else:
            ts = first = received_ms
        h = self._header
        if h is None:
            h = self._header = HeaderWork(first, ts, received_ms, None, ZERO_VERSION, True)
        else:
            if first < h.first_seen_ms:
                h.first_seen_ms = first
                h.changed = True
            if ts > h.last_seen_ms:
                h.last_seen_ms = ts
                h.changed = True
            if received_ms > h.last_stored_ms:
                h.last_stored_ms = received_ms
                h.changed = True
        for event in batch.events:
            if isinstance(event, OptOutEvent):
                self._merge_opt_out(batch, batch_id, received_ms, h)
                break
        seen = self._inputs.get(input_id)
        if seen is None:
            old = self._base.inputs.get(input_id)
            if old is None:
                self._inputs[input_id] = InputWork(first, ts, True)
            else:
                self._inputs[input_id] = InputWork(
                    min(old.first_seen_ms, first),
                    max(old.last_seen_ms, ts),
                    first < old.first_seen_ms or ts > old.last_seen_ms,
                )
        else:
            if first < seen.first_seen_ms:
                seen.first_seen_ms = first
                seen.changed = True
            if ts > seen.last_seen_ms:
                seen.last_seen_ms = ts
                seen.changed = True
        events: list[Event] = []
        if batch.user_attributes or batch.deleted_user_attributes:
            events = self._merge_attributes(batch, batch_id, ts)
        if batch.consent_state is not None:
            self._merge_consent(batch, batch_id, ts)
        info = batch.device_info
        das = batch.mp_deviceid
        if info is not None or das:
            self._merge_device(info, das, batch_id, first, ts)
        return events

    def _merge_device(
        self, info: DeviceInfo | None, das: str | None, batch_id: int, first: int, ts: int
    ) -> None:
        """The batch's device (its device_info and mp_deviceid, one of them set) and identifiers."""
        values = id_values(info) if info is not None else None
        last = self._last_device
        if last is not None and last.values == values and last.mp_deviceid == das:
            # The same identifiers as the last batch: all known now, on the same device.
            key, entries = last.key, last.entries
        else:
            found = self._device_key(identifiers_of(values, das))
            if found is None:
                return
            key, entries = found
            self._last_device = LastDevice(values, das, key, entries)
        device = self._devices.get(key)
        if device is None:
            old_device = self._base.devices.get(key)
            if old_device is None:
                device = DeviceWork(first, ts, None, ZERO_VERSION, None, ZERO_VERSION, True)
            else:
                device = DeviceWork(
                    old_device.first_seen_ms,
                    old_device.last_seen_ms,
                    old_device.platform,
                    old_device.platform_version,
                    old_device.limit_ad_tracking,
                    old_device.lat_version,
                    False,
                )
            self._devices[key] = device
        if first < device.first_seen_ms:
            device.first_seen_ms = first
            device.changed = True
        if ts > device.last_seen_ms:
            device.last_seen_ms = ts
            device.changed = True
        if info is not None:
            platform = info.platform
            lat = info.limit_ad_tracking
            if platform is not None and (ts, batch_id) > device.platform_version:
                device.platform = platform
                device.platform_version = (ts, batch_id)
                device.changed = True
            if lat is not None and (ts, batch_id) > device.lat_version:
                device.limit_ad_tracking = lat
                device.lat_version = (ts, batch_id)
                device.changed = True
        for entry in entries:
            if ts > entry.last_seen_ms:
                entry.last_seen_ms = ts
                entry.changed = True

    @staticmethod
    def _merge_opt_out(batch: Batch, batch_id: int, received_ms: int, h: HeaderWork) -> None:
        # The newest opt_out event of the batch (by timestamp, then position) is the batch's say.
        newest: tuple[int, int, bool] | None = None
        for index, event in enumerate(batch.events):
            if isinstance(event, OptOutEvent) and event.data.is_opted_out is not None:
                at = (event.data.timestamp_unixtime_ms or received_ms, index, event.data.is_opted_out)
                newest = at if newest is None or at[:2] > newest[:2] else newest
        if newest is not None and (newest[0], batch_id) > h.opted_out_version:
            h.opted_out = newest[2]
            h.opted_out_version = (newest[0], batch_id)
            h.changed = True

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

    def _device_key(self, ids: list[tuple[str, str]]) -> tuple[str, list[IdWork]] | None:
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
                key = known.device_key
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
                    entry = IdWork(key, -(2**63), True)  # the caller's max() sets the time
                else:
                    entry = IdWork(based.device_key, based.last_seen_ms, False)
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
        if h is not None and h.changed:
            header = write_header = Header(
                h.first_seen_ms, h.last_seen_ms, h.last_stored_ms, h.opted_out, h.opted_out_version
            )
        new_devices: dict[str, Device] = {}
        for k, d in self._devices.items():
            if d.changed:
                new_devices[k] = Device(
                    k,
                    d.first_seen_ms,
                    d.last_seen_ms,
                    d.platform,
                    d.platform_version,
                    d.limit_ad_tracking,
                    d.lat_version,
                )
        new_ids: dict[tuple[str, str], DeviceIdentity] = {}
        for pair, e in self._device_ids.items():
            if e.changed:
                id_type, value = pair
                new_ids[pair] = DeviceIdentity(e.device_key, id_type, value, e.last_seen_ms)
        new_inputs: dict[int, InputSeen] = {}
        for input_id, i in self._inputs.items():
            if i.changed:
                new_inputs[input_id] = InputSeen(input_id, i.first_seen_ms, i.last_seen_ms)
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
