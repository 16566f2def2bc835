"""Value conditions of audience criteria (spec 5.1 "Operators"): parsed from JSON, compiled to tests.

A condition is `{"type": "string"|"number"|"date"|"list"|"boolean", "operator": ..., "value"?,
"values"?, "min"?, "max"?}`. Strings compare case-insensitively. Date recency is relative to the
moment of evaluation, so a compiled date test also tells when its answer may change (`changes_at`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fermion.model.values import iso_to_ms, number_or_none

DAY_MS = 86_400_000

TYPES = ("string", "number", "date", "list", "boolean")
_COMMON = ("exists", "not_exists")
OPERATORS: dict[str, tuple[str, ...]] = {
    "string": (
        *_COMMON,
        "contains",
        "not_contains",
        "exact_match",
        "not_match",
        "pattern",
        "in_list",
    ),
    "list": (*_COMMON, "includes", "not_includes", "partial_match"),
    "number": (
        *_COMMON,
        "equals",
        "not_equals",
        "greater_than",
        "greater_or_equal",
        "less_than",
        "less_or_equal",
        "between",
    ),
    "date": (*_COMMON, "within_last_days", "between_days_ago", "before", "after", "on", "between_dates"),
    "boolean": (*_COMMON, "is_true", "is_false"),
}

Errors = list[tuple[str, str]]
# (value or None when absent, now_ms) -> matches
ValueTest = Callable[[Any, int], bool]
# (value, now_ms) -> the next time after now at which the answer may change, or None
ChangeTime = Callable[[Any, int], int | None]


@dataclass(frozen=True)
class Condition:
    type: str
    operator: str
    test: ValueTest
    changes_at: ChangeTime | None = None  # only for relative date operators


def count_test(condition: Condition, body: dict[str, Any]) -> Callable[[int], bool] | None:
    """`condition` (parsed from `body`) for an event count, an exact int: the bounds compared
    directly, without number_or_none (the same answers, as counts stay far below 2**53). None for
    operators without such a form."""
    if condition.type != "number":
        return None
    op = condition.operator
    if op == "between":
        low, high = float(body["min"]), float(body["max"])
        return lambda x: low <= x <= high
    if op not in _COUNT_OPS:
        return None
    ref = float(body["value"])
    if op == "greater_than":
        return lambda x: x > ref
    if op == "greater_or_equal":
        return lambda x: x >= ref
    if op == "less_than":
        return lambda x: x < ref
    if op == "less_or_equal":
        return lambda x: x <= ref
    if op == "equals":
        return lambda x: x == ref
    return lambda x: x != ref


_COUNT_OPS = frozenset(
    {"greater_than", "greater_or_equal", "less_than", "less_or_equal", "equals", "not_equals"}
)


def _never(_: Any, __: int) -> int | None:
    return None


def parse_date_ms(value: Any) -> int | None:
    """Epoch milliseconds (numbers or digit strings), or an ISO 8601 date/datetime string (UTC unless it
    says otherwise)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return iso_to_ms(value)


def _day_start(ms: int) -> int:
    return ms - ms % DAY_MS


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (list, dict)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).lower()


def _texts(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, list):
        return [t for t in (_text(v) for v in value) if t is not None]
    single = _text(value)
    return None if single is None else [single]


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """`*` is any run of characters, `?` exactly one; everything else literal; whole value, any case."""
    parts = [".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern.lower()]
    return re.compile("".join(parts), re.DOTALL)


def parse_condition(
    body: Any, field: str, errors: Errors, default_type: str | None = None
) -> Condition | None:
    """A Condition, or None with the problems added to `errors` (fields start with `field`)."""
    if not isinstance(body, dict):
        errors.append((field, "must be an object"))
        return None
    kind = body.get("type", default_type)
    if kind not in TYPES:
        errors.append((f"{field}.type", f"must be one of: {', '.join(TYPES)}"))
        return None
    op = body.get("operator")
    if op not in OPERATORS[kind]:
        errors.append((f"{field}.operator", f"for {kind} must be one of: {', '.join(OPERATORS[kind])}"))
        return None
    before = len(errors)
    built = _build(kind, op, body, field, errors)
    if built is None or len(errors) > before:
        return None
    test, changes = built
    return Condition(kind, op, test, changes)


def _need_text(body: dict[str, Any], key: str, field: str, errors: Errors) -> str:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or str(value) == "":
        errors.append((f"{field}.{key}", "is required (a non-empty string)"))
        return ""
    return str(value).lower()


def _need_number(
    body: dict[str, Any], key: str, field: str, errors: Errors, minimum: float | None = None
) -> float:
    value = number_or_none(body.get(key)) if not isinstance(body.get(key), str) else None
    if value is None or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" >= {minimum:g}"
        errors.append((f"{field}.{key}", f"is required (a number{bound})"))
        return 0.0
    return value


def _need_date(body: dict[str, Any], key: str, field: str, errors: Errors) -> int:
    value = body.get(key)
    ms = parse_date_ms(value) if isinstance(value, str) else None
    if ms is None:
        errors.append((f"{field}.{key}", "is required (a UTC date, YYYY-MM-DD)"))
        return 0
    return _day_start(ms)


Built = tuple[ValueTest, ChangeTime | None] | None


def _build(kind: str, op: str, body: dict[str, Any], field: str, errors: Errors) -> Built:
    if op == "exists":
        return (lambda v, _n: v is not None and v != []), None
    if op == "not_exists":
        return (lambda v, _n: v is None or v == []), None
    if kind == "string":
        return _build_string(op, body, field, errors)
    if kind == "list":
        return _build_list(op, body, field, errors)
    if kind == "number":
        return _build_number(op, body, field, errors)
    if kind == "date":
        return _build_date(op, body, field, errors)
    want = op == "is_true"

    def boolean(v: Any, _n: int) -> bool:
        text = _text(v)
        return (
            text is not None
            and (text in ("true", "1", "yes")) == want
            and text in ("true", "false", "1", "0", "yes", "no")
        )

    return boolean, None


def _build_string(op: str, body: dict[str, Any], field: str, errors: Errors) -> Built:
    if op == "in_list":
        values = body.get("values")
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(x, (str, int, float)) for x in values)
        ):
            errors.append((f"{field}.values", "is required (a non-empty list of strings)"))
            return None
        wanted = frozenset(str(x).lower() for x in values)
        return (lambda v, _n: _text(v) in wanted), None
    needle = _need_text(body, "value", field, errors)
    if op == "contains":
        return (lambda v, _n: (t := _text(v)) is not None and needle in t), None
    if op == "not_contains":
        return (lambda v, _n: (t := _text(v)) is None or needle not in t), None
    if op == "exact_match":  # strings (the usual value) compared without _text's checks
        return (lambda v, _n: v.lower() == needle if type(v) is str else _text(v) == needle), None
    if op == "not_match":
        return (lambda v, _n: _text(v) != needle), None
    regex = pattern_regex(needle)
    return (lambda v, _n: (t := _text(v)) is not None and regex.fullmatch(t) is not None), None


