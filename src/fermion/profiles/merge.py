"""The merge rules: apply one processed batch to a profile, last-write-wins by timestamp.

Every batch writes at one time: its newest event timestamp, capped at its receive time (a client clock
running ahead cannot pin a value), or its receive time when it has no events. Only events the client
sent count; events Fermion adds while processing (identity changes) carry the receive time.
Attribute sets and deletes (tombstones), device settings and the opt-out flag keep the value with the
newest `(time, batch_id)`; consent keeps the newest consent timestamp per regulation and purpose;
seen-times merge by min/max. Attribute changes become `user_attribute_change` events in the batch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress
from operator import attrgetter
from typing import Any

from msgspec import structs

from fermion.model.batch import Batch, Consent
from fermion.model.events import Event, OptOutEvent, UserAttributeChangeData, UserAttributeChangeEvent
from fermion.model.ids import derived_id
from fermion.profiles.state import (
    Attribute,
    AttrValue,
    ConsentEntry,
    Device,
    DeviceIdentity,
    Header,
    InputSeen,
    Profile,
    Touched,
)

# Names and keys longer than this are ignored (mParticle caps attribute names at 256 characters).
MAX_NAME = 256

# Device identifiers of `device_info`, strongest first: the first present one names the device.
DEVICE_ID_FIELDS = (
    "ios_idfv",
    "android_uuid",
    "roku_publisher_id",
    "microsoft_publisher_id",
    "ios_advertising_id",
    "android_advertising_id",
    "fire_advertising_id",
    "roku_advertising_id",
    "microsoft_advertising_id",
    "amp_id",
)
# Identifiers recorded on the device but never used to name it.
EXTRA_DEVICE_FIELDS = ("push_token",)
DAS = "mp_deviceid"
_ZERO_ID = "00000000-0000-0000-0000-000000000000"  # what iOS sends for IDFA when tracking is limited
_ID_NAMES = (*DEVICE_ID_FIELDS, *EXTRA_DEVICE_FIELDS)
id_values = attrgetter(*_ID_NAMES)


@dataclass(frozen=True)
class BatchFacts:
    """What the merge needs besides the batch: the inbound stamp."""

    batch_id: int
    input_id: int
    received_ms: int
    # The times of the events the client sent; None: the times of the batch's events.
    event_times: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Applied:
    profile: Profile
    touched: Touched
    events: list[Event]  # user_attribute_change events to add to the batch


def event_times(batch: Batch, facts: BatchFacts) -> Sequence[int]:
    if facts.event_times is not None:
        return facts.event_times
    return [e.data.timestamp_unixtime_ms for e in batch.events if e.data.timestamp_unixtime_ms is not None]


def write_time(times: Sequence[int], received_ms: int) -> int:
    return min(max(times), received_ms) if times else received_ms


def first_time(times: Sequence[int], received_ms: int) -> int:
    return min(min(times), received_ms) if times else received_ms


def normalize_value(value: Any) -> AttrValue:
    """Scalars stay as they are; a list becomes a list of strings; anything else a JSON string."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list):
        return [v if isinstance(v, str) else _as_text(v) for v in value]
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def same_value(a: AttrValue, b: AttrValue) -> bool:
    # True == 1 in Python; an attribute switching between them is still a change.
    return type(a) is type(b) and a == b


def apply_batch(profile: Profile, batch: Batch, facts: BatchFacts) -> Applied:
    """The profile after `batch`, what changed, and the user_attribute_change events to add."""
    times = event_times(batch, facts)
    ts = write_time(times, facts.received_ms)
    first = first_time(times, facts.received_ms)
    # A part is touched (written) only when the merge changed it: what the profile held is stored
    # already, or written by the earlier batch of the group that touched it.
    touched = Touched()
    header = _merge_header(profile.header, batch, facts, ts, first)
    touched.header = header != profile.header
    inputs = dict(profile.inputs)
    seen = inputs.get(facts.input_id)
    now_seen = InputSeen(
        facts.input_id,
        first if seen is None else min(seen.first_seen_ms, first),
        ts if seen is None else max(seen.last_seen_ms, ts),
    )
    if now_seen != seen:
        inputs[facts.input_id] = now_seen
        touched.inputs.add(facts.input_id)
    attributes, events = _merge_attributes(profile.attributes, batch, facts.batch_id, ts, touched)
    consent = _merge_consent(profile.consent, batch, facts.batch_id, ts, touched)
    devices, device_ids = _merge_device(profile, batch, facts.batch_id, ts, first, touched)
    # Built directly: dataclasses.replace costs several times more (this runs once per batch).
    merged = Profile(
        profile.workspace_id, profile.mpid, header, attributes, consent, devices, device_ids, inputs
    )
    return Applied(merged, touched, events)


