"""The per-connection hook chain the forwarding phase (and replay) runs before queueing a batch.

A plug-in is a pure `ConnectionStage` `(batch, ConnectionContext) -> Batch | Drop` plus, when it needs
stored config, a `ConnectionLoader` that loads it for many connections at once (by connection id) into
`ctx.extras[loader.name]`. Wire them in bootstrap.connection_hooks, in this order: data filter →
consent forwarding rule → commerce expansion; the platform appends `accepted_event_types` and
`integration_skip`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fermion.model.delivery import Connection
from fermion.pipeline.connection_stage import (
    ConnectionContext,
    ConnectionStage,
    Skipped,
    accepted_event_types,
    integration_skip,
    run_connection_chain,
)

__all__ = [
    "ConnectionContext",
    "ConnectionHooks",
    "ConnectionLoader",
    "ConnectionStage",
    "Skipped",
    "accepted_event_types",
    "integration_skip",
    "run_connection_chain",
]


class ConnectionLoader(Protocol):
    """Loads what a stage needs for many connections in one go (it may do I/O; stages may not).

    Called when the connections change (and at most every few seconds otherwise) — not per batch — so
    keep what it returns small. A connection missing from the result gets no entry in ctx.extras.
    """

    name: str

    def load(self, connections: Sequence[Connection]) -> Mapping[int, Any]: ...


@dataclass(frozen=True)
class ConnectionHooks:
    """The plug-ins, in order. The platform runs `stages`, then `accepted_event_types` and
    `integration_skip` (a batch without accepted events is dropped, not counted as skipped)."""

    stages: Sequence[ConnectionStage] = ()
    loaders: Sequence[ConnectionLoader] = field(default_factory=tuple)

    def chain(self) -> list[ConnectionStage]:
        return [*self.stages, accepted_event_types, integration_skip]
