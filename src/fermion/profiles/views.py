"""Renderings of a profile: the Profile API response and the User Activity sections (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from fermion.model.identity_names import (
    ADVERTISING_IDS,
    PROFILE_USER_ORDER,
    VENDOR_IDS,
    device_identity_name,
    user_identity_name,
)
from fermion.profiles.state import AttrValue, Device, Profile

# Reserved attributes shown first, in the order of the User Activity page (matched ignoring case).
RESERVED_ORDER = (
    "$age",
    "$firstname",
    "$lastname",
    "$gender",
    "$mobile",
    "$address",
    "$city",
    "$state",
    "$zip",
    "$country",
)
_RESERVED_RANK = {name: rank for rank, name in enumerate(RESERVED_ORDER)}

PROFILE_FIELDS = frozenset(
    {
        "device_identities",
        "user_identities",
        "user_attributes",
        "audience_memberships",
        "attribution",
        # Beyond the documented list: consent, and calculated attributes on their own.
        "consent_state",
        "calculated_attributes",
    }
)


def attribute_order(names: Iterable[str]) -> list[str]:
    """Reserved attributes first (documented order), then the rest alphabetically."""

    def key(name: str) -> tuple[int, str, str]:
        return (_RESERVED_RANK.get(name.lower(), len(RESERVED_ORDER)), name.lower(), name)

    return sorted(names, key=key)


def as_profile_api_value(value: AttrValue) -> Any:
    """Profile API attribute values are strings, lists of strings, or null (tags)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return [v if isinstance(v, str) else str(v) for v in value]
    return str(value)


def split_identities(
    identities: Iterable[tuple[str, str]],
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(user identities, device identities), each as (Profile API type, value), deduplicated."""
    users: dict[tuple[str, str], None] = {}
    devices: dict[tuple[str, str], None] = {}
    for id_type, value in identities:
        user = user_identity_name(id_type)
        if user is not None:
            users[(user, value)] = None
            continue
        device = device_identity_name(id_type)
        devices[(device or "unknown", value)] = None
    rank = {name: i for i, name in enumerate(PROFILE_USER_ORDER)}
    return sorted(users, key=lambda t: (rank.get(t[0], len(rank)), t[1])), list(devices)


def device_identities(profile: Profile, org_identities: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Device identifiers seen in this workspace (most recent first), then those IDSync knows."""
    seen = sorted(profile.device_ids.values(), key=lambda d: (-d.last_seen_ms, d.id_type, d.value))
    out: dict[tuple[str, str], None] = {}
    for d in seen:
        out[(device_identity_name(d.id_type) or "unknown", d.value)] = None
    for pair in split_identities(org_identities)[1]:
        out[pair] = None
    return list(out)


def _ids(pairs: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"type": t, "encoding": "none", "value": v} for t, v in pairs]


def consent_json(profile: Profile) -> dict[str, dict[str, dict[str, Any]]]:
    """Consent in the Events API `consent_state` shape: regulation -> purpose -> consent."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for (regulation, purpose), c in sorted(profile.consent.items()):
        out.setdefault(regulation, {})[purpose] = {
            "consented": c.consented,
            "document": c.document,
            "timestamp_unixtime_ms": c.ts_ms,
            "location": c.location,
            "hardware_id": c.hardware_id,
        }
    return out


def latest_device(profile: Profile) -> Device | None:
    return max(profile.devices.values(), key=lambda d: (d.last_seen_ms, d.key), default=None)


def limit_ad_tracking(profile: Profile) -> bool | None:
    known = [d for d in profile.devices.values() if d.limit_ad_tracking is not None]
    newest = max(known, key=lambda d: d.lat_version, default=None)
    return None if newest is None else newest.limit_ad_tracking


def profile_api_json(
    profile: Profile, org_identities: Sequence[tuple[str, str]], fields: frozenset[str]
) -> dict[str, Any]:
    """The Profile API body (spec 3): always the header, plus each requested field."""
    header = profile.header
    out: dict[str, Any] = {
        "mpid": profile.mpid,
        "created_timestamp_ms": header.first_seen_ms if header else None,
        "last_stored_timestamp_ms": header.last_stored_ms if header else None,
        "is_opted_out": bool(header and header.opted_out),
        "limit_ad_tracking": limit_ad_tracking(profile),
    }
    if "device_identities" in fields:
        out["device_identities"] = _ids(device_identities(profile, org_identities))
    if "user_identities" in fields:
        out["user_identities"] = _ids(split_identities(org_identities)[0])
    if "user_attributes" in fields:
        out["account_userattributes"] = None
        attrs = profile.live_attributes()
        out["user_attributes"] = {n: as_profile_api_value(attrs[n]) for n in attribute_order(attrs)}
    if "audience_memberships" in fields:
        out["audience_memberships"] = []
    if "attribution" in fields:
        out["attribution"] = []
    if "consent_state" in fields:
        out["consent_state"] = consent_json(profile)
    if "calculated_attributes" in fields:
        out["calculated_attributes"] = {}
    return out


def preferred_device_id(profile: Profile) -> dict[str, str] | None:
    """The most recently seen device's advertising id, else its vendor id, else any id it has."""
    device = latest_device(profile)
    if device is None:
        return None
    ids = [
        (device_identity_name(d.id_type) or "unknown", d.value, d.last_seen_ms)
        for d in profile.device_ids.values()
        if d.device_key == device.key
    ]
    for group in (ADVERTISING_IDS, VENDOR_IDS, None):
        found = [i for i in ids if group is None or i[0] in group]
        if found:
            id_type, value, _ = max(found, key=lambda i: (i[2], i[0], i[1]))
            return {"type": id_type, "value": value}
    return None


def devices_json(profile: Profile) -> list[dict[str, Any]]:
    """Every device, most recently seen first, with its identifiers."""
    by_device: dict[str, list[dict[str, str]]] = {}
    for d in sorted(profile.device_ids.values(), key=lambda d: (d.id_type, d.value)):
        by_device.setdefault(d.device_key, []).append(
            {"type": device_identity_name(d.id_type) or "unknown", "value": d.value}
        )
    devices = sorted(profile.devices.values(), key=lambda d: (-d.last_seen_ms, d.key))
    return [
        {
            "platform": d.platform,
            "first_seen_ms": d.first_seen_ms,
            "last_seen_ms": d.last_seen_ms,
            "limit_ad_tracking": d.limit_ad_tracking,
            "identities": by_device.get(d.key, []),
        }
        for d in devices
    ]


def attributes_json(profile: Profile) -> list[dict[str, Any]]:
    """Live attributes, reserved ones first, each with the time it was last written."""
    live = {n: a for n, a in profile.attributes.items() if a.live}
    return [
        {
            "name": n,
            "value": live[n].value,
            "updated_ms": live[n].ts_ms,
            "reserved": n.startswith("$"),
        }
        for n in attribute_order(live)
    ]
