"""Identity ports: the organization-wide identity store (IDSync), and re-attributing event history
to another MPID (aliasing)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from fermion.identity.alias import AliasRecord, AliasRequest
from fermion.identity.records import IdentityChanges, IdentityConflict, Snapshot
from fermion.identity.settings import IdentitySettings
from fermion.identity.types import Key

__all__ = ["EventReattribution", "IdentityConflict", "IdentityStore"]


class IdentityStore(Protocol):
    """Identities per organization (an MPID spans its workspaces); settings per workspace.

    Identity types are canonical names (`customer_id`, `email`, `device_application_stamp`, ...);
    lookups also accept IDSync spellings such as `customerid`.
    """

    def find_mpid(self, org_id: int, identity_type: str, value: str) -> int | None:
        """The profile holding the value (the most recently linked one if several do), else None."""

    def identities_of(self, org_id: int, mpid: int) -> list[tuple[str, str]]:
        """(identity type, value) pairs of the profile, oldest first; [] for an unknown MPID."""

    def load(self, org_id: int, keys: Iterable[Key], mpids: Iterable[int] = ()) -> Snapshot:
        """Every link of `keys`, and the profile row and every link of each profile holding one of
        them or listed in `mpids`, plus the key rows (versions)."""

    def apply(self, org_id: int, changes: IdentityChanges) -> None:
        """Make the writes atomically, or raise IdentityConflict (and write nothing) when a version
        they rest on moved, a new key already exists, or a fresh MPID is taken."""

    def existing_mpids(self, org_id: int, mpids: Iterable[int]) -> frozenset[int]: ...

    def get_settings(self, workspace_id: int) -> IdentitySettings | None: ...

    def save_settings(self, workspace_id: int, settings: IdentitySettings) -> None: ...

    def alias_history(self, org_id: int, mpids: Sequence[int]) -> list[AliasRecord]:
        """Past alias requests whose source or destination is among `mpids`."""

    def record_alias(
        self, org_id: int, workspace_id: int, req: AliasRequest, status: str, reason: str, moved_events: int
    ) -> tuple[str, str, int]:
        """Store the request's outcome once per (org, request_id); return the stored (status, reason,
        moved_events), which are the earlier ones when the request id was seen before."""

    def find_alias(self, org_id: int, request_id: str) -> tuple[str, str, int] | None: ...


class EventReattribution(Protocol):
    def reassign_mpid(
        self, workspace_id: int, source_mpid: int, destination_mpid: int, since_ms: int, until_ms: int
    ) -> int:
        """Move the source MPID's events with since_ms <= timestamp < until_ms to the destination;
        return how many moved."""
