"""Shared building blocks of the batch model: the `Record` base (which keeps unknown JSON fields),
lenient scalar types, locations, `device_current_state` and the fields common to every event's data.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from fermion.model.enums import LocationSource, SystemNotificationType

# Encoded name of `Record.extra`. It never reaches the wire: the codec moves unknown input keys in
# and merges them back out. Field names cannot hold control characters, so this is merely unlikely.
EXTRA_KEY = "__fermion_extra__"

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# A signed 64-bit integer: what the stores (SQLite INTEGER, BIGINT) and JSON encoders hold. Every
# integer the model declares is one, so a value out of range is a 400 at ingest, not a worker failure.
Int = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]
# Epoch milliseconds of an instant a date can hold (years 1 to 9999): dates are computed from event
# and consent times (calculated attributes, outputs' date folders), so a later "time" cannot be taken.
MIN_TIMESTAMP_MS = -62_135_596_800_000  # 0001-01-01T00:00:00Z
MAX_TIMESTAMP_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
Timestamp = Annotated[int, msgspec.Meta(ge=MIN_TIMESTAMP_MS, le=MAX_TIMESTAMP_MS)]
# An integer identifier (mpid, event_id, ...); the codec also accepts it as a numeric string.
Id = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX, extra={"fermion": "id"})]
Number = Int | float
Scalar = str | Int | float | bool | None
StrOrInt = str | Int
# A loosely typed measurement: a number, or a string carrying one.
Loose = Int | float | str


class Record(msgspec.Struct, kw_only=True, omit_defaults=True, repr_omit_defaults=True):
    """Base of every batch struct. `extra` holds the JSON keys the struct does not declare."""

    extra: dict[str, Any] = msgspec.field(default_factory=dict, name=EXTRA_KEY)


class Location(Record):
    """An event's `location`, or the batch `context.location` (spec 2.7, 2.9)."""

    latitude: Loose | None = None
    longitude: Loose | None = None
    accuracy: Loose | None = None
    country_code: str | None = None
    region_code: str | None = None
    city_name: str | None = None
    postal_code: StrOrInt | None = None
    dma_code: Int | None = None
    location_source: LocationSource | None = None


class DeviceCurrentState(Record):
    """`data.device_current_state` (spec 2.11), typed loosely."""

    time_since_start_ms: Loose | None = None
    battery_level: Loose | None = None
    data_connection_type: str | None = None
    data_connection_type_detail: str | None = None
    gps_state: bool | str | None = None
    total_system_memory_usage_bytes: Loose | None = None
    disk_space_free_bytes: Loose | None = None
    external_disk_space_free_bytes: Loose | None = None
    cpu: Loose | None = None
    system_memory_available_bytes: Loose | None = None
    system_memory_low: bool | None = None
    system_memory_threshold_bytes: Loose | None = None
    application_memory_available_bytes: Loose | None = None
    application_memory_max_bytes: Loose | None = None
    application_memory_total_bytes: Loose | None = None
    # An `Orientation` value, another string, or an integer code.
    device_orientation: str | Int | None = None
    status_bar_orientation: str | Int | None = None


class EventSystemNotificationInfo(Record):
    type: SystemNotificationType | None = None


class EventData(Record):
    """The fields every event's `data` may carry (spec 2.9), plus the output-only ones (spec 2.1)."""

    timestamp_unixtime_ms: Timestamp | None = None
    event_id: Id | None = None
    event_num: Int | None = None
    source_message_id: str | None = None
    session_id: Id | None = None
    session_uuid: str | None = None
    session_start_unixtime_ms: Timestamp | None = None
    event_start_unixtime_ms: Timestamp | None = None
    custom_attributes: dict[str, Scalar] | None = None
    custom_flags: dict[str, Any] | None = None
    location: Location | None = None
    device_current_state: DeviceCurrentState | None = None
    is_goal_defined: bool | None = None
    lifetime_value_change: bool | Int | float | None = None
    lifetime_value_attribute_name: str | None = None
    data_connection_type: str | None = None
    view_controller: str | None = None
    is_main_thread: bool | None = None
    canonical_name: str | None = None
    event_system_notification_info: EventSystemNotificationInfo | None = None
    page_url: str | None = None
    # Output-only: added by mParticle when it forwards raw JSON.
    message_id: StrOrInt | None = None
    message_type: StrOrInt | None = None
    session_start_unixtime: Int | None = None
