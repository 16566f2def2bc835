"""Enumerations of the Events API wire format; member values are the exact strings sent."""

from __future__ import annotations

from enum import StrEnum


class Environment(StrEnum):
    development = "development"
    production = "production"


class EventType(StrEnum):
    custom_event = "custom_event"
    commerce_event = "commerce_event"
    screen_view = "screen_view"
    session_start = "session_start"
    session_end = "session_end"
    uninstall = "uninstall"
    crash_report = "crash_report"
    opt_out = "opt_out"
    push_registration = "push_registration"
    application_state_transition = "application_state_transition"
    push_message = "push_message"
    network_performance = "network_performance"
    breadcrumb = "breadcrumb"
    first_run = "first_run"
    profile = "profile"
    user_attribute_change = "user_attribute_change"
    user_identity_change = "user_identity_change"


class CustomEventType(StrEnum):
    unknown = "unknown"
    navigation = "navigation"
    location = "location"
    search = "search"
    transaction = "transaction"
    user_content = "user_content"
    user_preference = "user_preference"
    social = "social"
    other = "other"
    media = "media"
    attribution = "attribution"


class ProductActionType(StrEnum):
    unknown = "unknown"
    add_to_cart = "add_to_cart"
    remove_from_cart = "remove_from_cart"
    checkout = "checkout"
    checkout_option = "checkout_option"
    click = "click"
    view_detail = "view_detail"
    purchase = "purchase"
    refund = "refund"
    add_to_wishlist = "add_to_wishlist"
    remove_from_wish_list = "remove_from_wish_list"


class PromotionActionType(StrEnum):
    unknown = "unknown"
    view = "view"
    click = "click"


class ApplicationTransitionType(StrEnum):
    unknown = "unknown"
    application_initialized = "application_initialized"
    application_exit = "application_exit"
    application_background = "application_background"
    application_foreground = "application_foreground"


class PushMessageType(StrEnum):
    unknown = "unknown"
    sent = "sent"
    received = "received"
    action = "action"


class ApplicationState(StrEnum):
    unknown = "unknown"
    not_running = "not_running"
    background = "background"
    foreground = "foreground"


class PushMessageBehavior(StrEnum):
    received = "Received"
    direct_open = "DirectOpen"
    read = "Read"
    influenced_open = "InfluencedOpen"
    displayed = "Displayed"


class ProfileEventType(StrEnum):
    unknown = "unknown"
    signup = "signup"
    login = "login"
    logout = "logout"
    update = "update"
    delete = "delete"


class IdentityType(StrEnum):
    other = "other"
    customer_id = "customer_id"
    facebook = "facebook"
    twitter = "twitter"
    google = "google"
    microsoft = "microsoft"
    yahoo = "yahoo"
    email = "email"
    alias = "alias"
    facebook_custom_audience_id = "facebook_custom_audience_id"
    other_id_2 = "other_id_2"
    other_id_3 = "other_id_3"
    other_id_4 = "other_id_4"
    other_id_5 = "other_id_5"
    other_id_6 = "other_id_6"
    other_id_7 = "other_id_7"
    other_id_8 = "other_id_8"
    other_id_9 = "other_id_9"
    other_id_10 = "other_id_10"
    mobile_number = "mobile_number"
    phone_number_2 = "phone_number_2"
    phone_number_3 = "phone_number_3"


class Platform(StrEnum):
    unknown = "Unknown"
    ios = "iOS"
    android = "Android"
    web = "web"
    desktop = "desktop"
    tvos = "tvOS"
    roku = "roku"
    out_of_band = "out_of_band"
    alexa = "alexa"
    smart_tv = "smart_tv"
    fire_tv = "fire_tv"
    xbox = "xbox"


class ApplicationOS(StrEnum):
    unknown = "Unknown"
    ios = "IOS"
    android = "Android"
    windows_phone = "WindowsPhone"
    mobile_web = "MobileWeb"
    unity_ios = "UnityIOS"
    unity_android = "UnityAndroid"
    desktop = "Desktop"
    tvos = "TVOS"
    roku = "Roku"
    out_of_band = "OutOfBand"
    alexa = "Alexa"
    smart_tv = "SmartTV"
    fire_tv = "FireTV"
    xbox = "Xbox"


class ATTAuthorizationStatus(StrEnum):
    authorized = "authorized"
    denied = "denied"
    not_determined = "not_determined"
    restricted = "restricted"


class DeviceOrientation(StrEnum):
    unknown = "unknown"
    portrait = "portrait"
    portrait_upside_down = "portrait_upside_down"
    landscape = "landscape"
    landscape_left = "LandscapeLeft"
    landscape_right = "LandscapeRight"
    face_up = "FaceUp"
    face_down = "FaceDown"
    square = "Square"


class LocationSource(StrEnum):
    unknown = "unknown"
    ip_lookup = "ip_lookup"
    lat_long = "lat_long"


class MediaAction(StrEnum):
    unknown = "unknown"
    play = "play"
    stop = "stop"
    update_playback_position = "update_playback_position"
    skip = "skip"
    rate = "rate"


class MediaFormat(StrEnum):
    unknown = "unknown"
    audio = "audio"
    video = "video"


class MediaQuality(StrEnum):
    unknown = "unknown"
    low = "low"
    sd = "sd"
    medium = "medium"
    hd = "hd"
    ultra_hd = "ultra_hd"