def _build_list(op: str, body: dict[str, Any], field: str, errors: Errors) -> Built:
    needle = _need_text(body, "value", field, errors)
    if op == "includes":
        return (lambda v, _n: needle in (_texts(v) or ())), None
    if op == "not_includes":
        return (lambda v, _n: needle not in (_texts(v) or ())), None
    return (lambda v, _n: any(needle in t for t in (_texts(v) or ()))), None


def _build_number(op: str, body: dict[str, Any], field: str, errors: Errors) -> Built:
    if op == "between":
        before = len(errors)
        low = _need_number(body, "min", field, errors)
        high = _need_number(body, "max", field, errors)
        if len(errors) == before and low > high:
            errors.append((f"{field}.max", "must be at least min"))
        return (lambda v, _n: (x := number_or_none(v)) is not None and low <= x <= high), None
    ref = _need_number(body, "value", field, errors)
    # One closure per operator (no inner call): these run per user and criterion.
    if op == "not_equals":
        return (lambda v, _n: (x := number_or_none(v)) is None or x != ref), None
    if op == "equals":
        return (lambda v, _n: (x := number_or_none(v)) is not None and x == ref), None
    if op == "greater_than":
        return (lambda v, _n: (x := number_or_none(v)) is not None and x > ref), None
    if op == "greater_or_equal":
        return (lambda v, _n: (x := number_or_none(v)) is not None and x >= ref), None
    if op == "less_than":
        return (lambda v, _n: (x := number_or_none(v)) is not None and x < ref), None
    if op == "less_or_equal":
        return (lambda v, _n: (x := number_or_none(v)) is not None and x <= ref), None
    raise KeyError(op)


def _build_date(op: str, body: dict[str, Any], field: str, errors: Errors) -> Built:
    if op == "within_last_days":
        days = int(_need_number(body, "value", field, errors, minimum=0) * DAY_MS)

        def within(v: Any, now: int) -> bool:
            ms = parse_date_ms(v)
            return ms is not None and now - days <= ms <= now

        def within_changes(v: Any, now: int) -> int | None:
            ms = parse_date_ms(v)
            return _first_after(now, None if ms is None else (ms, ms + days + 1))

        return within, within_changes
    if op == "between_days_ago":
        before = len(errors)
        low = int(_need_number(body, "min", field, errors, minimum=0) * DAY_MS)
        high = int(_need_number(body, "max", field, errors, minimum=0) * DAY_MS)
        if len(errors) == before and low > high:
            errors.append((f"{field}.max", "must be at least min"))

        def ago(v: Any, now: int) -> bool:
            ms = parse_date_ms(v)
            return ms is not None and now - high <= ms <= now - low

        def ago_changes(v: Any, now: int) -> int | None:
            ms = parse_date_ms(v)
            return _first_after(now, None if ms is None else (ms + low, ms + high + 1))

        return ago, ago_changes
    if op == "between_dates":
        start = _need_date(body, "min", field, errors)
        end = _need_date(body, "max", field, errors) + DAY_MS  # both dates included
        return (lambda v, _n: (ms := parse_date_ms(v)) is not None and start <= ms < end), None
    day = _need_date(body, "value", field, errors)
    if op == "before":  # the date itself excluded
        return (lambda v, _n: (ms := parse_date_ms(v)) is not None and ms < day), None
    if op == "after":  # the date itself included
        return (lambda v, _n: (ms := parse_date_ms(v)) is not None and ms >= day), None
    return (lambda v, _n: (ms := parse_date_ms(v)) is not None and day <= ms < day + DAY_MS), None


def _first_after(now: int, times: tuple[int, ...] | None) -> int | None:
    later = [t for t in times or () if t > now]
    return min(later) if later else None
