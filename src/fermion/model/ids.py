"""Identifier helpers: time-ordered signed 64-bit batch ids and deterministic event ids."""

from __future__ import annotations

import hashlib

_MASK63 = (1 << 63) - 1
_RANDOM_BITS = 22


def new_batch_id(now_ms: int, entropy: int) -> int:
    """A positive signed-64-bit id ordered by receive time (ms << 22 | 22 random bits)."""
    return ((now_ms << _RANDOM_BITS) | (entropy & ((1 << _RANDOM_BITS) - 1))) & _MASK63


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
