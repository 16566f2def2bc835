"""The inbound dead-letter port: batches that failed processing too often, kept aside for an operator.

Both inbound logs implement it next to `InboundLog`: the embedded SQLite log keeps its dead letters in a
table of the same file, the NATS log in its `<stream>_DLQ` stream. The worker reports each batch whose
processing failed on its own (`failed`); the log counts the attempt and, after its maximum, moves the
batch to the dead-letter store, from where an operator lists and replays it (back into the log).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec

from fermion.model.records import InboundRecord


class ProcessingFailure(msgspec.Struct, frozen=True, kw_only=True):
    """A batch whose processing failed when tried alone, and why."""

    record: InboundRecord
    reason: str


class InboundDeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """A batch moved out of the inbound log after its last failed attempt; `id` names it for replay."""

    id: int
    record: InboundRecord
    reason: str
    attempts: int
    dead_ms: int  # when it was moved (0: unknown)


class DeadLetterSummary(msgspec.Struct, frozen=True, kw_only=True):
    count: int
    last_seen_ms: int | None = None
    last_reason: str | None = None


class InboundDeadLetters(Protocol):
    async def failed(self, failures: Sequence[ProcessingFailure]) -> None:
        """Count one failed attempt for each batch; a batch at its maximum attempts moves to the
        dead-letter store (and leaves the log), the others are fetched again."""

    async def dead_letters(
        self, workspace_id: int | None = None, limit: int = 1000
    ) -> list[InboundDeadLetter]:
        """The dead letters (of one workspace, or all), oldest first."""

    async def replay_dead_letters(self, workspace_id: int | None, ids: Sequence[int] | None = None) -> int:
        """Move dead letters (of the workspace, or all; only those with `ids` if given) back into the
        inbound log with their attempts reset; return how many moved."""

    async def dead_letter_summary(self, workspace_id: int | None = None) -> DeadLetterSummary: ...

    def dead_letter_count(self) -> int:
        """All dead letters (for gauges and readiness; may lag a few seconds behind)."""
