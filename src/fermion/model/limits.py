"""Ingest limits beyond the model's types (pure): what the Events API refuses so that every batch it
accepts can be processed, and the reference's published length limits (spec "default service limits").

Integers the model declares are range-checked by their type (`events_common.Int`); integers in free-form
positions (user attributes, custom flags, unknown keys) are checked here, only when the raw JSON holds
a number token long enough to be out of range (a cheap scan, so ordinary batches skip the walk).
Names over the limits are truncated by the normalize stage (the reference's server-to-server behaviour);
values over them are refused here, as are identity values, device identifiers and `source_request_id`
over Fermion's own limits (the reference publishes none; IDSync applies the same through
`identity_limit`).
"""

from __future__ import annotations

import json
import re
from operator import attrgetter
from typing import Any, Final

from fermion.model.batch import Batch, DeviceInfo, UserIdentities
from fermion.model.events_common import INT64_MAX, INT64_MIN
from fermion.model.identity_names import DEVICE_INFO_KEYS, DEVICE_SET

MAX_NAME_CHARS: Final = 256  # event names, event and user attribute names
MAX_VALUE_CHARS: Final = 4096  # event and user attribute values
MAX_LIST_ENTRIES: Final = 1000  # a user attribute list
MAX_LIST_ENTRY_CHARS: Final = 512
# The reference publishes no limit for identities and ids; these are Fermion's, the sizes its stores
# keep (a longer value would be accepted and then ignored, or fail on PostgreSQL's column):
MAX_IDENTITY_CHARS: Final = 512  # a user identity value (the identity store's value column)
MAX_DEVICE_ID_CHARS: Final = 256  # a device identifier (the profile's device list)
MAX_REQUEST_ID_CHARS: Final = 200  # source_request_id (the event store's dedupe column)

# The identity fields of a batch, read in one attrgetter call each (most batches set few of them).
_USER_ID_FIELDS: Final = tuple(
    (name, encoded)
    for name, encoded in zip(
        UserIdentities.__struct_fields__, UserIdentities.__struct_encode_fields__, strict=True
    )
    if name != "extra"
)
_USER_ID_NAMES: Final = tuple(encoded for _, encoded in _USER_ID_FIELDS)
_user_id_values: Final = attrgetter(*(name for name, _ in _USER_ID_FIELDS))
_DEVICE_ID_NAMES: Final = tuple(
    name for name in DeviceInfo.__struct_fields__ if DEVICE_INFO_KEYS.get(name, name) in DEVICE_SET
)
_device_id_values: Final = attrgetter(*_DEVICE_ID_NAMES)

# The scan for digit runs that may be an integer out of range: digits masked to "0", then runs of 19
# (|n| >= 2**63 needs 19) found with bytes.find, several times cheaper than a regular expression. A run
# counts when it is longer than 19 or above INT64_MAX's digits, and starts where a JSON number can.
_MASK: Final = bytes.maketrans(b"123456789", b"000000000")
_RUN: Final = b"0" * 19
_ZERO: Final = ord("0")
_INT64_MAX_DIGITS: Final = str(INT64_MAX).encode()
_NUMBER_AFTER: Final = frozenset(b":[, \t\r\n-")
_IDENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Problem = tuple[str, str]  # (field path, message)


def json_problem(exc: UnicodeDecodeError | RecursionError) -> str:
    """What to answer for the JSON errors msgspec raises as such: a string not UTF-8, deep nesting."""
    if isinstance(exc, UnicodeDecodeError):
        return f"Invalid JSON: a string is not valid UTF-8 (byte {exc.start} of the string)."
    return "Invalid JSON: nested too deeply."


def key_path(prefix: str, key: str) -> str:
    """`prefix.key`, or `prefix["key"]` when the key is not an identifier (as the codec names fields)."""
    if _IDENT.fullmatch(key):
        return f"{prefix}.{key}" if prefix else key
    return f"{prefix}[{json.dumps(key, ensure_ascii=False)}]"


def out_of_range_integer(raw: bytes, obj: Any) -> Problem | None:
    """The first integer anywhere in `obj` (the parsed `raw`) outside the signed 64-bit range."""
    if not _may_hold_long_integer(raw):
        return None
    stack: list[tuple[Any, str]] = [(obj, "")]
    while stack:  # iterative: the JSON may nest as deep as the parser allowed
        value, path = stack.pop()
        kind = type(value)
        if kind is int:
            if not INT64_MIN <= value <= INT64_MAX:
                return path or "body", f"Integers must be between {INT64_MIN} and {INT64_MAX}."
        elif kind is dict:
            stack.extend((v, key_path(path, k)) for k, v in reversed(value.items()))
        elif kind is list:
            stack.extend((v, f"{path}[{i}]") for i, v in reversed(list(enumerate(value))))
    return None


