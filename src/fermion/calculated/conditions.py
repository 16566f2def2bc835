"""CA conditions compiled once into predicates over an attribute lookup (the hot path calls them).

String comparisons ignore case, like the audience builder; numbers are coerced from numeric strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from fermion.calculated.definition import DAY_MS, Condition, date_of, number_of

MISSING: Any = object()
# Finds an attribute's value by name (MISSING when absent).
Lookup = Callable[[str], Any]
Predicate = Callable[[Lookup], bool]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _compare(ctype: str) -> Callable[[Any], Any]:
    """The comparable form of a value for a condition type (None when it has none)."""
    if ctype == "number":
        return number_of
    if ctype == "date":
        return date_of
    if ctype == "boolean":
        return lambda v: _text(v).lower() if _text(v).lower() in ("true", "false") else None
    return lambda v: _text(v).lower()


def compile_condition(cond: Condition) -> Predicate:
    name, op = cond.attribute_name, cond.operator
    if op == "exists":
        return lambda get: get(name) is not MISSING
    if op == "not_exists":
        return lambda get: get(name) is MISSING
    if op == "empty":
        return lambda get: get(name) is None or _text(get(name)) == ""
    norm = _compare(cond.type)
    test = _value_test(cond, norm)

    def predicate(get: Lookup) -> bool:
        raw = get(name)
        if raw is MISSING or raw is None:
            return op in ("not_equals", "not_contains")
        value = norm(raw)
        return value is not None and test(value)

    return predicate


def _value_test(cond: Condition, norm: Callable[[Any], Any]) -> Callable[[Any], bool]:
    op = cond.operator
    if op in ("between", "between_dates"):
        low, high = norm(cond.min_value), norm(cond.max_value)
        if op == "between_dates" and isinstance(cond.max_value, str) and len(cond.max_value.strip()) <= 10:
            high = high + DAY_MS - 1  # a date-only upper bound includes that whole day
        return lambda v: bool(low <= v <= high)
    if op == "in_list":
        wanted = {norm(v) for v in cond.values or ()}
        return lambda v: v in wanted
    if op == "pattern":
        regex = re.compile(_text(cond.value), re.IGNORECASE)
        return lambda v: regex.search(v) is not None
    target = norm(cond.value)
    if op == "equals" and cond.type == "date":
        day = target // DAY_MS
        return lambda v: bool(v // DAY_MS == day)
    tests: dict[str, Callable[[Any], bool]] = {
        "equals": lambda v: bool(v == target),
        "not_equals": lambda v: bool(v != target),
        "contains": lambda v: target in v,
        "not_contains": lambda v: target not in v,
        "greater_than": lambda v: bool(v > target),
        "greater_or_equal": lambda v: bool(v >= target),
        "less_than": lambda v: bool(v < target),
        "less_than_or_equal": lambda v: bool(v <= target),
        "before": lambda v: bool(v < target),
        "after": lambda v: bool(v > target),
    }
    return tests[op]


def compile_all(conditions: Sequence[Condition]) -> Predicate | None:
    """One predicate requiring every condition (None when there are none)."""
    predicates = [compile_condition(c) for c in conditions]
    if not predicates:
        return None
    if len(predicates) == 1:
        return predicates[0]
    return lambda get: all(p(get) for p in predicates)
