"""Profile ports: the profile store, the event timeline of one user, and the identity lookup that
IDSync's store satisfies structurally (identities are per organization and belong to IDSync)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec

from fermion.model.records import EventRow
from fermion.profiles.state import Profile, ProfileWrite


class ProfileStore(Protocol):
    """Per-workspace profiles. Writes are conditional upserts (newer version wins, seen-times by
    min/max), so any worker may save any batch's writes, in any order, any number of times."""

    def load(self, workspace_id: int, mpids: Sequence[int]) -> dict[int, Profile]:
        """The stored profiles among `mpids` (absent ones are left out)."""

    def save(self, writes: Sequence[ProfileWrite]) -> None: ...

    def get(self, workspace_id: int, mpid: int) -> Profile | None: ...

    def find_by_device_id(self, workspace_id: int, value: str) -> list[int]:
        """The MPIDs of the workspace's profiles that have a device with this identifier."""

    def seen_across(self, mpid: int, workspace_ids: Sequence[int]) -> tuple[int, int] | None:
        """(first seen, last seen) of the MPID over the given workspaces, or None if never seen."""


class IdentityLookup(Protocol):
    """Organization-wide identities of a profile (IDSync's identity store satisfies this)."""

    def find_mpid(self, org_id: int, identity_type: str, value: str) -> int | None: ...

    def identities_of(self, org_id: int, mpid: int) -> list[tuple[str, str]]: ...

    def home_workspace(self, org_id: int, mpid: int) -> int | None:
        """The workspace through which IDSync (or a batch) created the MPID; None if unknown."""


class NoIdentities:
    """The IdentityLookup used when no identity store is wired: knows nobody."""

    def find_mpid(self, org_id: int, identity_type: str, value: str) -> int | None:
        return None

    def identities_of(self, org_id: int, mpid: int) -> list[tuple[str, str]]:
        return []

    def home_workspace(self, org_id: int, mpid: int) -> int | None:
        return None


class TimelineQuery(msgspec.Struct, frozen=True, kw_only=True):
    workspace_id: int
    mpid: int
    since_ms: int | None = None
    until_ms: int | None = None
    input_id: int | None = None
    event_type: str | None = None
    device_id: str | None = None
    limit: int = 1000


class EventTimeline(Protocol):
    def timeline(self, query: TimelineQuery) -> list[EventRow]:
        """One user's events with since_ms <= timestamp < until_ms, oldest first, filtered by the
        input, the event type and a device identifier of the event's batch."""
