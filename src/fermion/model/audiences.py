"""Audience membership changes: what audience evaluation produces and audience outputs deliver.

The audiences area (fermion.audiences) decides who is in an audience; the delivery area queues one
change per audience connection and an audience integration maps changes to partner requests.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

import msgspec


class ChangeAction(StrEnum):
    ADD = "add"  # the user joined the audience
    REMOVE = "remove"  # the user left it
    # A member's identities changed: outputs re-send membership (remove + add, or add only, as the
    # output's settings say); `previous_identities` holds what was sent before.
    IDENTITY_CHANGE = "identity_change"
    DELETE = "delete"  # the audience was deleted (one change per audience; mpid 0, no identities)


class MembershipChange(msgspec.Struct, frozen=True, kw_only=True):
    """One membership change of one user in one audience.

    `change_id` is stable for the same change (see `change_id_of`): the delivery queue keeps one item
    per (connection, change_id), so producing the same change twice delivers it once.
    `identities` maps canonical identity type names (fermion.model.identity_names: "customer_id", "email",
    "other_id_3", "ios_idfa", "android_aaid", ...; plus "mpid") to values.
    """

    change_id: int
    workspace_id: int
    audience_id: int
    audience_name: str  # the external name if set, else the name
    action: ChangeAction
    mpid: int
    changed_ms: int
    identities: dict[str, str] = {}
    previous_identities: dict[str, str] = {}
    environment: str = "production"

    @property
    def is_member(self) -> bool:
        return self.action in (ChangeAction.ADD, ChangeAction.IDENTITY_CHANGE)


def change_id_of(audience_id: int, mpid: int, action: str, version_ms: int) -> int:
    """A positive 63-bit id derived from what the change is, so re-evaluating the same batch (after a
    crash, or on another worker) yields the same id."""
    digest = hashlib.blake2b(f"{audience_id}:{mpid}:{action}:{version_ms}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & ((1 << 63) - 1) or 1


encode_changes = msgspec.json.Encoder().encode
decode_change = msgspec.json.Decoder(MembershipChange).decode
