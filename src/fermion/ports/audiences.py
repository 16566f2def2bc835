"""Audience ports: definitions and membership storage, and where membership changes go (delivery).
(The calculated attribute values audiences read: `ports.calculated.CalculatedValues`.)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from fermion.audiences.records import Audience, HistoryEntry, Membership, Status, UserState
from fermion.model.audiences import MembershipChange


class MembershipSink(Protocol):
    """Takes membership changes for delivery to audience outputs (change ids make repeats harmless)."""

    def publish(self, changes: Sequence[MembershipChange], now_ms: int) -> None: ...


class AlreadyApplied(Exception):
    """Another worker applied one of the group's batches first; the group is redelivered."""


class StaleState(Exception):
    """Another worker saved one of the users' state since it was loaded; the work is redone."""


class AudienceStore(Protocol):
    """Audience definitions, per-user criterion state, memberships and their history."""

    def create(self, audience: Audience) -> Audience:
        """Store a new audience; returns it with its id."""

    def get(self, audience_id: int) -> Audience | None: ...

    def list_audiences(
        self, workspace_ids: Sequence[int] | None = None, status: Status | None = None
    ) -> list[Audience]:
        """Audiences that are not deleted, of the given workspaces (all when None), of one status."""

    def start_calculation(self, audience: Audience) -> Audience:
        """Save the audience as calculating, with the newest stored batch's seq of its workspace as the
        boundary, read atomically with respect to batches being stored."""

    def versions(self, workspace_id: int) -> list[tuple[int, str, int, int]]:
        """(id, status, activated_ms, updated_ms) of the workspace's audiences that are not deleted: a
        cheap check of whether the definitions changed."""

    def update(self, audience: Audience) -> None: ...

    def load_users(self, workspace_id: int, mpids: Sequence[int]) -> dict[int, UserState]: ...

    def memberships_of(
        self, workspace_id: int, mpids: Sequence[int], audience_ids: Sequence[int] | None = None
    ) -> dict[int, dict[int, Membership]]:
        """mpid -> audience id -> membership row, of the audiences (all, or those listed) the users are
        members of."""

    def unapplied(self, workspace_id: int, batch_ids: Sequence[int]) -> set[int]:
        """The batch ids whose events have not been counted into user state yet."""

    def save(
        self,
        workspace_id: int,
        users: dict[int, UserState],
        memberships: Sequence[Membership],
        history: Sequence[HistoryEntry],
        applied_batch_ids: Sequence[int] = (),
        now_ms: int = 0,
        progress: tuple[int, int] | None = None,
    ) -> None:
        """One transaction: user state, membership rows, history and the applied markers; raises
        AlreadyApplied (writing nothing) if a marker exists already, StaleState if a user's stored
        state is no longer the version that was loaded. `progress` = (audience id, seq):
        how far the audience's calculation over history has got, saved with the state it built."""

    def due(self, now_ms: int, limit: int) -> list[tuple[int, int, int]]:
        """(workspace id, mpid, re-check time) of users whose re-check time has come, oldest first."""

    def members(self, audience_id: int, after_mpid: int | None, limit: int) -> list[Membership]:
        """Current members by MPID, after `after_mpid`."""

    def size(self, audience_id: int) -> int: ...

    def history(self, audience_id: int, mpid: int | None, limit: int) -> list[HistoryEntry]: ...

    def change_counts(self, audience_id: int, since_ms: int) -> tuple[int, int]:
        """(adds, drops) since the time."""

    def max_seq(self, workspace_id: int) -> int:
        """The newest stored batch's seq of the workspace (0 if none)."""

    def stored_seqs(self, workspace_id: int, batch_ids: Sequence[int]) -> dict[int, int]:
        """batch id -> seq of stored batches."""

    def mpids_with_state(self, workspace_id: int, after_mpid: int | None, limit: int) -> list[int]: ...
