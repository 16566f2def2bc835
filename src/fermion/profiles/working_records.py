"""The working records of `WorkingProfile` (profiles/working.py): mutable copies of the profile parts
a group's batches look at, updated in place while the group is merged.

Each has a `changed` flag, set when a batch changed the part (which then differs from the base
profile's and is written). Slotted dataclasses, not msgspec Structs: their fields are written for
every batch, and with Structs the merge took about 18% more CPU than with the positional lists these
replaced (slotted dataclasses: the same as the lists).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fermion.profiles.state import Version


@dataclass(slots=True, eq=False)
class HeaderWork:
    first_seen_ms: int
    last_seen_ms: int
    last_stored_ms: int
    opted_out: bool | None
    opted_out_version: Version
    changed: bool


@dataclass(slots=True, eq=False)
class InputWork:
    first_seen_ms: int
    last_seen_ms: int
    changed: bool


@dataclass(slots=True, eq=False)
class DeviceWork:
    first_seen_ms: int
    last_seen_ms: int
    platform: str | None
    platform_version: Version
    limit_ad_tracking: bool | None
    lat_version: Version
    changed: bool


@dataclass(slots=True, eq=False)
class IdWork:
    device_key: str
    last_seen_ms: int
    changed: bool


@dataclass(slots=True, eq=False)
class LastDevice:
    """The last batch's device identifiers, its device's key and its identifiers' entries: a batch
    from the same device finds them here."""

    values: tuple[Any, ...] | None  # `id_values` of its device_info
    mp_deviceid: str | None
    key: str
    entries: list[IdWork]


__all__ = ["DeviceWork", "HeaderWork", "IdWork", "InputWork", "LastDevice"]
