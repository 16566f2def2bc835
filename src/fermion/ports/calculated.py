"""Calculated attribute ports: CA values for readers (profiles, audiences) and the CA store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from fermion.calculated.records import CaRecord, StateRow, StateWrite
from fermion.calculated.state import Part


class CalculatedValues(Protocol):
    """The calculated attribute values of users (profiles and audiences read them)."""

    def values_for(self, workspace_id: int, mpids: Sequence[int], now_ms: int) -> dict[int, dict[str, str]]:
        """The active CAs' current values (by CA name) of each user that has any."""


class TypedCalculatedValues(Protocol):
    def typed_values_for(
        self, workspace_id: int, mpids: Sequence[int], now_ms: int
    ) -> dict[int, dict[str, str | list[str]]]:
        """Like values_for, with unique lists as lists of strings (as profiles show them)."""


class NameTaken(Exception):
    """Another CA of the workspace has this name."""


class ActiveLimitReached(Exception):
    """The workspace already has its maximum number of active CAs."""


# Runs inside the live-update transaction: (active CAs, their states for the group's users, the batch
# ids already applied) -> the states to write.
LiveCompute = Callable[[list[CaRecord], dict[int, StateRow], set[int]], list[StateWrite]]


class CalculatedStore(Protocol):
    def create(
        self, workspace_id: int, name: str, description: str, draft: dict[str, Any], now_ms: int
    ) -> CaRecord:
        """Raises NameTaken."""

    def find(self, workspace_id: int, name: str | None = None) -> list[CaRecord]: ...

    def get(self, workspace_id: int, ca_id: int) -> CaRecord | None: ...

    def update_draft(
        self,
        workspace_id: int,
        ca_id: int,
        name: str,
        description: str,
        draft: dict[str, Any] | None,
        now_ms: int,
    ) -> bool:
        """False if there is no such CA; raises NameTaken."""

    def delete(self, workspace_id: int, ca_id: int) -> bool: ...

    def activate(self, workspace_id: int, ca_id: int, by: str, now_ms: int, max_active: int) -> bool:
        """Draft becomes active; records the backfill boundary (the newest stored seq, taken while no
        batch is being stored) and starts the calculation. Raises ActiveLimitReached."""

    def active(self, workspace_ids: Sequence[int]) -> dict[int, list[CaRecord]]:
        """The active CAs of each workspace that has any."""

    def seqs_of(self, batch_ids: Sequence[int]) -> dict[int, int]:
        """The event store's seq of each stored batch among batch_ids."""

    def apply_live(
        self,
        workspace_id: int,
        mpids: Sequence[int],
        batch_ids: Sequence[int],
        compute: LiveCompute,
        now_ms: int,
    ) -> None:
        """In one transaction (serialized per workspace): load the active CAs, the users' states and
        which batch_ids were already applied; write what `compute` returns and mark batch_ids applied."""

    def prune_applied(self, before_ms: int) -> int:
        """Forgets batches applied before this time (long past any redelivery); returns how many."""

    def states(self, workspace_id: int, mpids: Sequence[int]) -> list[StateRow]:
        """The stored state documents of these users (each holds every CA's part)."""

    def set_seeds(self, workspace_id: int, seeds: Sequence[tuple[int, int, Part, int]]) -> None:
        """(ca_id, mpid, seed partial, cutoff ms) for each seed, all or nothing."""

    def claim_backfill(self, owner: str, now_ms: int, lease_ms: int) -> list[CaRecord]:
        """Leases the calculating CAs of one workspace whose lease is free or expired (empty if none)."""

    def scan(
        self, workspace_id: int, after_seq: int, upto_seq: int, limit: int
    ) -> list[tuple[int, int, int, bytes]]:
        """Stored real-time batches (seq, mpid, received_ms, payload) with after_seq < seq <= upto_seq,
        by seq; historical ones (/v2/bulkevents/historical) are left out: they never change CAs."""

    def renew_backfill(self, owner: str, ca_ids: Sequence[int], now_ms: int, lease_ms: int) -> bool:
        """Extends the lease on these calculating CAs; False if it was lost."""

    def save_backfill(
        self,
        owner: str,
        workspace_id: int,
        writes: Sequence[StateWrite],
        progress: dict[int, tuple[int, int]],
        now_ms: int,
        lease_ms: int,
        finished: bool,
    ) -> bool:
        """Merges writes (each user's backfill document) into the stored ones, records each CA's
        progress (seq reached, batches done) and renews the lease, or marks the CAs completed; False
        (nothing written) if the lease was lost."""
