"""Identity type names across the wire formats: IDSync keys, Events API names and Profile API names.

IDSync says `customerid`, `other2`, `ios_idfa`; the Events API and the Profile API say `customer_id`,
`other_id_2`; device identifiers are `device_info` field names in batches and get their own names in
the Profile API (`ios_vendor_id`, `google_advertising_id`, ...).
"""

from __future__ import annotations

# Events API / Profile API user identity names, in the Profile API's usual order.
USER_IDENTITY_TYPES = (
    "customer_id",
    "email",
    "mobile_number",
    "other",
    "other_id_2",
    "other_id_3",
    "other_id_4",
    "other_id_5",
    "other_id_6",
    "other_id_7",
    "other_id_8",
    "other_id_9",
    "other_id_10",
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

_IDSYNC_USER_KEYS = {
    "customerid": "customer_id",
    "facebookcustomaudienceid": "facebook_custom_audience_id",
    **{f"other{n}": f"other_id_{n}" for n in range(2, 11)},
}

# IDSync keys and batch device_info field names -> Profile API device identity type.
_DEVICE_TYPES = {
    "ios_idfa": "ios_advertising_id",
    "ios_advertising_id": "ios_advertising_id",
    "ios_idfv": "ios_vendor_id",
    "ios_vendor_id": "ios_vendor_id",
    "android_aaid": "google_advertising_id",
    "android_advertising_id": "google_advertising_id",
    "google_advertising_id": "google_advertising_id",
    "android_uuid": "android_id",
    "android_id": "android_id",
    "fire_aid": "fire_advertising_id",
    "fire_advertising_id": "fire_advertising_id",
    "roku_aid": "roku_advertising_id",
    "roku_advertising_id": "roku_advertising_id",
    "roku_publisher_id": "roku_publisher_id",
    "microsoft_aid": "microsoft_advertising_id",
    "microsoft_advertising_id": "microsoft_advertising_id",
    "microsoft_publisher_id": "microsoft_publisher_id",
    # No documented Profile API name: the docs' example lists such values as "unknown".
    "device_application_stamp": "unknown",
    "mp_deviceid": "unknown",
    "das": "unknown",
    "amp_id": "unknown",
    "push_token": "unknown",
}

# Device identity types preferred for "the" device id of a profile: advertising ids, then vendor ids.
ADVERTISING_IDS = (
    "ios_advertising_id",
    "google_advertising_id",
    "fire_advertising_id",
    "roku_advertising_id",
    "microsoft_advertising_id",
)
VENDOR_IDS = ("ios_vendor_id", "android_id", "roku_publisher_id", "microsoft_publisher_id")


def user_identity_name(id_type: str) -> str | None:
    """The Events API name of a user identity type (either spelling), or None for non-user types."""
    name = _IDSYNC_USER_KEYS.get(id_type, id_type)
    return name if name in USER_IDENTITY_TYPES else None


def device_identity_name(id_type: str) -> str | None:
    """The Profile API name of a device identity type, or None for non-device types."""
    return _DEVICE_TYPES.get(id_type)


# Device types as IDSync keeps them (its `known_identities` keys), from any other spelling.
IDSYNC_DEVICE_TYPES = (
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
_TO_IDSYNC_DEVICE = {
    "ios_advertising_id": "ios_idfa",
    "ios_vendor_id": "ios_idfv",
    "google_advertising_id": "android_aaid",
    "android_advertising_id": "android_aaid",
    "android_id": "android_uuid",
    "fire_advertising_id": "fire_aid",
    "roku_advertising_id": "roku_aid",
    "microsoft_advertising_id": "microsoft_aid",
    "mp_deviceid": "device_application_stamp",
    "das": "device_application_stamp",
}


def lookup_type(id_type: str) -> str | None:
    """The name the identity store keys `id_type` (any spelling) by: Events API names for user
    identities, IDSync keys for device identities; None for a name that is neither."""
    name = id_type.strip().lower()
    user = user_identity_name(name)
    if user is not None:
        return user
    name = _TO_IDSYNC_DEVICE.get(name, name)
    return name if name in IDSYNC_DEVICE_TYPES else None


def searchable_types() -> tuple[str, ...]:
    """The identity types a search for "any identity" tries, as the identity store names them."""
    return (*USER_IDENTITY_TYPES, *IDSYNC_DEVICE_TYPES)
