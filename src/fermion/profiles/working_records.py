"""The working records of `WorkingProfile` (profiles/working.py): mutable copies of the profile parts
a group's batches look at, updated in place while the group is merged.

Each has a `changed` flag, set when a batch changed the part (which then differs from the base
profile's and is written). Structs, not dataclasses: built once per user and part, at C speed.
"""

from __future__ import annotations

from typing import Any

import msgspec

from fermion.profiles.state import Version


class HeaderWork(msgspec.Struct, gc=False):
    first_seen_ms: int
    last_seen_ms: int
    last_stored_ms: int
    opted_out: bool | None
    opted_out_version: Version
    changed: bool


class InputWork(msgspec.Struct, gc=False):
    first_seen_ms: int
    last_seen_ms: int
    changed: bool


class DeviceWork(msgspec.Struct, gc=False):
    first_seen_ms: int
    last_seen_ms: int
    platform: str | None
    platform_version: Version
    limit_ad_tracking: bool | None
    lat_version: Version
    changed: bool


class IdWork(msgspec.Struct, gc=False):
    device_key: str
    last_seen_ms: int
    changed: bool


class LastDevice(msgspec.Struct):
    """The last batch's device identifiers, its device's key and its identifiers' entries: a batch
    from the same device finds them here."""

    values: tuple[Any, ...] | None  # `id_values` of its device_info
    mp_deviceid: str | None
    key: str
    entries: list[IdWork]


__all__ = ["DeviceWork", "HeaderWork", "IdWork", "InputWork", "LastDevice"]
