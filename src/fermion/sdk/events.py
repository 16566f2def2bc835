"""Non-commerce event models; each serialises as `{"event_type": ..., "data": {...}}`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from fermion.sdk import enums
from fermion.sdk._wire import Attributes, Scalar, WireModel, coerce, coerce_optional


@dataclass
class GeoLocation(WireModel):
    """An event's (or the batch context's) location; the extra fields are optional."""

    latitude: float
    longitude: float
    accuracy: float | None = None
    country_code: str | None = None
    region_code: str | None = None
    city_name: str | None = None
    postal_code: str | None = None
    dma_code: int | None = None
    location_source: enums.LocationSource | str | None = None

    LocationSource = enums.LocationSource

    def _coerce(self) -> None:
        self.location_source = coerce_optional(enums.LocationSource, self.location_source)


@dataclass(kw_only=True)
class DeviceCurrentState(WireModel):
    time_since_start_ms: int | None = None
    battery_level: float | None = None
    data_connection_type: str | None = None
    data_connection_type_detail: str | None = None
    gps_state: bool | None = None
    total_system_memory_usage_bytes: int | None = None
    disk_space_free_bytes: int | None = None
    external_disk_space_free_bytes: int | None = None
    cpu: str | None = None
    system_memory_available_bytes: float | None = None
    system_memory_low: bool | None = None
    system_memory_threshold_bytes: float | None = None
    application_memory_available_bytes: float | None = None
    application_memory_max_bytes: float | None = None
    application_memory_total_bytes: float | None = None
    device_orientation: enums.DeviceOrientation | str | int | None = None
    status_bar_orientation: enums.DeviceOrientation | str | int | None = None

    Orientation = enums.DeviceOrientation


@dataclass(kw_only=True)
class Event(WireModel):
    """Base of all events: the fields common to every event's `data` (all keyword-only)."""

    event_type: ClassVar[enums.EventType]

    timestamp_unixtime_ms: int | None = None
    event_id: int | None = None
    source_message_id: str | None = None
    session_id: int | None = None
    session_uuid: str | None = None
    custom_attributes: Attributes | None = None
    custom_flags: Mapping[str, Any] | None = None
    location: GeoLocation | None = None
    device_current_state: DeviceCurrentState | None = None

    def data_dict(self) -> dict[str, Any]:
        """The event's `data` object alone."""
        return super().to_dict()

    def to_dict(self) -> dict[str, Any]:
        return {"event_type": self.event_type.value, "data": self.data_dict()}


@dataclass(kw_only=True)
class MediaInfo(WireModel):
    action: enums.MediaAction | str | None = None
    channel: str | None = None
    metadata: str | None = None
    timed_metadata: str | None = None
    playback_position: float | None = None
    format: enums.MediaFormat | str | None = None
    quality: enums.MediaQuality | str | None = None
    playback_rate: float | None = None

    def _coerce(self) -> None:
        self.action = coerce_optional(enums.MediaAction, self.action)
        self.format = coerce_optional(enums.MediaFormat, self.format)
        self.quality = coerce_optional(enums.MediaQuality, self.quality)


@dataclass
class AppEvent(Event):
    """A custom event (`custom_event`): a named user action of a given type."""

    event_type = enums.EventType.custom_event
    CustomEventType = enums.CustomEventType

    custom_event_type: enums.CustomEventType | str
    event_name: str
    media_info: MediaInfo | None = None

    def _coerce(self) -> None:
        self.custom_event_type = coerce(enums.CustomEventType, self.custom_event_type)

    @classmethod
    def create_attribution_event(cls, publisher: str | None = None, campaign: str | None = None) -> AppEvent:
        return cls(
            enums.CustomEventType.attribution,
            "attribution",
            custom_attributes={"campaign": campaign, "publisher": publisher},
        )

    @classmethod
    def create_attribution_delete_event(cls) -> AppEvent:
        return cls(enums.CustomEventType.attribution, "attribution", custom_attributes={"action": "delete"})


@dataclass
class ScreenViewEvent(Event):
    event_type = enums.EventType.screen_view

    screen_name: str
    activity_type: str | None = None


@dataclass
class SessionStartEvent(Event):
    event_type = enums.EventType.session_start


@dataclass
class SessionEndEvent(Event):
    event_type = enums.EventType.session_end

    session_duration_ms: int | None = None


@dataclass
class FirstRunEvent(Event):
    event_type = enums.EventType.first_run


@dataclass
class UninstallEvent(Event):
    event_type = enums.EventType.uninstall


