"""Identity types as identity resolution uses them: canonical names from any key, priority ranks.

The names and the mappings between vocabularies are `model.identity_names`'s (re-exported here for
the identity package): user identities use the Events API names (`customer_id`, `other_id_2`, ...),
device identities the IDSync `known_identities` names (`device_application_stamp`, `ios_idfa`, ...).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from fermion.model.identity_names import (
    DEVICE_INFO_KEYS,
    DEVICE_SET,
    DEVICE_TYPES,
    IDSYNC_USER_KEYS,
    USER_SET,
    USER_TYPES,
    WEB_SDK_KEYS,
    is_device_type,
    is_user_type,
)

Key = tuple[str, str]  # (canonical identity type, value)

# Every spelling clients use (IDSync keys, Web SDK keys, device_info fields) -> canonical name.
_ALIASES: Final[dict[str, str]] = {**IDSYNC_USER_KEYS, **WEB_SDK_KEYS, **DEVICE_INFO_KEYS}

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


def priority_rank(priority: tuple[str, ...], identity_type: str) -> tuple[int, int, str]:
    """Sort key of a type under a priority list: listed types in order, then unlisted user types,
    then custom types, then unlisted device types (a device id only breaks ties between people)."""
    if identity_type in priority:
        return 0, priority.index(identity_type), ""
    if identity_type in USER_SET:
        return 1, USER_TYPES.index(identity_type), ""
    if identity_type in DEVICE_SET:
        return 3, DEVICE_TYPES.index(identity_type), ""
    return 2, 0, identity_type


__all__ = [
    "DEFAULT_PRIORITY",
    "DEVICE_TYPES",
    "MAX_VALUE_LENGTH",
    "USER_TYPES",
    "Key",
    "canonical_type",
    "is_device_type",
    "is_user_type",
    "priority_rank",
]
