"""The top-level batch of the Events API (spec 2.1-2.7) and its nested objects.

Every struct keeps unknown JSON keys in `extra` (see `fermion.model.codec`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from fermion.model.enums import (
    ApplicationOs,
    AttAuthorizationStatus,
    DevicePlatform,
    Environment,
    SourceChannel,
)
from fermion.model.events import Event
from fermion.model.events_common import Id, Int, Location, Number, Record, StrOrInt, Timestamp

__all__ = [
    "ApplicationInfo",
    "AttributionInfo",
    "Batch",
    "Consent",
    "ConsentState",
    "Context",
    "DataPlanContext",
    "DeviceInfo",
    "Location",
    "SourceInfo",
    "UserIdentities",
]


class UserIdentities(Record):
    """`user_identities` (spec 2.2). `customerid` (SDKs) and `customer_id` (docs) are both kept as sent."""

    other: str | None = None
    customerid: str | None = None
    customer_id: str | None = None
    facebook: str | None = None
    twitter: str | None = None
    google: str | None = None
    microsoft: str | None = None
    yahoo: str | None = None
    email: str | None = None
    alias: str | None = None
    facebook_custom_audience_id: str | None = None
    other_id_2: str | None = None
    other_id_3: str | None = None
    other_id_4: str | None = None
    other_id_5: str | None = None
    other_id_6: str | None = None
    other_id_7: str | None = None
    other_id_8: str | None = None
    other_id_9: str | None = None
    other_id_10: str | None = None
    mobile_number: str | None = None
    phone_number_2: str | None = None
    phone_number_3: str | None = None


class DeviceInfo(Record):
    """`device_info` (spec 2.3)."""

    brand: str | None = None
    product: str | None = None
    device: str | None = None
    android_uuid: str | None = None
    device_manufacturer: str | None = None
    platform: DevicePlatform | None = None
    os_version: str | None = None
    device_model: str | None = None
    screen_height: Int | None = None
    screen_width: Int | None = None
    screen_dpi: Int | None = None
    device_country: str | None = None
    locale_language: str | None = None
    locale_country: str | None = None
    network_country: str | None = None
    network_carrier: str | None = None
    network_code: StrOrInt | None = None
    network_mobile_country_code: StrOrInt | None = None
    timezone_offset: Number | None = None
    build_identifier: str | None = None
    http_header_user_agent: str | None = None
    ios_advertising_id: str | None = None
    att_authorization_status: AttAuthorizationStatus | None = None
    att_timestamp_unixtime_ms: Timestamp | None = None
    push_token: str | None = None
    cpu_architecture: str | None = None
    is_tablet: bool | None = None
    push_notification_sound_enabled: bool | None = None
    push_notification_vibrate_enabled: bool | None = None
    radio_access_technology: str | None = None
    supports_telephony: bool | str | None = None
    has_nfc: bool | None = None
    bluetooth_enabled: bool | None = None
    bluetooth_version: str | None = None
    ios_idfv: str | None = None
    android_advertising_id: str | None = None
    build_version_release: str | None = None
    limit_ad_tracking: bool | None = None
    amp_id: str | None = None
    is_dst: bool | None = None
    roku_advertising_id: str | None = None
    roku_publisher_id: str | None = None
    microsoft_advertising_id: str | None = None
    microsoft_publisher_id: str | None = None
    fire_advertising_id: str | None = None


class ApplicationInfo(Record):
    """`application_info` (spec 2.4)."""

    application_name: str | None = None
    application_version: str | None = None
    application_build_number: str | None = None
    install_referrer: str | None = None
    package: str | None = None
    os: ApplicationOs | None = None
    apple_search_ads_attributes: dict[str, dict[str, Any]] | None = None
    sideloaded_kits_count: Int | None = None


class Consent(Record):
    """One purpose's consent (spec 2.6). For CCPA `data_sale_opt_out`, consented=true means opted out."""

    consented: bool | None = None
    document: str | None = None
    timestamp_unixtime_ms: Timestamp | None = None
    location: str | None = None
    hardware_id: str | None = None
    regulation: str | None = None  # SCHEMA
    purpose: str | None = None  # EVM (GDPR)


class ConsentState(Record):
    """`consent_state`: GDPR purposes and CCPA (`data_sale_opt_out`), each a map purpose -> Consent."""

    gdpr: dict[str, Consent] | None = None
    ccpa: dict[str, Consent] | None = None


class DataPlanContext(Record):
    plan_id: str | None = None
    plan_version: Int | None = None


class Context(Record):
    """`context` (spec 2.7): the data plan to validate against and the batch location."""

    data_plan: DataPlanContext | None = None
    location: Location | None = None


class SourceInfo(Record):
    """`source_info`, filled in on receipt."""

    channel: SourceChannel | None = None
    partner: str | None = None
    replay_request_id: str | None = None
    replay_job_id: str | None = None
    is_historical: bool | None = None


class AttributionInfo(Record):
    service_provider: str | None = None
    publisher: str | None = None
    campaign: str | None = None


class Batch(Record):
    """One user's batch of events (the body of `POST /v2/events`). Every field is optional."""

    events: list[Event] = msgspec.field(default_factory=list)
    environment: Environment | None = None  # missing means production; normalized downstream
    source_request_id: str | None = None
    schema_version: Int | None = None
    device_info: DeviceInfo | None = None
    application_info: ApplicationInfo | None = None
    user_attributes: dict[str, Any] | None = None
    deleted_user_attributes: list[str] | None = None
    user_identities: UserIdentities | None = None
    partner_identities: dict[str, str] | None = None
    partner_identity: str | None = None
    integration_attributes: dict[str, dict[str, Any]] | None = None
    context: Context | None = None
    consent_state: ConsentState | None = None
    mpid: Id | None = None
    mp_deviceid: str | None = None
    ip: str | None = None
    api_key: str | None = None
    api_keys: list[str] | None = None
    source_info: SourceInfo | None = None
    attribution_info: AttributionInfo | None = None
    timestamp_unixtime_ms: Timestamp | None = None
    batch_id: Id | None = None
    origin_mpid: Id | None = None
    sdk_version: str | None = None
    job_id: str | None = None
    modified: bool | None = None
    # Output-only.
    unique_id: str | None = None
    system_notifications: list[Any] | None = None