def _merge_header(old: Header | None, batch: Batch, facts: BatchFacts, ts: int, first: int) -> Header:
    header = Header(first_seen_ms=first, last_seen_ms=ts, last_stored_ms=facts.received_ms)
    if old is not None:
        header = Header(
            min(old.first_seen_ms, first),
            max(old.last_seen_ms, ts),
            max(old.last_stored_ms, facts.received_ms),
            old.opted_out,
            old.opted_out_version,
        )
    # The newest opt_out event of the batch (by timestamp, then position) is the batch's say.
    newest: tuple[int, int, bool] | None = None
    for index, event in enumerate(batch.events):
        if isinstance(event, OptOutEvent) and event.data.is_opted_out is not None:
            at = (event.data.timestamp_unixtime_ms or facts.received_ms, index, event.data.is_opted_out)
            newest = at if newest is None or at[:2] > newest[:2] else newest
    if newest is not None and (newest[0], facts.batch_id) > header.opted_out_version:
        header = structs.replace(header, opted_out=newest[2], opted_out_version=(newest[0], facts.batch_id))
    return header


def attribute_edits(batch: Batch) -> tuple[set[str], dict[str, AttrValue], set[str | None]]:
    """What a batch does to user attributes: (names deleted, values set, names whose change the batch
    already reports with its own user_attribute_change events)."""
    deletes = {n for n in batch.deleted_user_attributes or () if 0 < len(n) <= MAX_NAME}
    sets = {
        name: normalize_value(value)
        for name, value in (batch.user_attributes or {}).items()
        if 0 < len(name) <= MAX_NAME and name not in deletes  # a delete in the same batch wins
    }
    already_reported = {
        e.data.user_attribute_name for e in batch.events if isinstance(e, UserAttributeChangeEvent)
    }
    return deletes, sets, already_reported


def _merge_attributes(
    old: dict[str, Attribute], batch: Batch, batch_id: int, ts: int, touched: Touched
) -> tuple[dict[str, Attribute], list[Event]]:
    deletes, sets, already_reported = attribute_edits(batch)
    attributes = dict(old)
    events: list[Event] = []
    for name in sorted(sets.keys() | deletes):
        current = attributes.get(name)
        deleting = name in deletes
        if current is not None and current.version == (ts, batch_id):
            # This batch wrote the attribute before (a redelivery): report the change again.
            change = change_of(name, current) if name not in already_reported else None
        elif current is not None and current.version > (ts, batch_id):
            continue  # a newer write already decided this attribute
        else:
            existed = current is not None and current.live
            prev = current.value if current is not None and existed else None
            value = None if deleting else sets[name]
            attributes[name] = Attribute(
                value=value,
                ts_ms=ts,
                batch_id=batch_id,
                deleted=deleting,
                prev_exists=existed,
                prev_value=prev,
            )
            touched.attributes.add(name)
            change = change_of(name, attributes[name]) if name not in already_reported else None
        if change is not None:
            events.append(change_event(name, change, batch_id, ts))
    return attributes, events


def change_of(name: str, written: Attribute) -> UserAttributeChangeData | None:
    """The change `written` made over what it replaced, or None when it changed nothing visible."""
    if written.deleted:
        if not written.prev_exists:
            return None
        return UserAttributeChangeData(
            user_attribute_name=name, new=None, old=written.prev_value, deleted=True, is_new_attribute=False
        )
    if written.prev_exists and same_value(written.prev_value, written.value):
        return None
    return UserAttributeChangeData(
        user_attribute_name=name,
        new=written.value,
        old=written.prev_value if written.prev_exists else None,
        deleted=False,
        is_new_attribute=not written.prev_exists,
    )


def change_event(name: str, data: UserAttributeChangeData, batch_id: int, ts: int) -> Event:
    data.timestamp_unixtime_ms = ts
    data.event_id = derived_id("user_attribute_change", batch_id, name)
    # `new` and `old` are required (spec 2.10): a None one goes out as JSON null through `extra`,
    # which the codec merges back where the declared field was left out as a default.
    data.extra = {k: None for k in ("new", "old") if getattr(data, k) is None}
    return UserAttributeChangeEvent(data=data)


