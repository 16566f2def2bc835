"""Identity type names, defined once, and the mappings between the three vocabularies that name them.

- The Events API (batches' `user_identities`, `user_identity_change` events) names user identities
  `customer_id`, `other_id_2`, ...; the SDKs also send `customerid` for customer_id.
- IDSync keys user identities `customerid`, `other2`, ... and device identities `ios_idfa`,
  `device_application_stamp`, ... (its `known_identities`); batches carry device identities as
  `device_info` fields (`ios_advertising_id`, ...) and `mp_deviceid`.
- The Profile API names user identities as the Events API does, and device identities its own way
  (`ios_vendor_id`, `google_advertising_id`, ...).

Fermion stores user identities under their Events API names and device identities under their IDSync
names (the "canonical" names). The names of `model.batch.UserIdentities`'s fields and
`model.enums.IdentityType` are the wire schema's and must list the same user types.
"""

from __future__ import annotations

from typing import Final

# The Events API `IdentityType` user identity names, in the order identity resolution ranks types
# no priority list names (`identity.types.priority_rank`).
USER_TYPES: Final = (
    "customer_id",
    "email",
    "other",
    "facebook",
    "twitter",
    "google",
    "microsoft",
    "yahoo",
    "alias",
    "facebook_custom_audience_id",
    *(f"other_id_{n}" for n in range(2, 11)),
    "mobile_number",
    "phone_number_2",
    "phone_number_3",
)
# The same names in the Profile API's usual order (how profiles list their identities).
PROFILE_USER_ORDER: Final = (
    "customer_id",
    "email",
    "mobile_number",
    "other",
    *(f"other_id_{n}" for n in range(2, 11)),
    "phone_number_2",
    "phone_number_3",
    "facebook",
    "facebook_custom_audience_id",
    "google",
    "twitter",
    "microsoft",
    "yahoo",
    "alias",
)
# IDSync `known_identities` device identity names, in resolution rank order.
DEVICE_TYPES: Final = (
    "ios_idfa",
    "ios_idfv",
    "android_aaid",
    "android_uuid",
    "fire_aid",
    "push_token",
    "amp_id",
    "roku_aid",
    "roku_publisher_id",
    "microsoft_aid",
    "microsoft_publisher_id",
    "device_application_stamp",
)
USER_SET: Final = frozenset(USER_TYPES)
DEVICE_SET: Final = frozenset(DEVICE_TYPES)

SDK_CUSTOMER_ID: Final = "customerid"  # the SDKs' (and IDSync's) spelling of customer_id

# IDSync request keys (spec 1.4) -> Events API names.
IDSYNC_USER_KEYS: Final[dict[str, str]] = {
    SDK_CUSTOMER_ID: "customer_id",
    "facebookcustomaudienceid": "facebook_custom_audience_id",
    **{f"other{n}": f"other_id_{n}" for n in range(2, 11)},
}
# Web SDK convenience keys, rewritten by the SDK itself before sending (websdk identity-utils).
WEB_SDK_KEYS: Final[dict[str, str]] = {"email_sha256": "other", "mobile_sha256": "other_id_2"}
# Events API `device_info` field names (and mp_deviceid) -> IDSync names.
DEVICE_INFO_KEYS: Final[dict[str, str]] = {
    "ios_advertising_id": "ios_idfa",
    "android_advertising_id": "android_aaid",
    "roku_advertising_id": "roku_aid",
    "fire_advertising_id": "fire_aid",
    "microsoft_advertising_id": "microsoft_aid",
    "das": "device_application_stamp",
    "mp_deviceid": "device_application_stamp",
}
# IDSync device names -> Profile API names; "unknown" where the Profile API documents none (the
# docs' example lists such values so).
PROFILE_DEVICE_NAMES: Final[dict[str, str]] = {
    "ios_idfa": "ios_advertising_id",
    "ios_idfv": "ios_vendor_id",
    "android_aaid": "google_advertising_id",
    "android_uuid": "android_id",
    "fire_aid": "fire_advertising_id",
    "push_token": "unknown",
    "amp_id": "unknown",
    "roku_aid": "roku_advertising_id",
    "roku_publisher_id": "roku_publisher_id",
    "microsoft_aid": "microsoft_advertising_id",
    "microsoft_publisher_id": "microsoft_publisher_id",
    "device_application_stamp": "unknown",
}
# Profile API device types preferred for "the" device id of a profile: advertising ids, then vendor ids.
ADVERTISING_IDS: Final = (
    "ios_advertising_id",
    "google_advertising_id",
    "fire_advertising_id",
    "roku_advertising_id",
    "microsoft_advertising_id",
)
VENDOR_IDS: Final = ("ios_vendor_id", "android_id", "roku_publisher_id", "microsoft_publisher_id")

# Any device spelling (device_info, Profile API) -> IDSync name.
_TO_IDSYNC_DEVICE: Final[dict[str, str]] = {
    **DEVICE_INFO_KEYS,
    **{profile: idsync for idsync, profile in PROFILE_DEVICE_NAMES.items() if profile != "unknown"},
}

if frozenset(PROFILE_USER_ORDER) != USER_SET or len(PROFILE_USER_ORDER) != len(USER_TYPES):
    raise AssertionError("PROFILE_USER_ORDER must order USER_TYPES")  # pragma: no cover


def batch_user_type(key: str) -> str:
    """The Events API name of a batch `user_identities` key (`customerid` is customer_id; other keys
    are kept as sent)."""
    return "customer_id" if key == SDK_CUSTOMER_ID else key


def is_device_type(identity_type: str) -> bool:
    return identity_type in DEVICE_SET


def is_user_type(identity_type: str) -> bool:
    """A type of the Events API `IdentityType` enum (the ones `user_identity_change` events carry)."""
    return identity_type in USER_SET


def user_identity_name(id_type: str) -> str | None:
    """The Events API name of a user identity type (either spelling), or None for non-user types."""
    name = IDSYNC_USER_KEYS.get(id_type, id_type)
    return name if name in USER_SET else None


def device_identity_name(id_type: str) -> str | None:
    """The Profile API name of a device identity type (any spelling), or None for non-device types."""
    return PROFILE_DEVICE_NAMES.get(_TO_IDSYNC_DEVICE.get(id_type, id_type))


def lookup_type(id_type: str) -> str | None:
    """The name the identity store keys `id_type` (any spelling) by: Events API names for user
    identities, IDSync names for device identities; None for a name that is neither."""
    name = id_type.strip().lower()
    user = user_identity_name(name)
    if user is not None:
        return user
    name = _TO_IDSYNC_DEVICE.get(name, name)
    return name if name in DEVICE_SET else None


def searchable_types() -> tuple[str, ...]:
    """The identity types a search for "any identity" tries, as the identity store names them."""
    return (*PROFILE_USER_ORDER, *DEVICE_TYPES)
