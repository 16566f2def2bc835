"""Identifier helpers: unique time-ordered signed 64-bit batch ids and deterministic event ids."""

from __future__ import annotations

import hashlib


class BatchIdGenerator:
    """Snowflake-style batch ids: 41 bits of ms since 2020, 10 bits of node id, 12 bits of sequence.

    Unique per node without coordination (up to 4,096 ids per ms; beyond that the clock is borrowed
    from the next ms); positive and ordered by receive time. Each API process needs its own node id.
    """

    EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
    MAX_NODE = (1 << 10) - 1
    _MAX_SEQ = (1 << 12) - 1

    def __init__(self, node_id: int = 0) -> None:
        if not 0 <= node_id <= self.MAX_NODE:
            raise ValueError(f"node id must be within 0..{self.MAX_NODE}")
        self._node = node_id << 12
        self._last_ms = 0
        self._seq = 0

    def next(self, now_ms: int) -> int:
        ms = max(now_ms - self.EPOCH_MS, 0)
        if ms <= self._last_ms:
            ms = self._last_ms
            self._seq += 1
            if self._seq > self._MAX_SEQ:
                ms += 1
                self._seq = 0
        else:
            self._seq = 0
        self._last_ms = ms
        return (ms << 22) | self._node | self._seq


def derived_id(*parts: object) -> int:
    """A stable signed 64-bit id derived from its parts (same parts, same id: replays dedupe)."""
    digest = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def event_id_for(batch_id: int, index: int) -> int:
    """The event id Fermion assigns to the index-th event of a batch that carries none."""
    return derived_id("event", batch_id, index)


def to_signed64(value: int) -> int:
    """Fold an unsigned 64-bit value (as some clients send MPIDs) into the signed range."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value
