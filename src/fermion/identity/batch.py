"""Identities of an Events API batch, linking them to a given MPID, and `user_identity_change`
events (spec 2.10) for identities a batch newly linked to its profile."""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Final

import msgspec
from msgspec import to_builtins

from fermion.identity.records import NewProfile
from fermion.identity.resolve import Screened
from fermion.identity.settings import Rules
from fermion.identity.types import Key, is_user_type
from fermion.identity.view import IdentityView
from fermion.model.batch import Batch, UserIdentities
from fermion.model.events import Event, UserIdentity, UserIdentityChangeData, UserIdentityChangeEvent
from fermion.model.identity_names import batch_user_type
from fermion.model.ids import derived_id

# `device_info` field -> IDSync device identity type, in the order a batch's identities are listed.
_DEVICE_FIELDS: Final = (
    ("ios_advertising_id", "ios_idfa"),
    ("ios_idfv", "ios_idfv"),
    ("android_advertising_id", "android_aaid"),
    ("android_uuid", "android_uuid"),
    ("fire_advertising_id", "fire_aid"),
    ("roku_advertising_id", "roku_aid"),
    ("roku_publisher_id", "roku_publisher_id"),
    ("microsoft_advertising_id", "microsoft_aid"),
    ("microsoft_publisher_id", "microsoft_publisher_id"),
    ("amp_id", "amp_id"),
    ("push_token", "push_token"),
)
# User identities are read from to_builtins(), which holds only the fields a batch set (omit_defaults;
# keys are encode names, and `extra`, unknown JSON keys, names no identity): reading every field one
# by one cost more than the rest of a batch's identity work. Device identities are a few of many
# device_info fields: one attrgetter call reads them all.
_USER_TYPE_OF: Final = {
    encoded: batch_user_type(name)
    for name, encoded in zip(
        UserIdentities.__struct_fields__, UserIdentities.__struct_encode_fields__, strict=True
    )
    if name != "extra"
}
_device_values: Final = attrgetter(*(name for name, _ in _DEVICE_FIELDS))
_DEVICE_TYPES: Final = tuple(identity_type for _, identity_type in _DEVICE_FIELDS)


def batch_identities(batch: Batch) -> list[tuple[str, str | None]]:
    """(key, value) of every user and device identity of the batch; `customerid` reads as customer_id.
    User identities in field order, then mp_deviceid, then device identities in _DEVICE_FIELDS order."""
    out: list[tuple[str, str | None]] = []
    ids = batch.user_identities
    if ids is not None:
        for encoded, value in to_builtins(ids).items():
            identity_type = _USER_TYPE_OF.get(encoded)
            if identity_type is not None and isinstance(value, str):
                out.append((identity_type, value))
    if batch.mp_deviceid:
        out.append(("device_application_stamp", batch.mp_deviceid))
    info = batch.device_info
    if info is not None:
        values = _device_values(info)
        if values.count(None) != len(values):
            for identity_type, value in zip(_DEVICE_TYPES, values, strict=True):
                if isinstance(value, str):
                    out.append((identity_type, value))
    return out


def attach(
    view: IdentityView,
    mpid: int,
    ids: Screened,
    rules: Rules,
    workspace_id: int,
    now_ms: int,
    created_by: int | None,
) -> list[Key]:
    """Honour a batch's own MPID: keep (or start) its profile and link identities nobody holds yet
    (`ids`: the batch's identities as `screen` keeps them)."""
    profile = view.profile(mpid) or view.create_profile(
        NewProfile(mpid, now_ms, workspace_id, created_by, fresh=False)
    )
    cap = rules.settings.max_identities_per_type
    added: list[Key] = []
    for identity_type, (value, _) in ids.items():
        key = (identity_type, value)
        if profile.holds(key) and (link := view.link_of(key, mpid)) is not None:
            if link.created_by is not None and link.created_by == created_by:
                added.append(key)  # linked by this very batch in an earlier, interrupted run
            continue
        if view.holders(key) or len(profile.values(identity_type)) >= cap:
            continue  # someone else's identity, or the profile is full: the given MPID still stands
        view.link(key, mpid, now_ms, created_by)
        added.append(key)
    return added


def linked_by(view: IdentityView, mpid: int, keys: Sequence[Key], batch_id: int) -> list[Key]:
    """The keys among `keys` this batch linked to `mpid`, now or in an earlier run of the same batch."""
    out: list[Key] = []
    for key in keys:
        link = view.link_of(key, mpid)
        if link is not None and link.created_by == batch_id:
            out.append(key)
    return out


def identity_change_events(
    batch_id: int, mpid: int, added: Sequence[Key], view: IdentityView, timestamp_ms: int
) -> list[Event]:
    """One `user_identity_change` per user identity newly linked to the profile (device ids have no
    Events API identity type, so they get none). Event ids derive from the batch: replays dedupe."""
    events: list[Event] = []
    for identity_type, value in added:
        if not is_user_type(identity_type):
            continue
        created_here = view.first_linked_by((identity_type, value)) == batch_id
        new = UserIdentity(
            identity_type=identity_type,
            identity=value,
            timestamp_unixtime_ms=timestamp_ms,
            created_this_batch=created_here,
        )
        data = UserIdentityChangeData(
            new=new,
            timestamp_unixtime_ms=timestamp_ms,
            event_id=derived_id("user_identity_change", batch_id, mpid, identity_type, value),
        )
        events.append(UserIdentityChangeEvent(data=data))
    return events


class BatchIdentity(msgspec.Struct, frozen=True):
    """What the identity phase decided for a batch (`WorkItem.notes["identity"]`); a Struct, as one is
    made for every batch (a frozen dataclass costs several times more to build)."""

    org_id: int
    mpid: int
    created: bool  # a new profile was created for this batch
    given: bool  # the batch carried its own mpid
    added: list[Key]  # identities this batch linked to the profile
    rule: str  # the deciding resolution rule (see Explanation.rule)
