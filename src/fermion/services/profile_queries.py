"""Reading profiles: the Profile API body, User Activity search, profile sections and event timeline."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import msgspec

from fermion.audiences.records import Audience, Membership
from fermion.model.identity_names import DEVICE_TYPES, lookup_type, searchable_types
from fermion.model.tenancy import Workspace
from fermion.ports import (
    AudienceStore,
    ConfigStore,
    EventRow,
    EventTimeline,
    IdentityLookup,
    ProfileStore,
    TimelineQuery,
)
from fermion.ports.calculated import TypedCalculatedValues
from fermion.profiles.merge import empty_profile
from fermion.profiles.state import Profile
from fermion.profiles.views import (
    attributes_json,
    consent_json,
    devices_json,
    preferred_device_id,
    profile_api_json,
    split_identities,
)

MPID = "mpid"
DEVICE_ID = "device_id"


def parse_mpid(text: str) -> int | None:
    """A signed 64-bit MPID from decimal text (unsigned 64-bit values fold into the signed range)."""
    try:
        value = int(text.strip())
    except ValueError:
        return None
    if not -(2**63) <= value < 2**64:
        return None
    return value - 2**64 if value >= 2**63 else value


class ProfileQueries:
    def __init__(
        self,
        config: ConfigStore,
        profiles: ProfileStore,
        identities: IdentityLookup,
        timeline: EventTimeline,
        calculated: TypedCalculatedValues | None = None,
        audiences: AudienceStore | None = None,
    ) -> None:
        self._config = config
        self._profiles = profiles
        self._identities = identities
        self._timeline = timeline
        self._calculated = calculated
        self._audiences = audiences

    def _calculated_of(self, ws: Workspace, mpid: int) -> dict[str, str | list[str]]:
        """The user's CA values now (computed at read time, so rolling windows are current)."""
        if self._calculated is None:
            return {}
        now_ms = int(time.time() * 1000)
        return self._calculated.typed_values_for(ws.id, [mpid], now_ms).get(mpid, {})

    def _memberships(self, ws: Workspace, mpid: int) -> list[tuple[Audience, Membership]]:
        """The user's current audiences (those whose memberships are current), by audience id."""
        if self._audiences is None:
            return []
        held = self._audiences.memberships_of(ws.id, [mpid]).get(mpid, {})
        if not held:
            return []
        known = {a.id: a for a in self._audiences.list_audiences([ws.id])}
        return [(known[i], m) for i, m in sorted(held.items()) if i in known and known[i].current]

    def in_workspace(self, ws: Workspace, mpid: int) -> bool:
        """Whether the user is the workspace's: a profile there, or IDSync created the MPID through it.
        Identities belong to the organization, but a workspace's APIs answer only about its own users."""
        return self._profiles.get(ws.id, mpid) is not None or self._home(ws, mpid)

    def _home(self, ws: Workspace, mpid: int) -> bool:
        return self._identities.home_workspace(ws.org_id, mpid) == ws.id

    def _load(self, ws: Workspace, mpid: int) -> tuple[Profile, list[tuple[str, str]]] | None:
        """The workspace profile and the organization identities; None if the user is not the
        workspace's (see in_workspace)."""
        profile = self._profiles.get(ws.id, mpid)
        if profile is None and not self._home(ws, mpid):
            return None
        return profile or empty_profile(ws.id, mpid), self._identities.identities_of(ws.org_id, mpid)

    def profile_api(self, ws: Workspace, mpid: int, fields: frozenset[str]) -> dict[str, Any] | None:
        found = self._load(ws, mpid)
        if found is None:
            return None
        body = profile_api_json(found[0], found[1], fields)
        if "user_attributes" in fields:  # CAs appear among the user attributes (spec 3, 5.4)
            body["user_attributes"] = {**(body.get("user_attributes") or {}), **self._calculated_of(ws, mpid)}
        if "audience_memberships" in fields:  # spec 3: no expiry is kept, so always null
            body["audience_memberships"] = [
                {"audience_id": a.id, "audience_name": a.name, "expiration_timestamp_ms": None}
                for a, _ in self._memberships(ws, mpid)
            ]
        return body

    def resolve(self, ws: Workspace, identity_type: str, value: str) -> int | None:
        name = lookup_type(identity_type)
        return None if name is None else self._identities.find_mpid(ws.org_id, name, value)

    # -- User Activity -------------------------------------------------------------------------

    def search(self, ws: Workspace, query: str, search_type: str | None) -> list[dict[str, Any]]:
        """The workspace's profiles matching `query` exactly: as an MPID, a device id seen in the
        workspace, or an identity of the organization (of `search_type` only, when given); users who
        are not the workspace's (see in_workspace) are left out."""
        matches: dict[int, str] = {}
        if search_type in (None, MPID):
            mpid = parse_mpid(query)
            if mpid is not None and self.in_workspace(ws, mpid):
                matches.setdefault(mpid, MPID)
        types: Iterable[str]
        if search_type is None:
            types = searchable_types()
        elif search_type == DEVICE_ID:
            types = DEVICE_TYPES
        else:
            name = lookup_type(search_type) if search_type != MPID else None
            types = [name] if name is not None else []
        for id_type in types:
            found = self._identities.find_mpid(ws.org_id, id_type, query)
            if found is not None:
                matches.setdefault(found, id_type)
        by_type = lookup_type(search_type) if search_type not in (None, MPID, DEVICE_ID) else None
        if search_type in (None, DEVICE_ID) or by_type in DEVICE_TYPES:
            for mpid in self._profiles.find_by_device_id(ws.id, query):
                matches.setdefault(mpid, DEVICE_ID)
        loaded = self._profiles.load(ws.id, list(matches))
        results = []
        for mpid, matched in sorted(matches.items()):
            if mpid not in loaded and not self._home(ws, mpid):
                continue
            header = loaded[mpid].header if mpid in loaded else None
            results.append(
                {
                    "mpid": str(mpid),
                    "matched_type": matched,
                    "in_workspace": True,
                    "first_seen_ms": header.first_seen_ms if header else None,
                    "last_seen_ms": header.last_seen_ms if header else None,
                }
            )
        return results

    def activity_profile(self, ws: Workspace, mpid: int) -> dict[str, Any] | None:
        """The User Activity sections: details, workspace usage, identities, devices, attributes
        (reserved first), attribution, audience memberships, consent."""
        found = self._load(ws, mpid)
        if found is None:
            return None
        profile, identities = found
        users, devices = split_identities(identities)
        org_workspaces = [w.id for w in self._config.list_workspaces() if w.org_id == ws.org_id]
        seen = self._profiles.seen_across(mpid, org_workspaces)
        header = profile.header
        return {
            "mpid": str(mpid),
            "details": {
                "mpid": str(mpid),
                "customer_id": next((v for t, v in users if t == "customer_id"), None),
                "email": next((v for t, v in users if t == "email"), None),
                "device_id": preferred_device_id(profile),
                "first_seen_ms": seen[0] if seen else None,
                "last_seen_ms": seen[1] if seen else None,
            },
            "workspace_usage": {
                "workspace_id": ws.id,
                "first_seen_ms": header.first_seen_ms if header else None,
                "last_seen_ms": header.last_seen_ms if header else None,
                "inputs": self._inputs(profile),
            },
            "user_identities": [{"type": t, "value": v} for t, v in users],
            "device_identities": [{"type": t, "value": v} for t, v in devices],
            "devices": devices_json(profile),
            "user_attributes": attributes_json(profile)
            + [
                {"name": n, "value": v, "updated_ms": None, "reserved": False, "calculated": True}
                for n, v in sorted(self._calculated_of(ws, mpid).items())
            ],
            "attribution": [],
            "audience_memberships": [
                {"audience_id": a.id, "audience_name": a.name, "kind": a.kind.value, "joined_ms": m.joined_ms}
                for a, m in self._memberships(ws, mpid)
            ],
            "consent_state": consent_json(profile),
            "is_opted_out": bool(header and header.opted_out),
        }

    def _inputs(self, profile: Profile) -> list[dict[str, Any]]:
        out = []
        for seen in sorted(profile.inputs.values(), key=lambda s: -s.last_seen_ms):
            inp = self._config.get_input(seen.input_id)
            out.append(
                {
                    "input_id": seen.input_id,
                    "name": inp.name if inp else None,
                    "kind": inp.kind.value if inp else None,
                    "platform": inp.platform if inp else None,
                    "first_seen_ms": seen.first_seen_ms,
                    "last_seen_ms": seen.last_seen_ms,
                }
            )
        return out

    def timeline(self, query: TimelineQuery) -> list[dict[str, Any]]:
        """The user's events oldest first, grouped into runs of the same batch (with its input)."""
        rows = self._timeline.timeline(query)
        names: dict[int, str | None] = {}
        groups: list[dict[str, Any]] = []
        for row in rows:
            if not groups or groups[-1]["batch_id"] != str(row.batch_id):
                if row.input_id not in names:
                    inp = self._config.get_input(row.input_id)
                    names[row.input_id] = inp.name if inp else None
                groups.append(
                    {
                        "batch_id": str(row.batch_id),
                        "input_id": row.input_id,
                        "input_name": names[row.input_id],
                        "environment": row.environment,
                        "events": [],
                    }
                )
            groups[-1]["events"].append(_event_json(row))
        return groups


def _event_json(row: EventRow) -> dict[str, Any]:
    return {
        "event_id": str(row.event_id),
        "event_type": row.event_type,
        "event_name": row.event_name,
        "timestamp_ms": row.timestamp_ms,
        "event": msgspec.Raw(row.payload),
    }
