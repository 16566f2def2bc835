"""Enumerated values of the batch format: the union of spellings accepted on input (spec 2.8, 2.12).

Each set is a ``Literal`` type (used in the struct annotations, so msgspec checks it) plus a frozenset.
"""

from __future__ import annotations

from typing import Literal, get_args

EventType = Literal[
    "custom_event",
    "commerce_event",
    "screen_view",
    "session_start",
    "session_end",
    "uninstall",
    "crash_report",
    "opt_out",
    "push_registration",
    "application_state_transition",
    "push_message",
    "network_performance",
    "breadcrumb",
    "first_run",
    "profile",
    "user_attribute_change",
    "user_identity_change",
    "pre_attribution",
    "push_reaction",
    "unknown",
]
Environment = Literal["production", "development", "unknown"]
CustomEventType = Literal[
    "unknown",
    "navigation",
    "location",
    "search",
    "transaction",
    "user_content",
    "user_preference",
    "social",
    "other",
    "media",
    "attribution",
]
ProductActionType = Literal[
    "unknown",
    "add_to_cart",
    "remove_from_cart",
    "checkout",
    "checkout_option",
    "click",
    "view_detail",
    "purchase",
    "refund",
    "add_to_wishlist",
    "remove_from_wish_list",
]
# commerce_event.custom_event_type (read-only on input): the commerce types, SCHEMA's custom types,
# and the wishlist spellings of both product-action enums.
CommerceEventType = Literal[
    "add_to_cart",
    "remove_from_cart",
    "checkout",
    "checkout_option",
    "click",
    "view_detail",
    "purchase",
    "refund",
    "promotion_view",
    "promotion_click",
    "add_to_wishlist",
    "remove_from_wishlist",
    "remove_from_wish_list",
    "impression",
    "unknown",
    "navigation",
    "location",
    "search",
    "transaction",
    "user_content",
    "user_preference",
    "social",
    "other",
    "media",
    "attribution",
    "consent_granted",
    "consent_denied",
]
PromotionActionType = Literal["unknown", "view", "click"]
ApplicationTransitionType = Literal[
    "unknown",
    "application_initialized",
    "application_exit",
    "application_background",
    "application_foreground",
]
PushMessageType = Literal["unknown", "sent", "received", "action"]
ApplicationState = Literal["unknown", "not_running", "background", "foreground"]
PushMessageBehavior = Literal["Received", "DirectOpen", "Read", "InfluencedOpen", "Displayed"]
ProfileEventType = Literal["unknown", "signup", "login", "logout", "update", "delete"]
DevicePlatform = Literal[
    "Unknown",
    "iOS",
    "Android",
    "web",
    "desktop",
    "tvOS",
    "roku",
    "out_of_band",
    "alexa",
    "smart_tv",
    "fire_tv",
    "xbox",
]
ApplicationOs = Literal[
    "Unknown",
    "IOS",
    "Android",
    "WindowsPhone",
    "MobileWeb",
    "UnityIOS",
    "UnityAndroid",
    "Desktop",
    "TVOS",
    "Roku",
    "OutOfBand",
    "Alexa",
    "SmartTV",
    "FireTV",
    "Xbox",
]
AttAuthorizationStatus = Literal["authorized", "denied", "not_determined", "restricted"]
# Orientations are documented values only: the field also tolerates other strings and integers.
Orientation = Literal[
    "unknown",
    "portrait",
    "portrait_upside_down",
    "landscape",
    "LandscapeLeft",
    "LandscapeRight",
    "FaceUp",
    "FaceDown",
    "Square",
]
SourceChannel = Literal[
    "unknown", "native", "javascript", "pixel", "desktop", "partner", "server_to_server", "All"
]
MediaAction = Literal["unknown", "play", "stop", "update_playback_position", "skip", "rate"]
MediaFormat = Literal["unknown", "audio", "video"]
MediaQuality = Literal["unknown", "low", "sd", "medium", "hd", "ultra_hd"]
SystemNotificationType = Literal["gdpr_change"]
LocationSource = Literal["unknown", "ip_lookup", "lat_long"]
# The OAS/EVM IdentityType (user_identity_change) plus the SDK spelling `customerid`; informational only.
IdentityType = Literal[
    "other",
    "customer_id",
    "customerid",
    "facebook",
    "twitter",
    "google",
    "microsoft",
    "yahoo",
    "email",
    "alias",
    "facebook_custom_audience_id",
    "other_id_2",
    "other_id_3",
    "other_id_4",
    "other_id_5",
    "other_id_6",
    "other_id_7",
    "other_id_8",
    "other_id_9",
    "other_id_10",
    "mobile_number",
    "phone_number_2",
    "phone_number_3",
]

EVENT_TYPES: frozenset[str] = frozenset(get_args(EventType))
ENVIRONMENTS: frozenset[str] = frozenset(get_args(Environment))
CUSTOM_EVENT_TYPES: frozenset[str] = frozenset(get_args(CustomEventType))
PRODUCT_ACTIONS: frozenset[str] = frozenset(get_args(ProductActionType))
COMMERCE_EVENT_TYPES: frozenset[str] = frozenset(get_args(CommerceEventType))
PROMOTION_ACTIONS: frozenset[str] = frozenset(get_args(PromotionActionType))
APPLICATION_TRANSITION_TYPES: frozenset[str] = frozenset(get_args(ApplicationTransitionType))
PUSH_MESSAGE_TYPES: frozenset[str] = frozenset(get_args(PushMessageType))
APPLICATION_STATES: frozenset[str] = frozenset(get_args(ApplicationState))
PUSH_MESSAGE_BEHAVIORS: frozenset[str] = frozenset(get_args(PushMessageBehavior))
PROFILE_EVENT_TYPES: frozenset[str] = frozenset(get_args(ProfileEventType))
DEVICE_PLATFORMS: frozenset[str] = frozenset(get_args(DevicePlatform))
APPLICATION_OSES: frozenset[str] = frozenset(get_args(ApplicationOs))
ATT_AUTHORIZATION_STATUSES: frozenset[str] = frozenset(get_args(AttAuthorizationStatus))
ORIENTATIONS: frozenset[str] = frozenset(get_args(Orientation))
SOURCE_CHANNELS: frozenset[str] = frozenset(get_args(SourceChannel))
MEDIA_ACTIONS: frozenset[str] = frozenset(get_args(MediaAction))
MEDIA_FORMATS: frozenset[str] = frozenset(get_args(MediaFormat))
MEDIA_QUALITIES: frozenset[str] = frozenset(get_args(MediaQuality))
SYSTEM_NOTIFICATION_TYPES: frozenset[str] = frozenset(get_args(SystemNotificationType))
LOCATION_SOURCES: frozenset[str] = frozenset(get_args(LocationSource))
IDENTITY_TYPES: frozenset[str] = frozenset(get_args(IdentityType))
