"""What the identity store knows and the changes it is asked to make (plain data shared with ports)."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from fermion.identity.types import Key


class LinkRow(msgspec.Struct, frozen=True):
    """One identity value held by one profile; created_by is the batch id that linked it, if any.
    (A Struct: every load makes one per row, and a frozen dataclass costs several times more.)"""

    identity_type: str
    value: str
    mpid: int
    created_ms: int
    created_by: int | None = None

    @property
    def key(self) -> Key:
        return self.identity_type, self.value


@dataclass(frozen=True)
class ProfileRow:
    mpid: int
    created_ms: int
    workspace_id: int = 0
    created_by: int | None = None


@dataclass(frozen=True)
class Snapshot:
    """What the store knows about `asked_keys` (every link of them), the profiles holding them and
    `asked_mpids` (every link of those profiles), and the profile rows of `asked_mpids`."""

    asked_keys: frozenset[Key]
    asked_mpids: frozenset[int]
    links: list[LinkRow] = field(default_factory=list)
    profiles: list[ProfileRow] = field(default_factory=list)


@dataclass(frozen=True)
class NewProfile:
    mpid: int
    created_ms: int
    workspace_id: int
    created_by: int | None
    # A freshly generated MPID must not exist yet (else it names someone else: pick another); a
    # given (honoured) MPID may already exist.
    fresh: bool = True


@dataclass(frozen=True)
class IdentityChanges:
    """Writes for the store to apply atomically, after checking nobody changed what they rest on:
    each changed identity value is still held by exactly `holders[key]`, and each changed profile
    still holds exactly `identities[mpid]` (as loaded). Otherwise the store raises IdentityConflict.
    `creators` says which batch first linked a value the organization may not have seen before."""

    new_profiles: list[NewProfile] = field(default_factory=list)
    holders: dict[Key, frozenset[int]] = field(default_factory=dict)
    identities: dict[int, frozenset[Key]] = field(default_factory=dict)
    creators: dict[Key, int | None] = field(default_factory=dict)
    add_links: list[LinkRow] = field(default_factory=list)
    remove_links: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.new_profiles or self.add_links or self.remove_links)


class IdentityConflict(Exception):
    """Another writer changed what a decision rested on (or won the race to create it): reload, redo."""