def _may_hold_long_integer(raw: bytes) -> bool:
    masked = raw.translate(_MASK)
    size = len(masked)
    start = masked.find(_RUN)
    while start != -1:
        end = start + len(_RUN)
        while end < size and masked[end] == _ZERO:
            end += 1
        long = end - start > len(_RUN) or raw[start:end] > _INT64_MAX_DIGITS
        if long and (raw[start - 1] if start else ord(" ")) in _NUMBER_AFTER:
            return True
        start = masked.find(_RUN, end)
    return False


def identity_limit(identity_type: str) -> int:
    """The longest value an identity of this type (an IDSync or canonical name) may have."""
    return MAX_DEVICE_ID_CHARS if identity_type in DEVICE_SET else MAX_IDENTITY_CHARS


def identity_problem(batch: Batch) -> Problem | None:
    """The first identity value (user identities, device identifiers) or source_request_id over its
    limit."""
    request_id = batch.source_request_id
    if request_id is not None and len(request_id) > MAX_REQUEST_ID_CHARS:
        return "source_request_id", _too_long("source_request_id", MAX_REQUEST_ID_CHARS)
    ids = batch.user_identities
    if ids is not None:
        for name, value in zip(_USER_ID_NAMES, _user_id_values(ids), strict=True):
            if value is not None and len(value) > MAX_IDENTITY_CHARS:
                return f"user_identities.{name}", _too_long("An identity value", MAX_IDENTITY_CHARS)
    device_id = batch.mp_deviceid
    if device_id is not None and len(device_id) > MAX_DEVICE_ID_CHARS:
        return "mp_deviceid", _too_long("A device identifier", MAX_DEVICE_ID_CHARS)
    info = batch.device_info
    if info is not None:
        for name, value in zip(_DEVICE_ID_NAMES, _device_id_values(info), strict=True):
            if type(value) is str and len(value) > MAX_DEVICE_ID_CHARS:
                return f"device_info.{name}", _too_long("A device identifier", MAX_DEVICE_ID_CHARS)
    return None


def length_problem(raw_size: int, batch: Batch) -> Problem | None:
    """The first identity or id, user attribute name, user attribute value or event attribute value
    over its limit."""
    if raw_size > MAX_REQUEST_ID_CHARS:  # else no string in this batch can be that long
        problem = identity_problem(batch)
        if problem is not None:
            return problem
    attrs = batch.user_attributes
    if attrs:
        for name, value in attrs.items():
            problem = _user_attribute_problem(name, value)
            if problem is not None:
                return problem
    for i, name in enumerate(batch.deleted_user_attributes or ()):
        if len(name) > MAX_NAME_CHARS:
            return f"deleted_user_attributes[{i}]", _too_long("A user attribute name", MAX_NAME_CHARS)
    if raw_size <= MAX_VALUE_CHARS:
        return None  # no string in this batch can be that long
    for i, event in enumerate(batch.events):
        custom = event.data.custom_attributes
        if not custom:
            continue
        for name, value in custom.items():
            if type(value) is str and len(value) > MAX_VALUE_CHARS:
                where = key_path(f"events[{i}].data.custom_attributes", name)
                return where, _too_long("An event attribute value", MAX_VALUE_CHARS)
    return None


def _user_attribute_problem(name: str, value: Any) -> Problem | None:
    # The field's path is built only for a problem: this runs for every attribute of every batch.
    if len(name) > MAX_NAME_CHARS:
        return key_path("user_attributes", name), _too_long("A user attribute name", MAX_NAME_CHARS)
    kind = type(value)
    if kind is str:
        if len(value) > MAX_VALUE_CHARS:
            return key_path("user_attributes", name), _too_long("A user attribute value", MAX_VALUE_CHARS)
    elif kind is list:
        if len(value) > MAX_LIST_ENTRIES:
            message = f"A user attribute list may hold at most {MAX_LIST_ENTRIES} entries."
            return key_path("user_attributes", name), message
        for j, entry in enumerate(value):
            if type(entry) is str and len(entry) > MAX_LIST_ENTRY_CHARS:
                where = f"{key_path('user_attributes', name)}[{j}]"
                return where, _too_long("A user attribute list entry", MAX_LIST_ENTRY_CHARS)
    return None


def _too_long(what: str, limit: int) -> str:
    return f"{what} may be at most {limit} characters."
