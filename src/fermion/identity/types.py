"""Identity type names: one canonical spelling per type, mapped from IDSync keys and batch fields.

User identities use the Events API `IdentityType` names (`customer_id`, `other_id_2`, ...); device
identities use the IDSync `known_identities` names (`device_application_stamp`, `ios_idfa`, ...).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

Key = tuple[str, str]  # (canonical identity type, value)

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
_USER_SET: Final = frozenset(USER_TYPES)
_DEVICE_SET: Final = frozenset(DEVICE_TYPES)

# IDSync request keys (spec 1.4) and other spellings clients use, to canonical names.
_ALIASES: Final[dict[str, str]] = {
    "customerid": "customer_id",
    "facebookcustomaudienceid": "facebook_custom_audience_id",
    **{f"other{n}": f"other_id_{n}" for n in range(2, 11)},
    # Web SDK convenience keys, rewritten by the SDK itself before sending (websdk identity-utils).
    "email_sha256": "other",
    "mobile_sha256": "other_id_2",
    # Events API `device_info` field names.
    "ios_advertising_id": "ios_idfa",
    "android_advertising_id": "android_aaid",
    "roku_advertising_id": "roku_aid",
    "fire_advertising_id": "fire_aid",
    "microsoft_advertising_id": "microsoft_aid",
    "das": "device_application_stamp",
    "mp_deviceid": "device_application_stamp",
}
# Canonical name back to the key IDSync clients use (for `matched_identities` and modify results).
_IDSYNC_KEY: Final[dict[str, str]] = {
    "customer_id": "customerid",
    "facebook_custom_audience_id": "facebookcustomaudienceid",
    **{f"other_id_{n}": f"other{n}" for n in range(2, 11)},
}

# The reference's default identity priority (spec 1.9), in canonical names.
DEFAULT_PRIORITY: Final = (
    "customer_id",
    "mobile_number",
    "email",
    "other",
    "facebook",
    "google",
    "twitter",
    "microsoft",
    "yahoo",
    "ios_idfa",
    "ios_idfv",
    "android_aaid",
    "android_uuid",
    "roku_aid",
    "roku_publisher_id",
    "microsoft_publisher_id",
    "microsoft_aid",
    "device_application_stamp",
)

MAX_VALUE_LENGTH: Final = 512  # fits PostgreSQL index entries even in 4-byte UTF-8
# Any other key is accepted as a custom identity type (spec 1.4: "safest to accept any key").
_TYPE_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")


@lru_cache(maxsize=4096)  # a handful of keys recur in every batch
def canonical_type(key: str) -> str | None:
    """The canonical name of an identity key, or None when it cannot name an identity type."""
    name = key.strip().lower()
    name = _ALIASES.get(name, name)
    return name if _TYPE_NAME.fullmatch(name) else None


def idsync_key(identity_type: str) -> str:
    """The key IDSync clients use for a canonical type (`customer_id` -> `customerid`)."""
    return _IDSYNC_KEY.get(identity_type, identity_type)


def is_device_type(identity_type: str) -> bool:
    return identity_type in _DEVICE_SET


def is_user_type(identity_type: str) -> bool:
    """A type of the Events API `IdentityType` enum (the ones `user_identity_change` events carry)."""
    return identity_type in _USER_SET


def known_type(identity_type: str) -> bool:
    return identity_type in _USER_SET or identity_type in _DEVICE_SET


def priority_rank(priority: tuple[str, ...], identity_type: str) -> tuple[int, int, str]:
    """Sort key of a type under a priority list: listed types in order, then unlisted user types,
    then custom types, then unlisted device types (a device id only breaks ties between people)."""
    if identity_type in priority:
        return 0, priority.index(identity_type), ""
    if identity_type in _USER_SET:
        return 1, USER_TYPES.index(identity_type), ""
    if identity_type in _DEVICE_SET:
        return 3, DEVICE_TYPES.index(identity_type), ""
    return 2, 0, identity_type
