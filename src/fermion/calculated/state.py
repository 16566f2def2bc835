"""Per-user CA state: partial aggregates per UTC day plus an optional seed, merged at read time.

Partials merge commutatively (first/last by (timestamp, value); distinct values keep the earliest
100 by first sighting), so events folded in any order, or backfilled and applied live, agree.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from fermion.calculated.definition import DAY_MS

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


encode_state = msgspec.json.Encoder().encode
_decoder = msgspec.json.Decoder(CaState)


def decode_state(raw: bytes | str | None) -> CaState:
    if not raw:
        return CaState()
    return _decoder.decode(raw)


def merge_parts(a: Part, b: Part, cap: int) -> Part:
    """a and b combined (a new Part; neither is changed)."""
    return Part(
        n=a.n + b.n,
        t=a.t + b.t,
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
    return CaState(days=days, seed=seed, cutoff_ms=cutoff)


def prune(state: CaState, oldest_day: int) -> None:
    """Drops day partials before oldest_day (they have left a rolling window for good)."""
    for day in [d for d in state.days if d < oldest_day]:
        del state.days[day]


def day_of(ms: int) -> int:
    return ms // DAY_MS


def format_number(x: float) -> str:
    # Rounded so that float sums taken in a different order print the same.
    r = round(x, 6)
    if r == int(r) and abs(r) < 1e15:
        return str(int(r))
    return repr(r)


def format_ms(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


_part_decoder = msgspec.json.Decoder(Part)


def decode_part(raw: bytes | None) -> Part | None:
    return None if not raw else _part_decoder.decode(raw)


def combine(
    base: bytes | None, live: bytes | None, seed: bytes | None, cutoff_ms: int | None, cap: int
) -> CaState:
    """One user's whole state: the backfill's and the live day partials merged, with the seed."""
    state = merge_states(decode_state(base), decode_state(live), cap)
    part = decode_part(seed)
    return CaState(days=state.days, seed=part, cutoff_ms=cutoff_ms if part is not None else None)
