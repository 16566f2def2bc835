"""The event criterion: which events count (family, name, custom event type, product action,
attribute conditions) and how often in which window ("greater than 0 in the last 30 days" by default)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fermion.audiences.conditions import Condition, Errors, count_test, parse_condition
from fermion.audiences.events import DAY_MS, FAMILIES, HOUR_MS, EventFact, Window
from fermion.model.enums import CUSTOM_EVENT_TYPES, PRODUCT_ACTIONS

MAX_DAYS = 3650
_DEFAULT_COUNT = {"type": "number", "operator": "greater_than", "value": 0}
_KEYS = frozenset(
    {
        "type",
        "name",
        "custom_event_type",
        "product_action",
        "attributes",
        "count",
        "window_days",
        "window_hours",
        "between_days",
    }
)


def _int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _window(inner: dict[str, Any], field: str, errors: Errors, default_days: int) -> Window | None:
    given = [k for k in ("window_days", "window_hours", "between_days") if inner.get(k) is not None]
    if len(given) > 1:
        errors.append(
            (f"{field}.{given[1]}", f"only one of window_days, window_hours, between_days (got {given[0]})")
        )
        return None
    if not given or given[0] == "window_days":
        days = inner.get("window_days", default_days)
        if not _int_in(days, 1, MAX_DAYS):
            errors.append((f"{field}.window_days", f"must be an integer from 1 to {MAX_DAYS}"))
            return None
        return Window(DAY_MS, last=days)
    if given[0] == "window_hours":
        hours = inner["window_hours"]
        if not _int_in(hours, 1, MAX_DAYS * 24):
            errors.append((f"{field}.window_hours", f"must be an integer from 1 to {MAX_DAYS * 24}"))
            return None
        return Window(HOUR_MS, last=hours)
    pair = inner["between_days"]
    if (
        not isinstance(pair, list)
        or len(pair) != 2
        or not all(_int_in(x, 0, MAX_DAYS) for x in pair)
        or pair[0] >= pair[1]
    ):
        errors.append((f"{field}.between_days", "must be [N, M]: integers, 0 <= N < M days ago"))
        return None
    return Window(DAY_MS, min_ago=pair[0], max_ago=pair[1])


def parse_event(
    inner: Any, field: str, errors: Errors, default_days: int = 30
) -> tuple[str, str | None, Callable[[EventFact], bool], Window, Callable[[int], bool], bool] | None:
    """(family, lower-case name or None, matcher, window, test of the count, plain): a plain leaf
    matches every event of its family (and name, if given), so callers that found the event by
    those need not call the matcher."""
    if not isinstance(inner, dict):
        errors.append((field, "must be an object"))
        return None
    before = len(errors)
    for key in sorted(set(inner) - _KEYS):
        errors.append((f"{field}.{key}", "unknown field"))
    family = inner.get("type")
    if family not in FAMILIES:
        errors.append((f"{field}.type", f"must be one of: {', '.join(FAMILIES)}"))
    name = inner.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        errors.append((f"{field}.name", "must be a non-empty string"))
    custom_type = inner.get("custom_event_type")
    if custom_type is not None and (family != "custom_event" or custom_type not in CUSTOM_EVENT_TYPES):
        errors.append((f"{field}.custom_event_type", "only for custom_event: one of the custom event types"))
    action = inner.get("product_action")
    if action is not None and (family != "commerce_event" or not isinstance(action, str)):
        errors.append((f"{field}.product_action", "only for commerce_event: a product or promotion action"))
    elif isinstance(action, str) and action not in PRODUCT_ACTIONS and action not in ("view", "click"):
        errors.append((f"{field}.product_action", "unknown product or promotion action"))
    conditions: list[tuple[str, Condition]] = []
    attrs = inner.get("attributes", [])
    if not isinstance(attrs, list):
        errors.append((f"{field}.attributes", "must be a list of attribute conditions"))
        attrs = []
    for i, attr in enumerate(attrs):
        at = f"{field}.attributes[{i}]"
        attr_name = attr.get("name") if isinstance(attr, dict) else None
        if not isinstance(attr_name, str) or not attr_name:
            errors.append((f"{at}.name", "is required (a non-empty string)"))
            continue
        cond = parse_condition({k: v for k, v in attr.items() if k != "name"}, at, errors)
        if cond is not None:
            conditions.append((attr_name, cond))
    count_body = inner.get("count", _DEFAULT_COUNT)
    count = parse_condition(count_body, f"{field}.count", errors, "number")
    if count is not None and count.type != "number":
        errors.append((f"{field}.count.type", "must be number"))
    window = _window(inner, field, errors, default_days)
    if len(errors) > before or count is None or window is None:
        return None
    wanted_name = name.lower() if isinstance(name, str) else None
    count_of = count_test(count, count_body)
    if count_of is None:  # number conditions never read the time
        general = count.test

        def count_of(x: int) -> bool:
            return general(x, 0)

    def matches(fact: EventFact) -> bool:
        if family not in fact.families:
            return False
        if wanted_name is not None and fact.name != wanted_name:
            return False
        if custom_type is not None and fact.custom_event_type != custom_type:
            return False
        if action is not None and fact.product_action != action:
            return False
        return all(cond.test(fact.attributes.get(attr), fact.ts_ms) for attr, cond in conditions)

    if not conditions and custom_type is None and action is None:
        # The usual leaf (family and maybe name), called per event and criterion: no generator.
        def matches_plain(fact: EventFact) -> bool:
            return family in fact.families and (wanted_name is None or fact.name == wanted_name)

        return str(family), wanted_name, matches_plain, window, count_of, True
    return str(family), wanted_name, matches, window, count_of, False
