"""Coordination ports for running many processes: a lease that one process holds at a time."""

from __future__ import annotations

from typing import Protocol


class Lease(Protocol):
    """Held by at most one process at a time; released if the holder dies."""

    def hold(self) -> bool:
        """True if this process holds the lease now (taking it when free)."""

    def release(self) -> None: ...