@dataclass
class CrashReportEvent(Event):
    """A crash report, sent as `crash_report` (the official Python SDK wrongly sends `commerce_event`)."""

    event_type = enums.EventType.crash_report

    breadcrumbs: Sequence[str] | None = None
    class_name: str | None = None
    severity: str | None = None
    message: str | None = None
    stack_trace: str | None = None
    exception_handled: bool | None = None
    topmost_context: str | None = None
    pl_crash_report_file_base64: str | None = None
    ios_image_base_address: int | None = None
    ios_image_size: int | None = None
    session_number: int | None = None


@dataclass
class BreadcrumbEvent(Event):
    event_type = enums.EventType.breadcrumb

    label: str
    session_number: int | None = None


@dataclass
class OptOutEvent(Event):
    event_type = enums.EventType.opt_out

    is_opted_out: bool


@dataclass
class PushRegistrationEvent(Event):
    event_type = enums.EventType.push_registration

    registration_token: str
    register: bool = True


@dataclass
class PushMessageEvent(Event):
    event_type = enums.EventType.push_message
    PushMessageType = enums.PushMessageType
    ApplicationState = enums.ApplicationState
    PushMessageBehavior = enums.PushMessageBehavior

    push_message_type: enums.PushMessageType | str
    push_message_token: str | None = None
    message: str | None = None
    network: str | None = None
    push_notification_payload: str | None = None
    application_state: enums.ApplicationState | str | None = None
    action_identifier: str | None = None
    push_message_behavior: enums.PushMessageBehavior | str | int | None = None

    def _coerce(self) -> None:
        self.push_message_type = coerce(enums.PushMessageType, self.push_message_type)
        self.application_state = coerce_optional(enums.ApplicationState, self.application_state)


@dataclass
class NetworkPerformanceEvent(Event):
    event_type = enums.EventType.network_performance

    url: str
    response_code: int
    http_verb: str | None = None
    time_elapsed: int | None = None
    bytes_in: int | None = None
    bytes_out: int | None = None
    data: str | None = None


@dataclass
class ApplicationStateTransitionEvent(Event):
    event_type = enums.EventType.application_state_transition
    TransitionType = enums.ApplicationTransitionType

    application_transition_type: enums.ApplicationTransitionType | str
    is_first_run: bool | None = None
    is_upgrade: bool | None = None
    successfully_closed: bool | None = None
    push_notification_payload: str | None = None
    launch_referral: str | None = None

    def _coerce(self) -> None:
        self.application_transition_type = coerce(
            enums.ApplicationTransitionType, self.application_transition_type
        )

    @classmethod
    def create_install_event(cls) -> ApplicationStateTransitionEvent:
        return cls(
            enums.ApplicationTransitionType.application_initialized, is_first_run=True, is_upgrade=False
        )

    @classmethod
    def create_upgrade_event(cls) -> ApplicationStateTransitionEvent:
        return cls(
            enums.ApplicationTransitionType.application_initialized, is_first_run=False, is_upgrade=True
        )

    @classmethod
    def create_foreground_event(cls) -> ApplicationStateTransitionEvent:
        return cls(enums.ApplicationTransitionType.application_foreground)

    @classmethod
    def create_background_event(cls) -> ApplicationStateTransitionEvent:
        return cls(enums.ApplicationTransitionType.application_background)


@dataclass
class ProfileEvent(Event):
    event_type = enums.EventType.profile
    ProfileEventType = enums.ProfileEventType

    profile_event_type: enums.ProfileEventType | str
    previous_mpid: int | None = None
    current_mpid: int | None = None
    profile_name: str | None = None
    previous_profile_name: str | None = None

    def _coerce(self) -> None:
        self.profile_event_type = coerce(enums.ProfileEventType, self.profile_event_type)


@dataclass
class UserAttributeChangeEvent(Event):
    """A user attribute change; `new`/`old` are a scalar or a list of strings (None is omitted)."""

    event_type = enums.EventType.user_attribute_change

    user_attribute_name: str
    new: Scalar | Sequence[str] = None
    old: Scalar | Sequence[str] = None
    deleted: bool | None = None
    is_new_attribute: bool | None = None


@dataclass
class UserIdentity(WireModel):
    """One identity as carried by `user_identity_change` (`identity_type` uses `customer_id`)."""

    IdentityType = enums.IdentityType

    identity_type: enums.IdentityType | str
    identity: str | None
    timestamp_unixtime_ms: int | None = None
    created_this_batch: bool | None = None

    def _coerce(self) -> None:
        self.identity_type = coerce(enums.IdentityType, self.identity_type)


@dataclass
class UserIdentityChangeEvent(Event):
    event_type = enums.EventType.user_identity_change

    new: UserIdentity | None = None
    old: UserIdentity | None = None
