"""Per-user CA state: partial aggregates per UTC day plus an optional seed, merged at read time.

Partials merge commutatively (first/last by (timestamp, value); distinct values keep the earliest
100 by first sighting), so events folded in any order, or backfilled and applied live, agree.
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime
from typing import Final

import msgspec

MAX_TRACKED = 100  # distinct values kept by most_frequent and unique_list (spec 5.4)
MAX_DISTINCT = 10_000  # distinct values kept by unique_values_count (a memory bound per day)


class Part(msgspec.Struct, omit_defaults=True, array_like=False):
    """A partial aggregate; each calculation type uses only its own fields."""

    n: float = 0  # events counted (count), or weight (average)
    t: float = 0  # sum
    lo: float | None = None
    hi: float | None = None
    f: tuple[int, str] | None = None  # first (timestamp, value)
    la: tuple[int, str] | None = None  # last (timestamp, value)
    v: dict[str, tuple[float, int]] | None = None  # value -> (weight, first seen ms)


class CaState(msgspec.Struct, omit_defaults=True):
    days: dict[int, Part] = msgspec.field(default_factory=dict)
    seed: Part | None = None
    cutoff_ms: int | None = None  # with a seed: live events before it are ignored
    # All days merged, kept by CAs without a window: their value needs no pass over days, which
    # they keep only when their definition declares seeding (a seed's cutoff drops the days before).
    total: Part | None = None


encode_state = msgspec.json.Encoder().encode
_decoder = msgspec.json.Decoder(CaState)


def decode_state(raw: bytes | str | None) -> CaState:
    if not raw:
        return CaState()
    return _decoder.decode(raw)


MAX_FLOAT: Final = sys.float_info.max


def bounded(x: float) -> float:
    """x kept within the float range: a sum past it stays at the largest float, since stored states
    are JSON, which has no infinity (it would be written as null and the state no longer decode)."""
    return x if -MAX_FLOAT <= x <= MAX_FLOAT else math.copysign(MAX_FLOAT, x)


def merge_parts(a: Part, b: Part, cap: int) -> Part:
    """a and b combined (a new Part; neither is changed)."""
    return Part(
        n=bounded(a.n + b.n),
        t=bounded(a.t + b.t),
        lo=b.lo if a.lo is None else a.lo if b.lo is None else min(a.lo, b.lo),
        hi=b.hi if a.hi is None else a.hi if b.hi is None else max(a.hi, b.hi),
        f=b.f if a.f is None else a.f if b.f is None else min(a.f, b.f),
        la=b.la if a.la is None else a.la if b.la is None else max(a.la, b.la),
        v=_merge_values(a.v, b.v, cap),
    )


def _merge_values(
    a: dict[str, tuple[float, int]] | None, b: dict[str, tuple[float, int]] | None, cap: int
) -> dict[str, tuple[float, int]] | None:
    if not a:
        return dict(b) if b else None
    if not b:
        return dict(a)
    merged = dict(a)
    for value, (weight, seen) in b.items():
        old = merged.get(value)
        merged[value] = (weight, seen) if old is None else (old[0] + weight, min(old[1], seen))
    return cap_values(merged, cap)


def cap_values(values: dict[str, tuple[float, int]], cap: int) -> dict[str, tuple[float, int]]:
    if len(values) <= cap:
        return values
    kept = sorted(values.items(), key=lambda kv: (kv[1][1], kv[0]))[:cap]
    return dict(kept)


def merge_states(a: CaState, b: CaState, cap: int) -> CaState:
    days = dict(a.days)
    for day, part in b.days.items():
        old = days.get(day)
        days[day] = part if old is None else merge_parts(old, part, cap)
    seed = b.seed if b.seed is not None else a.seed
    cutoff = b.cutoff_ms if b.seed is not None else a.cutoff_ms
    total = None
    if a.total is not None or b.total is not None:
        total = merge_parts(a.total or Part(), b.total or Part(), cap)
    return CaState(days=days, seed=seed, cutoff_ms=cutoff, total=total)


def format_number(x: float) -> str:
    if type(x) is int:  # counts: printed as they are (what the rounding below gives them)
        return str(x)
    if type(x) is float and x.is_integer() and abs(x) < 1e15:  # likewise, without rounding
        return str(int(x))
    # Rounded so that float sums taken in a different order print the same.
    r = round(x, 6)
    if r == int(r) and abs(r) < 1e15:
        return str(int(r))
    return repr(r)


def format_ms(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def absorb(acc: Part, part: Part) -> None:
    """Adds part into acc in place (acc owns its `v` dict; capping is left to the caller)."""
    acc.n = bounded(acc.n + part.n)
    acc.t = bounded(acc.t + part.t)
    if part.lo is not None and (acc.lo is None or part.lo < acc.lo):
        acc.lo = part.lo
    if part.hi is not None and (acc.hi is None or part.hi > acc.hi):
        acc.hi = part.hi
    if part.f is not None and (acc.f is None or part.f < acc.f):
        acc.f = part.f
    if part.la is not None and (acc.la is None or part.la > acc.la):
        acc.la = part.la
    if part.v:
        if acc.v is None:
            acc.v = dict(part.v)
            return
        tracked = acc.v
        for value, (weight, seen) in part.v.items():
            old = tracked.get(value)
            tracked[value] = (weight, seen) if old is None else (old[0] + weight, min(old[1], seen))


class Entry(msgspec.Struct, array_like=True):
    """One CA's day partials for one user, tagged with the CA's generation (older ones are stale)."""

    g: int
    s: CaState


class SeedEntry(msgspec.Struct, array_like=True):
    p: Part
    c: int  # cutoff ms


# A user's states of every CA (by CA id), as one stored document per part (backfill, live, seeds).
UserStates = dict[int, Entry]
UserSeeds = dict[int, SeedEntry]
encode_doc = msgspec.json.Encoder().encode
_states_decoder = msgspec.json.Decoder(dict[int, Entry])
_seeds_decoder = msgspec.json.Decoder(dict[int, SeedEntry])


_raw_doc_decoder = msgspec.json.Decoder(dict[int, msgspec.Raw])
_entry_decoder = msgspec.json.Decoder(Entry)


def decode_raw_doc(raw: bytes | None) -> dict[int, msgspec.Raw]:
    """A user's document with each CA's entry left undecoded (decode only the CAs a batch touches)."""
    return _raw_doc_decoder.decode(raw) if raw else {}


def decode_entry(raw: msgspec.Raw) -> Entry:
    return _entry_decoder.decode(raw)


def decode_states(raw: bytes | None) -> UserStates:
    return _states_decoder.decode(raw) if raw else {}


def decode_seeds(raw: bytes | None) -> UserSeeds:
    return _seeds_decoder.decode(raw) if raw else {}


def merge_user_states(old: UserStates, new: UserStates, cap: int) -> UserStates:
    """new merged into old: same generation merges, a newer generation replaces."""
    merged = dict(old)
    for ca_id, entry in new.items():
        prior = merged.get(ca_id)
        if prior is not None and prior.g == entry.g:
            merged[ca_id] = Entry(entry.g, merge_states(prior.s, entry.s, cap))
        elif prior is None or entry.g > prior.g:
            merged[ca_id] = entry
    return merged
