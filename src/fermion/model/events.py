"""Events: one data struct and one envelope struct per `event_type` (spec 2.8-2.10).

`Event` is the tagged union of the envelopes; the wire form is `{"event_type": ..., "data": {...}}`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, get_args, get_type_hints

import msgspec

from fermion.model.enums import (
    ApplicationState,
    ApplicationTransitionType,
    CustomEventType,
    MediaAction,
    MediaFormat,
    MediaQuality,
    ProfileEventType,
    PushMessageBehavior,
    PushMessageType,
)
from fermion.model.events_commerce import (
    CommerceEventData,
    Product,
    ProductAction,
    ProductImpression,
    Promotion,
    PromotionAction,
    ShoppingCart,
)
from fermion.model.events_common import (
    DeviceCurrentState,
    EventData,
    EventSystemNotificationInfo,
    Id,
    Int,
    Location,
    Number,
    Record,
    StrOrInt,
    Timestamp,
)

__all__ = [
    "EVENT_CLASSES",
    "EVENT_DATA_CLASSES",
    "ApplicationStateTransitionData",
    "ApplicationStateTransitionEvent",
    "BreadcrumbData",
    "BreadcrumbEvent",
    "CommerceEvent",
    "CommerceEventData",
    "CrashReportData",
    "CrashReportEvent",
    "CustomEvent",
    "CustomEventData",
    "DeviceCurrentState",
    "Event",
    "EventBase",
    "EventData",
    "EventSystemNotificationInfo",
    "FirstRunData",
    "FirstRunEvent",
    "Location",
    "MediaInfo",
    "NetworkPerformanceData",
    "NetworkPerformanceEvent",
    "OptOutData",
    "OptOutEvent",
    "PreAttributionData",
    "PreAttributionEvent",
    "Product",
    "ProductAction",
    "ProductImpression",
    "ProfileData",
    "ProfileEvent",
    "Promotion",
    "PromotionAction",
    "PushMessageData",
    "PushMessageEvent",
    "PushReactionData",
    "PushReactionEvent",
    "PushRegistrationData",
    "PushRegistrationEvent",
    "ScreenViewData",
    "ScreenViewEvent",
    "SessionEndData",
    "SessionEndEvent",
    "SessionStartData",
    "SessionStartEvent",
    "ShoppingCart",
    "UninstallData",
    "UninstallEvent",
    "UnknownEvent",
    "UnknownEventData",
    "UserAttributeChangeData",
    "UserAttributeChangeEvent",
    "UserIdentity",
    "UserIdentityChangeData",
    "UserIdentityChangeEvent",
    "make_event",
]

# ---------------------------------------------------------------------------------------------- data


class MediaInfo(Record):
    action: MediaAction | None = None
    channel: str | None = None
    metadata: Any = None
    timed_metadata: Any = None
    playback_position: Number | None = None
    format: MediaFormat | None = None
    quality: MediaQuality | None = None
    playback_rate: Number | None = None


class CustomEventData(EventData):
    event_name: str | None = None
    custom_event_type: CustomEventType | None = None
    media_info: MediaInfo | None = None


class ScreenViewData(EventData):
    screen_name: str | None = None
    activity_type: str | None = None


class SessionStartData(EventData):
    pass


class SessionEndData(EventData):
    session_duration_ms: Int | None = None


class UninstallData(EventData):
    pass


class FirstRunData(EventData):
    pass


class CrashReportData(EventData):
    # JSONREF: breadcrumb event objects; EVM/OAS: strings. Kept as sent.
    breadcrumbs: list[Any] | None = None
    class_name: str | None = None
    severity: str | None = None
    message: str | None = None
    stack_trace: str | None = None
    exception_handled: bool | None = None
    topmost_context: str | None = None
    pl_crash_report_file_base64: str | None = None
    ios_image_base_address: StrOrInt | None = None
    ios_image_size: Int | None = None
    session_number: Int | None = None


class BreadcrumbData(EventData):
    session_number: Int | None = None
    label: str | None = None


class OptOutData(EventData):
    is_opted_out: bool | None = None


class PushRegistrationData(EventData):
    register: bool | None = None
    registration_token: str | None = None


class PushMessageData(EventData):
    push_message_token: str | None = None
    push_message_type: PushMessageType | None = None
    message: str | None = None
    network: str | None = None
    push_notification_payload: str | None = None
    application_state: ApplicationState | None = None
    action_identifier: str | None = None
    # An enum string (SCHEMA/OAS/EVM) or an integer bitmask (JSONREF).
    push_message_behavior: PushMessageBehavior | Int | None = None


class NetworkPerformanceData(EventData):
    http_verb: str | None = None
    url: str | None = None
    time_elapsed: Number | None = None
    bytes_in: Int | None = None
    bytes_out: Int | None = None
    response_code: StrOrInt | None = None
    data: str | None = None


class ApplicationStateTransitionData(EventData):
    application_transition_type: ApplicationTransitionType | None = None
    is_first_run: bool | None = None
    is_upgrade: bool | None = None
    successfully_closed: bool | None = None
    push_notification_payload: str | None = None
    launch_referral: str | None = None


class UserAttributeChangeData(EventData):
    user_attribute_name: str | None = None
    new: Any = None  # a scalar or a list of strings
    old: Any = None
    deleted: bool | None = None
    is_new_attribute: bool | None = None


class UserIdentity(Record):
    """One identity as in `user_identity_change` and outbound `user_identities` arrays."""

    identity_type: str | None = None  # an `IdentityType` value, not enforced
    identity: str | None = None
    timestamp_unixtime_ms: Timestamp | None = None
    created_this_batch: bool | None = None


class UserIdentityChangeData(EventData):
    new: UserIdentity | None = None
    old: UserIdentity | None = None


class ProfileData(EventData):
    profile_event_type: ProfileEventType | None = None
    previous_mpid: Id | None = None
    current_mpid: Id | None = None
    profile_name: str | None = None  # sent by the Python SDK
    previous_profile_name: str | None = None


class PreAttributionData(EventData):
    pass


class PushReactionData(EventData):
    pass


class UnknownEventData(EventData):
    pass


# ----------------------------------------------------------------------------------------- envelopes


class EventBase(Record, tag_field="event_type"):
    """Base of the envelopes. `event_type` is the msgspec tag, exposed as a class attribute."""

    event_type: ClassVar[str]


class CustomEvent(EventBase, tag="custom_event"):
    event_type: ClassVar[Literal["custom_event"]] = "custom_event"
    data: CustomEventData = msgspec.field(default_factory=CustomEventData)


class CommerceEvent(EventBase, tag="commerce_event"):
    event_type: ClassVar[Literal["commerce_event"]] = "commerce_event"
    data: CommerceEventData = msgspec.field(default_factory=CommerceEventData)


class ScreenViewEvent(EventBase, tag="screen_view"):
    event_type: ClassVar[Literal["screen_view"]] = "screen_view"
    data: ScreenViewData = msgspec.field(default_factory=ScreenViewData)


class SessionStartEvent(EventBase, tag="session_start"):
    event_type: ClassVar[Literal["session_start"]] = "session_start"
    data: SessionStartData = msgspec.field(default_factory=SessionStartData)


class SessionEndEvent(EventBase, tag="session_end"):
    event_type: ClassVar[Literal["session_end"]] = "session_end"
    data: SessionEndData = msgspec.field(default_factory=SessionEndData)


class UninstallEvent(EventBase, tag="uninstall"):
    event_type: ClassVar[Literal["uninstall"]] = "uninstall"
    data: UninstallData = msgspec.field(default_factory=UninstallData)


class FirstRunEvent(EventBase, tag="first_run"):
    event_type: ClassVar[Literal["first_run"]] = "first_run"
    data: FirstRunData = msgspec.field(default_factory=FirstRunData)


class CrashReportEvent(EventBase, tag="crash_report"):
    event_type: ClassVar[Literal["crash_report"]] = "crash_report"
    data: CrashReportData = msgspec.field(default_factory=CrashReportData)


class BreadcrumbEvent(EventBase, tag="breadcrumb"):
    event_type: ClassVar[Literal["breadcrumb"]] = "breadcrumb"
    data: BreadcrumbData = msgspec.field(default_factory=BreadcrumbData)


class OptOutEvent(EventBase, tag="opt_out"):
    event_type: ClassVar[Literal["opt_out"]] = "opt_out"
    data: OptOutData = msgspec.field(default_factory=OptOutData)


class PushRegistrationEvent(EventBase, tag="push_registration"):
    event_type: ClassVar[Literal["push_registration"]] = "push_registration"
    data: PushRegistrationData = msgspec.field(default_factory=PushRegistrationData)


class PushMessageEvent(EventBase, tag="push_message"):
    event_type: ClassVar[Literal["push_message"]] = "push_message"
    data: PushMessageData = msgspec.field(default_factory=PushMessageData)


class NetworkPerformanceEvent(EventBase, tag="network_performance"):
    event_type: ClassVar[Literal["network_performance"]] = "network_performance"
    data: NetworkPerformanceData = msgspec.field(default_factory=NetworkPerformanceData)


class ApplicationStateTransitionEvent(EventBase, tag="application_state_transition"):
    event_type: ClassVar[Literal["application_state_transition"]] = "application_state_transition"
    data: ApplicationStateTransitionData = msgspec.field(default_factory=ApplicationStateTransitionData)


class UserAttributeChangeEvent(EventBase, tag="user_attribute_change"):
    event_type: ClassVar[Literal["user_attribute_change"]] = "user_attribute_change"
    data: UserAttributeChangeData = msgspec.field(default_factory=UserAttributeChangeData)


class UserIdentityChangeEvent(EventBase, tag="user_identity_change"):
    event_type: ClassVar[Literal["user_identity_change"]] = "user_identity_change"
    data: UserIdentityChangeData = msgspec.field(default_factory=UserIdentityChangeData)


class ProfileEvent(EventBase, tag="profile"):
    event_type: ClassVar[Literal["profile"]] = "profile"
    data: ProfileData = msgspec.field(default_factory=ProfileData)


class PreAttributionEvent(EventBase, tag="pre_attribution"):
    event_type: ClassVar[Literal["pre_attribution"]] = "pre_attribution"
    data: PreAttributionData = msgspec.field(default_factory=PreAttributionData)


class PushReactionEvent(EventBase, tag="push_reaction"):
    event_type: ClassVar[Literal["push_reaction"]] = "push_reaction"
    data: PushReactionData = msgspec.field(default_factory=PushReactionData)


class UnknownEvent(EventBase, tag="unknown"):
    event_type: ClassVar[Literal["unknown"]] = "unknown"
    data: UnknownEventData = msgspec.field(default_factory=UnknownEventData)


Event = (
    CustomEvent
    | CommerceEvent
    | ScreenViewEvent
    | SessionStartEvent
    | SessionEndEvent
    | UninstallEvent
    | FirstRunEvent
    | CrashReportEvent
    | BreadcrumbEvent
    | OptOutEvent
    | PushRegistrationEvent
    | PushMessageEvent
    | NetworkPerformanceEvent
    | ApplicationStateTransitionEvent
    | UserAttributeChangeEvent
    | UserIdentityChangeEvent
    | ProfileEvent
    | PreAttributionEvent
    | PushReactionEvent
    | UnknownEvent
)

EVENT_CLASSES: dict[str, type[Event]] = {cls.event_type: cls for cls in get_args(Event)}
EVENT_DATA_CLASSES: dict[str, type[EventData]] = {
    name: get_type_hints(cls)["data"] for name, cls in EVENT_CLASSES.items()
}


def make_event(event_type: str, data: EventData | None = None, **extra: Any) -> Event:
    """Build the envelope for `event_type` (a key of `EVENT_CLASSES`) around `data`."""
    cls = EVENT_CLASSES[event_type]
    if data is None:
        data = EVENT_DATA_CLASSES[event_type]()
    if type(data) is not EVENT_DATA_CLASSES[event_type]:
        raise TypeError(f"{event_type} events need {EVENT_DATA_CLASSES[event_type].__name__} data")
    return cls(data=data, extra=dict(extra))  # type: ignore[arg-type]
