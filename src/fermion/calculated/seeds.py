"""CA seeds (CA Seeding API, spec 5.5): a seed's JSON checked against its CA's type, as a partial."""

from __future__ import annotations

from typing import Any

from fermion.calculated.definition import DAY_MS, canonical_type, number_of
from fermion.calculated.state import MAX_DISTINCT, MAX_TRACKED, CaState, Part, cap_values
from fermion.model.values import iso_to_ms


class InvalidSeed(ValueError):
    pass


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)


def _number(seed: dict[str, Any]) -> float:
    number = number_of(seed.get("value"))
    if number is None:
        raise InvalidSeed("seed.value must be a number.")
    return number


def _pairs(seed: dict[str, Any]) -> dict[str, Any]:
    pairs = seed.get("key_value_pairs")
    if not isinstance(pairs, dict) or not pairs:
        raise InvalidSeed("seed.key_value_pairs must be a non-empty object.")
    return pairs


def _list(seed: dict[str, Any]) -> list[Any]:
    items = seed.get("list")
    if not isinstance(items, list) or any(isinstance(i, dict | list) or i is None for i in items):
        raise InvalidSeed("seed.list must be a list of values.")
    return items


def seed_part(calculation_type: str, seed: Any, cutoff_ms: int) -> Part:
    """The partial a seed stands for; its first/last values sort just before the cutoff, so live
    events on or after the cutoff come after it. Raises InvalidSeed."""
    ctype = canonical_type(calculation_type)
    if not isinstance(seed, dict):
        raise InvalidSeed("seed must be an object.")
    before = cutoff_ms - 1
    if ctype == "count":
        return Part(n=_number(seed))
    if ctype == "sum":
        return Part(t=_number(seed), n=1)
    if ctype == "min":
        return Part(lo=_number(seed))
    if ctype == "max":
        return Part(hi=_number(seed))
    if ctype in ("first_occurrence", "last_occurrence"):
        value = seed.get("value")
        if value is None or isinstance(value, dict | list):
            raise InvalidSeed("seed.value is required.")
        pair = (before, _text(value))
        return Part(f=pair) if ctype == "first_occurrence" else Part(la=pair)
    if ctype in ("first_occurrence_timestamp", "last_occurrence_timestamp"):
        ms = number_of(seed.get("value"))
        if ms is None or ms < 0:
            raise InvalidSeed("seed.value must be a timestamp in epoch milliseconds.")
        return Part(f=(int(ms), "")) if ctype == "first_occurrence_timestamp" else Part(la=(int(ms), ""))
    if ctype == "average":
        pairs = _pairs(seed)
        total, count = number_of(pairs.get("sum")), number_of(pairs.get("count"))
        if total is None or count is None or count <= 0:
            raise InvalidSeed("seed.key_value_pairs needs a numeric sum and a count above 0.")
        return Part(t=total, n=count)
    if ctype == "most_frequent":
        tracked: dict[str, tuple[float, int]] = {}
        for key, count in _pairs(seed).items():
            weight = number_of(count)
            if weight is None or weight < 0:
                raise InvalidSeed(f"seed.key_value_pairs.{key} must be a count.")
            tracked[str(key)] = (weight, before)
        return Part(v=cap_values(tracked, MAX_TRACKED))
    if ctype in ("unique_list", "unique_values_count"):
        cap = MAX_TRACKED if ctype == "unique_list" else MAX_DISTINCT
        return Part(v=cap_values({_text(i): (1.0, before) for i in _list(seed)}, cap))
    raise InvalidSeed(f"unknown calculation type {calculation_type!r}.")


def parse_cutoff(text: Any) -> int:
    """A seed's cutoff date (yyyy-MM-dd or ISO 8601) as epoch ms at the start of that UTC day."""
    ms = iso_to_ms(text)
    if ms is None:
        raise InvalidSeed("cutoff_date must be a date (yyyy-MM-dd).")
    return ms // DAY_MS * DAY_MS


def apply_seed(state: CaState, part: Part, cutoff_ms: int) -> None:
    """Sets the seed; live partials before the cutoff day no longer count for this user."""
    state.seed = part
    state.cutoff_ms = cutoff_ms
    if state.days:  # the days are kept: they replace the running total, which held the dropped ones
        for day in [d for d in state.days if d < cutoff_ms // DAY_MS]:
            del state.days[day]
        state.total = None
