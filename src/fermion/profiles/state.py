"""Profile state: what Fermion keeps per user (MPID) and workspace, each part with its own version.

A version is `(timestamp_ms, batch_id)`: the write with the larger version wins, so any order of
applying the same batches gives the same state, and applying a batch twice changes nothing.

The parts are frozen msgspec Structs, not frozen dataclasses: every profile load and merge builds
them, and a frozen dataclass's __init__ (object.__setattr__ per field) costs 3-5 times more. The
ones holding only scalars are not tracked by the garbage collector (`gc=False`: no cycles possible).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

# A user attribute value: a string, number, boolean, None (a "tag") or a list of strings.
AttrValue = Any
Version = tuple[int, int]

ZERO_VERSION: Version = (-(2**63), -(2**63))


class Attribute(msgspec.Struct, frozen=True):
    """One user attribute, or its tombstone (`deleted`). `prev_*` is what the writing batch replaced,
    kept so a redelivered batch can emit the same user_attribute_change event again."""

    value: AttrValue
    ts_ms: int
    batch_id: int
    deleted: bool = False
    prev_exists: bool = False
    prev_value: AttrValue = None

    @property
    def version(self) -> Version:
        return (self.ts_ms, self.batch_id)

    @property
    def live(self) -> bool:
        return not self.deleted


class ConsentEntry(msgspec.Struct, frozen=True, gc=False):
    """The latest consent for one regulation ("gdpr", "ccpa") and purpose."""

    regulation: str
    purpose: str
    consented: bool
    ts_ms: int
    batch_id: int
    document: str | None = None
    location: str | None = None
    hardware_id: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.regulation, self.purpose)

    @property
    def version(self) -> Version:
        return (self.ts_ms, self.batch_id)


class DeviceIdentity(msgspec.Struct, frozen=True, gc=False):
    """A device identifier seen on a device of the profile (the set only grows)."""

    device_key: str
    id_type: str  # device_info field name ("ios_idfv", ...) or "mp_deviceid"
    value: str
    last_seen_ms: int


class Device(msgspec.Struct, frozen=True, gc=False):
    """One device of the profile, named by its strongest identifier (`device_key`). Platform and
    limit-ad-tracking each keep the newest value a batch supplied (each has its own version)."""

    key: str
    first_seen_ms: int
    last_seen_ms: int
    platform: str | None = None
    platform_version: Version = ZERO_VERSION
    limit_ad_tracking: bool | None = None
    lat_version: Version = ZERO_VERSION


class InputSeen(msgspec.Struct, frozen=True, gc=False):
    input_id: int
    first_seen_ms: int
    last_seen_ms: int


class Header(msgspec.Struct, frozen=True, gc=False):
    """Seen-times and the opt-out flag; first/last seen merge by min/max, opt-out by version."""

    first_seen_ms: int
    last_seen_ms: int
    last_stored_ms: int
    opted_out: bool | None = None
    opted_out_version: Version = ZERO_VERSION


class Profile(msgspec.Struct, frozen=True):
    """A user's profile in one workspace (identities are organization-wide and live in IDSync)."""

    workspace_id: int
    mpid: int
    header: Header | None = None
    attributes: dict[str, Attribute] = msgspec.field(default_factory=dict)
    consent: dict[tuple[str, str], ConsentEntry] = msgspec.field(default_factory=dict)
    devices: dict[str, Device] = msgspec.field(default_factory=dict)
    device_ids: dict[tuple[str, str], DeviceIdentity] = msgspec.field(default_factory=dict)  # (type, value)
    inputs: dict[int, InputSeen] = msgspec.field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.header is not None

    def live_attributes(self) -> dict[str, AttrValue]:
        return {name: a.value for name, a in self.attributes.items() if a.live}


@dataclass
class Touched:
    """Which parts of a profile a merge changed, so only those are written."""

    header: bool = False
    attributes: set[str] = field(default_factory=set)
    consent: set[tuple[str, str]] = field(default_factory=set)
    devices: set[str] = field(default_factory=set)
    device_ids: set[tuple[str, str]] = field(default_factory=set)
    inputs: set[int] = field(default_factory=set)

    def update(self, other: Touched) -> None:
        self.header |= other.header
        self.attributes |= other.attributes
        self.consent |= other.consent
        self.devices |= other.devices
        self.device_ids |= other.device_ids
        self.inputs |= other.inputs


class ProfileWrite(msgspec.Struct, frozen=True):
    """The parts of one profile to store. Every part is written with a conditional upsert (newer
    version wins; seen-times by min/max), so writes commute and repeat safely."""

    workspace_id: int
    mpid: int
    header: Header | None = None
    attributes: dict[str, Attribute] = msgspec.field(default_factory=dict)
    consent: list[ConsentEntry] = msgspec.field(default_factory=list)
    devices: list[Device] = msgspec.field(default_factory=list)
    device_ids: list[DeviceIdentity] = msgspec.field(default_factory=list)
    inputs: list[InputSeen] = msgspec.field(default_factory=list)


def write_of(profile: Profile, touched: Touched) -> ProfileWrite:
    return ProfileWrite(
        workspace_id=profile.workspace_id,
        mpid=profile.mpid,
        header=profile.header if touched.header else None,
        attributes={n: profile.attributes[n] for n in sorted(touched.attributes)},
        consent=[profile.consent[k] for k in sorted(touched.consent)],
        devices=[profile.devices[k] for k in sorted(touched.devices)],
        device_ids=[profile.device_ids[k] for k in sorted(touched.device_ids)],
        inputs=[profile.inputs[i] for i in sorted(touched.inputs)],
    )
