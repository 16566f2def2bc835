"""The stage protocol, the context a stage sees, and the chain runner."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import msgspec

from fermion.model.batch import Batch
from fermion.model.records import InboundRecord


@dataclass(frozen=True)
class Drop:
    """A stage's verdict that the batch goes no further, with the reason (kept for reports)."""

    reason: str


class StageContext(msgspec.Struct, frozen=True):
    """What a stage may know besides the batch: the inbound stamp and the processing time (a Struct:
    one is built per batch)."""

    record: InboundRecord
    now_ms: int


Stage = Callable[[Batch, StageContext], "Batch | Drop"]


def run_chain(stages: Sequence[Stage], batch: Batch, ctx: StageContext) -> Batch | Drop:
    for stage in stages:
        result = stage(batch, ctx)
        if isinstance(result, Drop):
            return result
        batch = result
    return batch
