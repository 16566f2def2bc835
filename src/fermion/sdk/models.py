"""The batch and its user-level parts: identities, device and application info, consent, context."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fermion.sdk import enums
from fermion.sdk._wire import Scalar, WireModel, coerce, coerce_optional
from fermion.sdk.events import Event, GeoLocation

#: A user attribute value: a scalar or a list of strings.
UserAttributeValue = Scalar | Sequence[str]


@dataclass(kw_only=True)
class UserIdentities(WireModel):
    """User identities; the customer ID goes out as `customerid`, exactly as the official SDKs send it."""

    customerid: str | None = None
    email: str | None = None
    other: str | None = None
    other_id_2: str | None = None
    other_id_3: str | None = None
    other_id_4: str | None = None
    other_id_5: str | None = None
    other_id_6: str | None = None
    other_id_7: str | None = None
    other_id_8: str | None = None
    other_id_9: str | None = None
    other_id_10: str | None = None
    facebook: str | None = None
    twitter: str | None = None
    google: str | None = None
    microsoft: str | None = None
    yahoo: str | None = None
    alias: str | None = None
    mobile_number: str | None = None
    phone_number_2: str | None = None
    phone_number_3: str | None = None
    facebook_custom_audience_id: str | None = None


@dataclass(kw_only=True)
class DeviceInformation(WireModel):
    Platform = enums.Platform
    ATTAuthorizationStatus = enums.ATTAuthorizationStatus

    brand: str | None = None
    product: str | None = None
    device: str | None = None
    android_uuid: str | None = None
    device_manufacturer: str | None = None
    platform: enums.Platform | str | None = None
    os_version: str | None = None
    device_model: str | None = None
    screen_height: int | None = None
    screen_width: int | None = None
    screen_dpi: int | None = None
    device_country: str | None = None
    locale_language: str | None = None
    locale_country: str | None = None
    network_country: str | None = None
    network_carrier: str | None = None
    network_code: str | None = None
    network_mobile_country_code: str | None = None
    timezone_offset: int | None = None
    build_identifier: str | None = None
    http_header_user_agent: str | None = None
    ios_advertising_id: str | None = None
    att_authorization_status: enums.ATTAuthorizationStatus | str | None = None
    att_timestamp_unixtime_ms: int | None = None
    push_token: str | None = None
    cpu_architecture: str | None = None
    is_tablet: bool | None = None
    push_notification_sound_enabled: bool | None = None
    push_notification_vibrate_enabled: bool | None = None
    radio_access_technology: str | None = None
    supports_telephony: bool | None = None
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

    def _coerce(self) -> None:
        self.platform = coerce_optional(enums.Platform, self.platform)
        self.att_authorization_status = coerce_optional(
            enums.ATTAuthorizationStatus, self.att_authorization_status
        )


@dataclass(kw_only=True)
class ApplicationInformation(WireModel):
    OS = enums.ApplicationOS

    application_name: str | None = None
    application_version: str | None = None
    application_build_number: str | None = None
    install_referrer: str | None = None
    package: str | None = None
    os: enums.ApplicationOS | str | None = None
    apple_search_ads_attributes: Mapping[str, Mapping[str, str]] | None = None

    def _coerce(self) -> None:
        self.os = coerce_optional(enums.ApplicationOS, self.os)


@dataclass
class GDPRConsentState(WireModel):
    document: str | None = None
    consented: bool | None = None
    timestamp_unixtime_ms: int | None = None
    location: str | None = None
    hardware_id: str | None = None


@dataclass
class CCPAConsentState(WireModel):
    """CCPA consent; `consented=True` means the user opted out of data sale."""

    document: str | None = None
    consented: bool | None = None
    timestamp_unixtime_ms: int | None = None
    location: str | None = None
    hardware_id: str | None = None


#: The one purpose CCPA consent may be recorded under.
CCPA_PURPOSE = "data_sale_opt_out"


@dataclass
class ConsentState(WireModel):
    """GDPR consent by purpose and CCPA consent under `data_sale_opt_out`; both maps are always sent."""

    gdpr: dict[str, GDPRConsentState] = field(default_factory=dict)
    ccpa: dict[str, CCPAConsentState] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        unknown = sorted(set(self.ccpa) - {CCPA_PURPOSE})
        if unknown:
            raise ValueError(f"CCPA consent allows only the purpose {CCPA_PURPOSE!r}, not {unknown}")
        return super().to_dict()


@dataclass
class DataPlanContext(WireModel):
    plan_id: str
    plan_version: int | None = None


@dataclass
class BatchContext(WireModel):
    data_plan: DataPlanContext | None = None
    location: GeoLocation | None = None


@dataclass
class AttributionInfo(WireModel):
    service_provider: str
    publisher: str
    campaign: str


@dataclass
class Batch(WireModel):
    """Everything sent for one user in one upload: `Batch(Batch.Environment.development)`."""

    Environment = enums.Environment

    environment: enums.Environment | str
    events: list[Event] = field(default_factory=list, kw_only=True)
    source_request_id: str | None = field(default=None, kw_only=True)
    schema_version: int | None = field(default=None, kw_only=True)
    user_identities: UserIdentities | None = field(default=None, kw_only=True)
    device_info: DeviceInformation | None = field(default=None, kw_only=True)
    application_info: ApplicationInformation | None = field(default=None, kw_only=True)
    user_attributes: Mapping[str, UserAttributeValue] | None = field(default=None, kw_only=True)
    deleted_user_attributes: list[str] | None = field(default=None, kw_only=True)
    consent_state: ConsentState | None = field(default=None, kw_only=True)
    integration_attributes: Mapping[str, Mapping[str, str]] | None = field(default=None, kw_only=True)
    partner_identities: Mapping[str, str] | None = field(default=None, kw_only=True)
    attribution_info: AttributionInfo | None = field(default=None, kw_only=True)
    mpid: int | None = field(default=None, kw_only=True)
    mp_deviceid: str | None = field(default=None, kw_only=True)
    ip: str | None = field(default=None, kw_only=True)
    context: BatchContext | None = field(default=None, kw_only=True)

    def _coerce(self) -> None:
        self.environment = coerce(enums.Environment, self.environment)

    def add_event(self, event: Event) -> None:
        if not isinstance(event, Event):
            raise TypeError(f"expected an Event, got {type(event).__name__}")
        self.events.append(event)

    def to_dict(self) -> dict[str, Any]:
        """The Events API JSON object; `events` is left out when there are none, as the SDKs do."""
        for event in self.events:
            if not isinstance(event, Event):
                raise TypeError(f"Batch.events holds a {type(event).__name__}, not an Event")
        out = super().to_dict()
        if not self.events:
            out.pop("events", None)
        return out