def _merge_consent(
    old: dict[tuple[str, str], ConsentEntry], batch: Batch, batch_id: int, ts: int, touched: Touched
) -> dict[tuple[str, str], ConsentEntry]:
    state = batch.consent_state
    if state is None:
        return old
    consent = dict(old)
    for regulation, purposes in (("gdpr", state.gdpr), ("ccpa", state.ccpa)):
        for purpose, given in sorted((purposes or {}).items()):
            entry = consent_entry(regulation, purpose, given, batch_id, ts)
            if entry is None:
                continue
            current = consent.get(entry.key)
            if current is None or entry.version > current.version:
                consent[entry.key] = entry
                touched.consent.add(entry.key)
    return consent


def consent_entry(
    regulation: str, purpose: str, given: Consent, batch_id: int, ts: int
) -> ConsentEntry | None:
    if given.consented is None or not 0 < len(purpose) <= MAX_NAME:
        return None
    return ConsentEntry(
        regulation=regulation,
        purpose=purpose,
        consented=given.consented,
        ts_ms=given.timestamp_unixtime_ms if given.timestamp_unixtime_ms is not None else ts,
        batch_id=batch_id,
        document=given.document,
        location=given.location,
        hardware_id=given.hardware_id,
    )


def device_identifiers(batch: Batch) -> list[tuple[str, str]]:
    """The batch's device identifiers as (type, value), strongest first, the device-naming ones
    before push tokens and the browser/app stamp."""
    info = batch.device_info
    return identifiers_of(id_values(info) if info is not None else None, batch.mp_deviceid)


def identifiers_of(values: tuple[Any, ...] | None, mp_deviceid: str | None) -> list[tuple[str, str]]:
    """`device_identifiers` from `id_values(device_info)` (None without device_info) and mp_deviceid."""
    found: list[tuple[str, str]] = []
    if values is not None:
        # Only the fields set (most are not), paired with their names at C level: once per batch.
        for name, value in zip(compress(_ID_NAMES, values), filter(None, values), strict=True):
            if isinstance(value, str) and value != _ZERO_ID and len(value) <= MAX_NAME:
                found.append((name, value))
    if mp_deviceid and len(mp_deviceid) <= MAX_NAME:
        found.append((DAS, mp_deviceid))
    return found


def device_key_of(ids: list[tuple[str, str]]) -> str | None:
    for id_type, value in ids:
        if id_type not in EXTRA_DEVICE_FIELDS:
            return f"{id_type}:{value}"
    return None


def _merge_device(
    profile: Profile, batch: Batch, batch_id: int, ts: int, first: int, touched: Touched
) -> tuple[dict[str, Device], dict[tuple[str, str], DeviceIdentity]]:
    ids = device_identifiers(batch)
    # A device is known by any identifier seen on it before (a web stamp sent alone still names the
    # phone it was first seen with); a new one is named by its strongest identifier.
    owners = [profile.device_ids[i].device_key for i in ids if i in profile.device_ids]
    key = owners[0] if owners else device_key_of(ids)
    if key is None:
        return profile.devices, profile.device_ids
    info = batch.device_info
    platform = info.platform if info is not None else None
    lat = info.limit_ad_tracking if info is not None else None
    devices = dict(profile.devices)
    current = devices.get(key) or Device(key, first, ts)
    version = (ts, batch_id)
    newer_platform = platform is not None and version > current.platform_version
    newer_lat = lat is not None and version > current.lat_version
    device = Device(
        key,
        min(current.first_seen_ms, first),
        max(current.last_seen_ms, ts),
        platform if newer_platform else current.platform,
        version if newer_platform else current.platform_version,
        lat if newer_lat else current.limit_ad_tracking,
        version if newer_lat else current.lat_version,
    )
    if device != profile.devices.get(key):
        devices[key] = device
        touched.devices.add(key)
    device_ids = dict(profile.device_ids)
    for id_type, value in ids:
        known = device_ids.get((id_type, value))
        last = ts if known is None else max(known.last_seen_ms, ts)
        identity = DeviceIdentity(known.device_key if known else key, id_type, value, last)
        if identity != known:
            device_ids[(id_type, value)] = identity
            touched.device_ids.add((id_type, value))
    return devices, device_ids


def empty_profile(workspace_id: int, mpid: int) -> Profile:
    return Profile(workspace_id=workspace_id, mpid=mpid)


__all__ = [
    "Applied",
    "BatchFacts",
    "apply_batch",
    "change_event",
    "change_of",
    "consent_entry",
    "device_identifiers",
    "device_key_of",
    "empty_profile",
    "event_times",
    "id_values",
    "identifiers_of",
    "normalize_value",
    "same_value",
    "write_time",
]
