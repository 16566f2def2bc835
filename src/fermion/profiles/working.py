"""WorkingProfile: a group's batches merged into one profile in place, then frozen once.

The processing phase applies every batch of a group to its user's profile in log order. Doing that
with `merge.apply_batch` builds a whole new `Profile` (and its parts) per batch; real traffic repeats
the same users and devices, so most batches only move seen-times and setting versions. This keeps
those as plain lists while the group is merged and builds the frozen parts once, at the end.

The rules are `merge.apply_batch`'s, step for step (tests/unit/profiles/test_working_profile.py
holds the two equal on random batch sequences): the final profile equals the last `apply_batch`
result, each batch gets the same change events, and `write()` equals `write_of` of the final profile
with the union of the batches' `Touched`. Every merge is monotonic (seen-times by min/max, versioned
values only ever replaced by a newer version), so "changed by some batch of the group" is "differs
from the loaded profile", which is how the parts to write are found.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from fermion.model.batch import Batch
from fermion.model.events import Event, OptOutEvent, UserAttributeChangeEvent
from fermion.profiles.merge import (
    DAS,
    DEVICE_ID_FIELDS,
    MAX_NAME,
    change_event,
    change_of,
    consent_entry,
    device_identifiers,
    normalize_value,
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

# [first_seen_ms, last_seen_ms, platform, platform_version, limit_ad_tracking, lat_version]
_DeviceState = list[object]
_NAMING = frozenset(DEVICE_ID_FIELDS) | {DAS}
K = TypeVar("K")
V = TypeVar("V")
S = TypeVar("S")


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
        "_touched_attributes",
        "_touched_consent",
    )

    def __init__(self, base: Profile) -> None:
        self._base = base
        h = base.header
        # [first_seen_ms, last_seen_ms, last_stored_ms, opted_out, opted_out_version], or None.
        self._header: list[object] | None = (
            None
            if h is None
            else [h.first_seen_ms, h.last_seen_ms, h.last_stored_ms, h.opted_out, h.opted_out_version]
        )
        self._attributes: dict[str, Attribute] | None = None  # a copy of the base's, once written
        self._touched_attributes: set[str] = set()
        self._consent: dict[tuple[str, str], ConsentEntry] | None = None
        self._touched_consent: set[tuple[str, str]] = set()
        # Parts a batch looked at, as lists updated in place; compared with the base's at the end.
        self._devices: dict[str, _DeviceState] = {}
        self._device_ids: dict[tuple[str, str], list[object]] = {}  # [device_key, last_seen_ms]
        self._inputs: dict[int, list[int]] = {}  # [first_seen_ms, last_seen_ms]

    def apply(
        self, batch: Batch, batch_id: int, input_id: int, received_ms: int, times: Sequence[int]
    ) -> list[Event]:
        """Apply one batch (`times`: its client event times, as `merge.event_times`); the
        user_attribute_change events to add to it."""
        if times:
            ts = min(max(times), received_ms)
            first = min(min(times), received_ms)
        else:
            ts = first = received_ms
        self._merge_header(batch, batch_id, received_ms, ts, first)
        seen = self._inputs.get(input_id)
        if seen is None:
            base_seen = self._base.inputs.get(input_id)
            if base_seen is None:
                self._inputs[input_id] = [first, ts]
            else:
                self._inputs[input_id] = [
                    min(base_seen.first_seen_ms, first),
                    max(base_seen.last_seen_ms, ts),
                ]
        else:
            if first < seen[0]:
                seen[0] = first
            if ts > seen[1]:
                seen[1] = ts
        events: list[Event] = []
        if batch.user_attributes or batch.deleted_user_attributes:
            events = self._merge_attributes(batch, batch_id, ts)
        if batch.consent_state is not None:
            self._merge_consent(batch, batch_id, ts)
        if batch.device_info is not None or batch.mp_deviceid:
            self._merge_device(batch, batch_id, ts, first)
        return events

    def _merge_header(self, batch: Batch, batch_id: int, received_ms: int, ts: int, first: int) -> None:
        h = self._header
        if h is None:
            h = self._header = [first, ts, received_ms, None, ZERO_VERSION]
        else:
            if first < h[0]:  # type: ignore[operator]
                h[0] = first
            if ts > h[1]:  # type: ignore[operator]
                h[1] = ts
            if received_ms > h[2]:  # type: ignore[operator]
                h[2] = received_ms
        newest: tuple[int, int, bool] | None = None
        for index, event in enumerate(batch.events):
            if isinstance(event, OptOutEvent) and event.data.is_opted_out is not None:
                at = (event.data.timestamp_unixtime_ms or received_ms, index, event.data.is_opted_out)
                newest = at if newest is None or at[:2] > newest[:2] else newest
        if newest is not None and (newest[0], batch_id) > h[4]:  # type: ignore[operator]
            h[3] = newest[2]
            h[4] = (newest[0], batch_id)

    def _merge_attributes(self, batch: Batch, batch_id: int, ts: int) -> list[Event]:
        deletes = {n for n in batch.deleted_user_attributes or () if 0 < len(n) <= MAX_NAME}
        sets = {
            name: normalize_value(value)
            for name, value in (batch.user_attributes or {}).items()
            if 0 < len(name) <= MAX_NAME and name not in deletes  # a delete in the same batch wins
        }
        already_reported = {
            e.data.user_attribute_name for e in batch.events if isinstance(e, UserAttributeChangeEvent)
        }
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
                    consent[key] = entry
                    self._touched_consent.add(key)

    def _merge_device(self, batch: Batch, batch_id: int, ts: int, first: int) -> None:
        ids = device_identifiers(batch)
        if not ids:
            return
        working_ids = self._device_ids
        base_ids = self._base.device_ids
        # A device is known by any identifier seen on it before; a new one is named by its
        # strongest identifier (`merge.device_key_of`).
        key: str | None = None
        for pair in ids:
            known = working_ids.get(pair)
            if known is not None:
                key = known[0]  # type: ignore[assignment]
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
                return
        info = batch.device_info
        platform = info.platform if info is not None else None
        lat = info.limit_ad_tracking if info is not None else None
        device = self._devices.get(key)
        if device is None:
            old = self._base.devices.get(key)
            if old is None:
                device = [first, ts, None, ZERO_VERSION, None, ZERO_VERSION]
            else:
                device = [
                    min(old.first_seen_ms, first),
                    max(old.last_seen_ms, ts),
                    old.platform,
                    old.platform_version,
                    old.limit_ad_tracking,
                    old.lat_version,
                ]
            self._devices[key] = device
        else:
            if first < device[0]:  # type: ignore[operator]
                device[0] = first
            if ts > device[1]:  # type: ignore[operator]
                device[1] = ts
        version = (ts, batch_id)
        if platform is not None and version > device[3]:  # type: ignore[operator]
            device[2] = platform
            device[3] = version
        if lat is not None and version > device[5]:  # type: ignore[operator]
            device[4] = lat
            device[5] = version
        for pair in ids:
            known = working_ids.get(pair)
            if known is None:
                based = base_ids.get(pair)
                if based is None:
                    working_ids[pair] = [key, ts]
                else:
                    working_ids[pair] = [based.device_key, max(based.last_seen_ms, ts)]
            elif ts > known[1]:  # type: ignore[operator]
                known[1] = ts

    # -- the result ----------------------------------------------------------------------------

    def profile_and_write(self) -> tuple[Profile, ProfileWrite]:
        """The merged profile and the parts of it the batches changed."""
        base = self._base
        h = self._header
        header = base.header
        write_header: Header | None = None
        if h is not None:
            old = base.header
            if old is None or (
                old.first_seen_ms,
                old.last_seen_ms,
                old.last_stored_ms,
                old.opted_out,
                old.opted_out_version,
            ) != tuple(h):
                header = write_header = Header(*h)  # type: ignore[arg-type]
        devices, device_writes = _changed(base.devices, self._devices, _device_of, _device_fields)
        device_ids, id_writes = _changed(base.device_ids, self._device_ids, _device_id_of, _device_id_fields)
        inputs, input_writes = _changed(base.inputs, self._inputs, _input_of, _input_fields)
        attributes = self._attributes if self._attributes is not None else base.attributes
        consent = self._consent if self._consent is not None else base.consent
        profile = Profile(
            base.workspace_id, base.mpid, header, attributes, consent, devices, device_ids, inputs
        )
        write = ProfileWrite(
            base.workspace_id,
            base.mpid,
            write_header,
            {n: attributes[n] for n in sorted(self._touched_attributes)},
            [consent[k] for k in sorted(self._touched_consent)],
            device_writes,
            id_writes,
            input_writes,
        )
        return profile, write


def _changed(
    base: dict[K, V],
    working: dict[K, S],
    build: Callable[[K, S], V],
    fields: Callable[[V], S],
) -> tuple[dict[K, V], list[V]]:
    """The base dict with the working entries that differ from it replaced (the base itself when
    none does), and those new entries sorted by key."""
    changed: dict[K, V] = {}
    for key, state in working.items():
        old = base.get(key)
        if old is None or fields(old) != state:
            changed[key] = build(key, state)
    if not changed:
        return base, []
    merged = dict(base)
    merged.update(changed)  # new keys after the base's, in the order the batches added them
    return merged, [changed[k] for k in sorted(changed)]  # type: ignore[type-var]


def _device_of(key: str, s: _DeviceState) -> Device:
    return Device(key, *s)  # type: ignore[arg-type]


def _device_fields(d: Device) -> list[object]:
    return [
        d.first_seen_ms,
        d.last_seen_ms,
        d.platform,
        d.platform_version,
        d.limit_ad_tracking,
        d.lat_version,
    ]


def _device_id_of(pair: tuple[str, str], s: list[object]) -> DeviceIdentity:
    return DeviceIdentity(s[0], pair[0], pair[1], s[1])  # type: ignore[arg-type]


def _device_id_fields(i: DeviceIdentity) -> list[object]:
    return [i.device_key, i.last_seen_ms]


def _input_of(input_id: int, s: list[int]) -> InputSeen:
    return InputSeen(input_id, s[0], s[1])


def _input_fields(i: InputSeen) -> list[int]:
    return [i.first_seen_ms, i.last_seen_ms]


__all__ = ["WorkingProfile"]
