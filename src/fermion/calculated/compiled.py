"""A CA definition compiled once into closures: observe a batch, fold it into a state, read the value.

The value at `now_ms` merges the day partials inside the time period (and on or after a seed's
cutoff) with the seed; a `within` window therefore expires old days as it moves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fermion.calculated.conditions import compile_all
from fermion.calculated.definition import DAY_MS, Definition, number_of
from fermion.calculated.extract import BatchView, Observation, Observer, make_observer
from fermion.calculated.state import (
    MAX_DISTINCT,
    MAX_FLOAT,
    MAX_TRACKED,
    CaState,
    Part,
    absorb,
    bounded,
    cap_values,
    format_ms,
    format_number,
)
from fermion.model.batch import Batch

# A CA's value: a string, or for unique_list the list of strings.
Value = str | list[str]
_Fold = Callable[[Part, int, list[tuple[Any, float]]], None]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)


def _count(part: Part, ts: int, values: list[tuple[Any, float]]) -> None:
    part.n += 1


def _sum(part: Part, ts: int, values: list[tuple[Any, float]]) -> None:
    for value, _ in values:
        number = number_of(value)
        if number is not None:
            total = part.t + number
            part.t = total if -MAX_FLOAT <= total <= MAX_FLOAT else bounded(total)
            part.n += 1


def _min(part: Part, ts: int, values: list[tuple[Any, float]]) -> None:
    for value, _ in values:
        number = number_of(value)
        if number is not None and (part.lo is None or number < part.lo):
            part.lo = number


def _max(part: Part, ts: int, values: list[tuple[Any, float]]) -> None:
    for value, _ in values:
        number = number_of(value)
        if number is not None and (part.hi is None or number > part.hi):
            part.hi = number


def _average(part: Part, ts: int, values: list[tuple[Any, float]]) -> None:
    for value, weight in values:
        number = number_of(value)
        if number is not None:
            part.t = bounded(part.t + number * weight)
            part.n = bounded(part.n + weight)


def _first(part: Part, ts: int, values: list[tuple[Any, float]]) -> None:
    candidate = (ts, _text(values[0][0]))
    if part.f is None or candidate < part.f:
        part.f = candidate


def _last(part: Part, ts: int, values: list[tuple[Any, float]]) -> None:
    candidate = (ts, _text(values[-1][0]))
    if part.la is None or candidate > part.la:
        part.la = candidate


def _first_ts(part: Part, ts: int, values: list[tuple[Any, float]]) -> None:
    if part.f is None or ts < part.f[0]:
        part.f = (ts, "")


def _last_ts(part: Part, ts: int, values: list[tuple[Any, float]]) -> None:
    if part.la is None or ts > part.la[0]:
        part.la = (ts, "")


def _distinct(cap: int) -> _Fold:
    def fold(part: Part, ts: int, values: list[tuple[Any, float]]) -> None:
        tracked = part.v if part.v is not None else {}
        for value, weight in values:
            key = _text(value)
            old = tracked.get(key)
            tracked[key] = (weight, ts) if old is None else (old[0] + weight, min(old[1], ts))
        part.v = cap_values(tracked, cap)

    return fold


_FOLDS: dict[str, _Fold] = {
    "count": _count,
    "sum": _sum,
    "min": _min,
    "max": _max,
    "average": _average,
    "first_occurrence": _first,
    "last_occurrence": _last,
    "first_occurrence_timestamp": _first_ts,
    "last_occurrence_timestamp": _last_ts,
    "unique_list": _distinct(MAX_TRACKED),
    "most_frequent": _distinct(MAX_TRACKED),
    "unique_values_count": _distinct(MAX_DISTINCT),
}


def _most_frequent(v: dict[str, tuple[float, int]]) -> str:
    return min(v.items(), key=lambda kv: (-kv[1][0], kv[0]))[0]


def _render_count(part: Part) -> Value | None:
    return format_number(part.n)


def _render_sum(part: Part) -> Value | None:
    return format_number(part.t) if part.n else None


def _render_min(part: Part) -> Value | None:
    return None if part.lo is None else format_number(part.lo)


def _render_max(part: Part) -> Value | None:
    return None if part.hi is None else format_number(part.hi)


def _render_average(part: Part) -> Value | None:
    return format_number(part.t / part.n) if part.n else None


def _render_first(part: Part) -> Value | None:
    return None if part.f is None else part.f[1]


def _render_first_ts(part: Part) -> Value | None:
    return None if part.f is None else format_ms(part.f[0])


def _render_last(part: Part) -> Value | None:
    return None if part.la is None else part.la[1]


def _render_last_ts(part: Part) -> Value | None:
    return None if part.la is None else format_ms(part.la[0])


def _render_unique_list(part: Part) -> Value | None:
    return sorted(part.v) if part.v else None


def _render_unique_count(part: Part) -> Value | None:
    return str(len(part.v)) if part.v else None


def _render_most_frequent(part: Part) -> Value | None:
    return _most_frequent(part.v) if part.v else None


# By calculation type (one lookup: values are rendered per batch and CA on the hot path).
_RENDER: dict[str, Callable[[Part], Value | None]] = {
    "count": _render_count,
    "sum": _render_sum,
    "min": _render_min,
    "max": _render_max,
    "average": _render_average,
    "first_occurrence": _render_first,
    "first_occurrence_timestamp": _render_first_ts,
    "last_occurrence": _render_last,
    "last_occurrence_timestamp": _render_last_ts,
    "unique_list": _render_unique_list,
    "unique_values_count": _render_unique_count,
}


def render(ctype: str, part: Part) -> Value | None:
    """The value a merged partial stands for (None when it has none)."""
    return _RENDER.get(ctype, _render_most_frequent)(part)


@dataclass(frozen=True)
class CompiledCa:
    """One active CA, ready for the hot path."""

    id: int
    name: str
    definition: Definition
    observe: Observer
    fold_part: _Fold
    cap: int
    calculation_type: str
    synchronous: bool
    since_ms: int
    window_days: int | None
    keeps_days: bool  # CAs without a window keep day partials only when seeding is declared
    # The (lower-case) event name the data point requires, if it reads events of one name: a batch
    # without such an event has nothing for the CA.
    event_name: str | None = None
    # render() for this calculation type, looked up once (values are read per batch and CA).
    render_part: Callable[[Part], Value | None] = _render_most_frequent

    def fold(
        self,
        state: CaState,
        batch: Batch | BatchView,
        received_ms: int,
        now_ms: int,
        seed_cutoff_ms: int | None = None,
    ) -> bool:
        """Folds the batch's matching events into state; True if anything was added. Events before
        the seed's cutoff (the state's own seed, or `seed_cutoff_ms`) are left out."""
        view = batch if isinstance(batch, BatchView) else BatchView(batch, received_ms)
        return self.fold_observations(state, self.observe(view), now_ms, seed_cutoff_ms)

    def fold_observations(
        self, state: CaState, observations: list[Observation], now_ms: int, seed_cutoff_ms: int | None = None
    ) -> bool:
        if not observations:
            return False
        # Events before the period's start, the seed's cutoff or the window's first day don't count.
        floor = self.since_ms
        cutoff = state.cutoff_ms if state.seed is not None else seed_cutoff_ms
        if cutoff is None:
            cutoff = self.definition.seeding_cutoff_ms
        if cutoff is not None and cutoff > floor:
            floor = cutoff
        window = self.window_days
        oldest = None if window is None else now_ms // DAY_MS - window + 1
        if oldest is not None and oldest * DAY_MS > floor:
            floor = oldest * DAY_MS
        days, fold_part = state.days, self.fold_part
        # Without a window, a running total; days too only when a seed's cutoff may need them.
        with_total = oldest is None and (state.total is not None or not days)
        with_days = not with_total or self.keeps_days
        changed = False
        for ts, values in observations:
            if ts < floor:
                continue
            if with_days:
                day = ts // DAY_MS
                part = days.get(day)
                if part is None:
                    part = days[day] = Part()
                fold_part(part, ts, values)
            if with_total:
                if state.total is None:
                    state.total = Part()
                fold_part(state.total, ts, values)
            changed = True
        if oldest is not None and days and min(days) < oldest:
            for stale in [d for d in days if d < oldest]:
                del days[stale]
        return changed

    def value(self, state: CaState, now_ms: int) -> Value | None:
        return self.value_of((state,), state.seed, state.cutoff_ms, now_ms)

    def value_of(
        self, states: Sequence[CaState], seed: Part | None, cutoff_ms: int | None, now_ms: int
    ) -> Value | None:
        """The value of `states` (e.g. the backfill's and the live ones) with the seed: the running
        totals, or the day partials inside the time period and on or after the seed's cutoff."""
        window = self.window_days
        oldest = None if window is None else now_ms // DAY_MS - window + 1
        cutoff = cutoff_ms if seed is not None else self.definition.seeding_cutoff_ms
        # Days before the window's first day or the cutoff's day are left out.
        low = oldest
        if cutoff is not None:
            cutoff_day = cutoff // DAY_MS
            low = cutoff_day if low is None or cutoff_day > low else low
        parts: list[Part] = [] if seed is None else [seed]
        seen = seed is not None
        for state in states:
            days = state.days
            # A running total holds every day; with a seed, days before its cutoff must be left out.
            if oldest is None and state.total is not None and (seed is None or not days):
                parts.append(state.total)
                seen = True
                continue
            if days:
                seen = True
                if low is None:
                    parts.extend(days.values())
                else:
                    parts.extend([part for day, part in days.items() if day >= low])
        if not seen:
            return None
        if len(parts) == 1:  # the common case: one running total or day, read as it is
            merged = parts[0]
        else:
            merged = Part()
            for part in parts:
                absorb(merged, part)
        if merged.v is not None and len(merged.v) > self.cap:
            merged = Part(v=cap_values(merged.v, self.cap))  # only `v` is read for these types
        return self.render_part(merged)


def compile_ca(ca_id: int, name: str, definition: Definition) -> CompiledCa:
    ctype = definition.calculation_type
    where = compile_all(definition.conditions)
    point = definition.data_point
    return CompiledCa(
        id=ca_id,
        name=name,
        definition=definition,
        observe=make_observer(definition.data_point, where),
        fold_part=_FOLDS[ctype],
        cap=MAX_DISTINCT if ctype == "unique_values_count" else MAX_TRACKED,
        calculation_type=ctype,
        synchronous=definition.synchronous,
        since_ms=definition.time_period.since_ms or 0,
        window_days=definition.time_period.window_days,
        keeps_days=definition.seeding_cutoff_ms is not None,
        event_name=(
            point.event_name.lower() if point.type != "user_attribute" and point.event_name else None
        ),
        render_part=_RENDER.get(ctype, _render_most_frequent),
    )


def flat(value: Value) -> str:
    """A value as one string (lists joined by commas), for ports that carry strings only."""
    return value if isinstance(value, str) else ",".join(value)
