"""CA definitions (Platform API v2 `draft_definition`): the typed model and its validation.

Accepts the documented spelling variants (`datapoint`/`data_point`, `min`/`minimum`, `max`/`maximum`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fermion.model.values import iso_to_ms, number_or_none

CALCULATION_TYPES = (
    "count",
    "sum",
    "min",
    "max",
    "average",
    "first_occurrence",
    "last_occurrence",
    "first_occurrence_timestamp",
    "last_occurrence_timestamp",
    "unique_list",
    "unique_values_count",
    "most_frequent",
)
_TYPE_ALIASES = {"minimum": "min", "maximum": "max"}
# Types whose new value rides on the same outgoing batch (spec 5.4; a `within` window makes any type so).
SYNCHRONOUS = frozenset({"count", "sum", "min", "max", "last_occurrence_timestamp", "unique_list"})
# Types that only count or time events, so they need no attribute.
_NO_ATTRIBUTE = frozenset({"count", "first_occurrence_timestamp", "last_occurrence_timestamp"})
DATAPOINT_TYPES = ("event", "event_attribute", "user_attribute")
ATTRIBUTE_CATEGORIES = ("event_attribute", "product_attribute", "promotion_attribute")
CONDITION_TYPES = ("string", "number", "boolean", "date")
_ALL = frozenset(CONDITION_TYPES)
OPERATOR_TYPES: dict[str, frozenset[str]] = {
    "exists": _ALL,
    "not_exists": _ALL,
    "empty": _ALL,
    "equals": _ALL,
    "in_list": frozenset({"string", "number"}),
    "contains": frozenset({"string"}),
    "not_contains": frozenset({"string"}),
    "pattern": frozenset({"string"}),
    "not_equals": frozenset({"string", "number"}),
    "greater_than": frozenset({"number"}),
    "greater_or_equal": frozenset({"number"}),
    "less_than": frozenset({"number"}),
    "less_than_or_equal": frozenset({"number"}),
    "between": frozenset({"number"}),
    "before": frozenset({"date"}),
    "after": frozenset({"date"}),
    "between_dates": frozenset({"date"}),
}
NO_VALUE_OPERATORS = frozenset({"exists", "not_exists", "empty"})
LIST_OPERATORS = frozenset({"in_list"})
RANGE_OPERATORS = frozenset({"between", "between_dates"})
DAY_MS = 86_400_000
MAX_WITHIN_DAYS = 3650


class InvalidDefinition(ValueError):
    """Validation failed; `errors` holds (field, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = errors


@dataclass(frozen=True)
class DataPoint:
    type: str
    event_type: str | None = None
    event_name: str | None = None
    custom_event_type: str | None = None
    attribute_name: str | None = None
    attribute_category: str = "event_attribute"
    use_product_quantity: bool = False


@dataclass(frozen=True)
class Condition:
    type: str
    operator: str
    attribute_name: str
    value: Any = None
    values: tuple[Any, ...] | None = None
    min_value: Any = None
    max_value: Any = None


@dataclass(frozen=True)
class TimePeriod:
    type: str  # "since" | "within"
    since_ms: int | None = None
    within: int | None = None
    within_unit: str | None = None

    @property
    def window_days(self) -> int | None:
        if self.type != "within" or self.within is None:
            return None
        return self.within * (7 if self.within_unit == "weeks" else 1)


@dataclass(frozen=True)
class Definition:
    calculation_type: str
    data_point: DataPoint
    conditions: tuple[Condition, ...] = ()
    time_period: TimePeriod = field(default_factory=lambda: TimePeriod("since", since_ms=0))
    seeding_cutoff_ms: int | None = None
    recipe_type: str = "event"

    @property
    def synchronous(self) -> bool:
        return self.calculation_type in SYNCHRONOUS or self.time_period.type == "within"


def canonical_type(name: str) -> str:
    return _TYPE_ALIASES.get(name, name)


class _Checker:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.errors: list[tuple[str, str]] = []

    def err(self, name: str, message: str) -> None:
        self.errors.append((f"{self.prefix}.{name}" if self.prefix else name, message))

    def text(self, obj: dict[str, Any], key: str, name: str, required: bool = False) -> str | None:
        value = obj.get(key)
        if value is None or value == "":
            if required:
                self.err(name, "is required.")
            return None
        if not isinstance(value, str):
            self.err(name, "must be a string.")
            return None
        return value


def parse_definition(obj: Any, prefix: str = "draft_definition") -> Definition:
    """A validated Definition from its JSON; raises InvalidDefinition naming every bad field."""
    c = _Checker(prefix)
    if not isinstance(obj, dict):
        raise InvalidDefinition([(prefix, "must be an object.")])
    recipe = obj.get("recipe_type") or "event"
    if recipe != "event":
        c.err("recipe_type", "only 'event' is supported.")
    ctype_raw = c.text(obj, "calculation_type", "calculation_type", required=True)
    ctype = canonical_type(ctype_raw) if ctype_raw else ""
    if ctype_raw and ctype not in CALCULATION_TYPES:
        c.err("calculation_type", f"must be one of: {', '.join(CALCULATION_TYPES)}.")
    dp_key = (
        "datapoint" if obj.get("data_point") is None and obj.get("datapoint") is not None else "data_point"
    )
    data_point = _data_point(obj.get(dp_key), c, dp_key, ctype)
    raw_conditions = obj.get("conditions") or []
    conditions: list[Condition] = []
    if not isinstance(raw_conditions, list):
        c.err("conditions", "must be a list.")
    else:
        for i, raw in enumerate(raw_conditions):
            parsed = _condition(raw, c, f"conditions[{i}]")
            if parsed is not None:
                conditions.append(parsed)
    period = _time_period(obj.get("time_period"), c)
    cutoff = None
    seeding = obj.get("seeding")
    if isinstance(seeding, dict):
        raw_cutoff = seeding.get("cutoff_date", seeding.get("cuttoff_date"))
        if raw_cutoff is not None:
            cutoff = iso_to_ms(raw_cutoff)
            if cutoff is None:
                c.err("seeding.cutoff_date", "must be an ISO 8601 date.")
    elif seeding is not None:
        c.err("seeding", "must be an object.")
    if c.errors or data_point is None:
        raise InvalidDefinition(c.errors or [(f"{prefix}.data_point", "is required.")])
    return Definition(ctype, data_point, tuple(conditions), period, cutoff, recipe)


def _data_point(obj: Any, c: _Checker, key: str, ctype: str) -> DataPoint | None:
    if not isinstance(obj, dict):
        c.err(key, "is required (an object).")
        return None
    dtype = c.text(obj, "type", f"{key}.type") or (
        "event_attribute" if obj.get("attribute_name") else "event"
    )
    if dtype not in DATAPOINT_TYPES:
        c.err(f"{key}.type", f"must be one of: {', '.join(DATAPOINT_TYPES)}.")
    event_type = c.text(obj, "event_type", f"{key}.event_type")
    custom = c.text(obj, "custom_event_type", f"{key}.custom_event_type")
    if custom is not None and event_type not in ("custom_event", "commerce_event"):
        c.err(f"{key}.custom_event_type", "is only allowed with custom_event and commerce_event.")
    attribute = c.text(obj, "attribute_name", f"{key}.attribute_name")
    category = c.text(obj, "attribute_category", f"{key}.attribute_category") or "event_attribute"
    if category not in ATTRIBUTE_CATEGORIES:
        c.err(f"{key}.attribute_category", f"must be one of: {', '.join(ATTRIBUTE_CATEGORIES)}.")
    if dtype in ("event_attribute", "user_attribute") and attribute is None:
        c.err(f"{key}.attribute_name", f"is required for a {dtype} data point.")
    if ctype and ctype not in _NO_ATTRIBUTE and attribute is None and dtype == "event":
        c.err(f"{key}.attribute_name", f"is required for {ctype}.")
    if dtype == "event" and event_type is None and obj.get("event_name") is None:
        c.err(f"{key}.event_type", "an event data point needs an event_type or event_name.")
    quantity = obj.get("use_product_quantity")
    if quantity is not None and not isinstance(quantity, bool):
        c.err(f"{key}.use_product_quantity", "must be a boolean.")
    return DataPoint(
        type=dtype,
        event_type=event_type,
        event_name=c.text(obj, "event_name", f"{key}.event_name"),
        custom_event_type=custom,
        attribute_name=attribute,
        attribute_category=category,
        use_product_quantity=bool(quantity),
    )


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _condition(obj: Any, c: _Checker, key: str) -> Condition | None:
    if not isinstance(obj, dict):
        c.err(key, "must be an object.")
        return None
    before = len(c.errors)
    ctype = c.text(obj, "type", f"{key}.type", required=True) or ""
    if ctype and ctype not in CONDITION_TYPES:
        c.err(f"{key}.type", f"must be one of: {', '.join(CONDITION_TYPES)}.")
    operator = c.text(obj, "operator", f"{key}.operator", required=True) or ""
    allowed = OPERATOR_TYPES.get(operator)
    if operator and allowed is None:
        c.err(f"{key}.operator", f"unknown operator {operator!r}.")
    elif allowed is not None and ctype in CONDITION_TYPES and ctype not in allowed:
        c.err(f"{key}.operator", f"{operator} does not apply to {ctype} conditions.")
    attribute = c.text(obj, "attribute_name", f"{key}.attribute_name", required=True) or ""
    value, values = obj.get("value"), obj.get("values")
    low, high = obj.get("min_value"), obj.get("max_value")
    uses = (
        set()
        if operator in NO_VALUE_OPERATORS
        else {"values"}
        if operator in LIST_OPERATORS
        else {"min_value", "max_value"}
        if operator in RANGE_OPERATORS
        else {"value"}
    )
    given = {"value": value, "values": values, "min_value": low, "max_value": high}
    for name, content in given.items():
        if name in uses and _empty(content):
            c.err(f"{key}.{name}", f"is required for {operator}.")
        elif name not in uses and not _empty(content):
            c.err(f"{key}.{name}", f"must be empty for {operator}.")
    if "values" in uses and values is not None and not isinstance(values, list):
        c.err(f"{key}.values", "must be a list.")
    if len(c.errors) == before:
        _check_operands(ctype, operator, given, c, key)
    if len(c.errors) != before:
        return None
    return Condition(
        ctype, operator, attribute, value, tuple(values) if isinstance(values, list) else None, low, high
    )


def _check_operands(ctype: str, operator: str, given: dict[str, Any], c: _Checker, key: str) -> None:
    for name, content in given.items():
        items = content if isinstance(content, list) else [content]
        for item in items:
            if _empty(item):
                continue
            if ctype == "number" and number_or_none(item) is None:
                c.err(f"{key}.{name}", "must be a number.")
            elif ctype == "date" and _date_operand(item) is None:
                c.err(f"{key}.{name}", "must be an ISO 8601 date.")
            elif ctype == "boolean" and str(item).lower() not in ("true", "false"):
                c.err(f"{key}.{name}", "must be true or false.")
    if operator == "pattern" and isinstance(given["value"], str):
        try:
            re.compile(given["value"])
        except re.error as exc:
            c.err(f"{key}.value", f"is not a valid pattern: {exc}.")


def _date_operand(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    return iso_to_ms(value)


def _time_period(obj: Any, c: _Checker) -> TimePeriod:
    if obj is None:
        return TimePeriod("since", since_ms=0)
    if not isinstance(obj, dict):
        c.err("time_period", "must be an object.")
        return TimePeriod("since", since_ms=0)
    ptype = obj.get("type")
    if ptype == "all":
        c.err("time_period.type", "'all' is not supported; use since or within.")
    elif ptype == "since":
        since = iso_to_ms(obj.get("date"))
        if since is None:
            c.err("time_period.date", "is required for since (an ISO 8601 date).")
        return TimePeriod("since", since_ms=since or 0)
    elif ptype == "within":
        within, unit = obj.get("within"), obj.get("within_unit")
        if not isinstance(within, int) or isinstance(within, bool) or within < 1:
            c.err("time_period.within", "must be a positive integer.")
        elif unit not in ("days", "weeks"):
            c.err("time_period.within_unit", "must be days or weeks.")
        elif within * (7 if unit == "weeks" else 1) > MAX_WITHIN_DAYS:
            c.err("time_period.within", f"a window may span at most {MAX_WITHIN_DAYS} days.")
        else:
            return TimePeriod("within", within=within, within_unit=unit)
    else:
        c.err("time_period.type", "must be since or within.")
    return TimePeriod("since", since_ms=0)


def number_of(value: Any) -> float | None:
    """A number from a number or a numeric string (values are strings on the wire)."""
    return number_or_none(value)


def date_of(value: Any) -> int | None:
    """Epoch ms from epoch ms or an ISO 8601 string."""
    return _date_operand(value)
