"""Audience criteria, table-driven: every criterion kind and operator, and/or/not/exclude, and the
validation errors naming their field."""

from __future__ import annotations

from typing import Any

import pytest

from fermion.audiences.conditions import DAY_MS, parse_date_ms
from fermion.audiences.criteria import UserView, compile_criteria

NOW = parse_date_ms("2026-06-15T12:00:00Z") or 0


def matches(criteria: dict[str, Any], view: UserView, now: int = NOW) -> bool:
    compiled, errors = compile_criteria(1, criteria)
    assert compiled is not None, errors
    return compiled.test(view, now)


def attr(cond: dict[str, Any], name: str = "a") -> dict[str, Any]:
    return {"user_attribute": {"name": name, "condition": cond}}


STRING_CASES = [
    ({"operator": "contains", "value": "OLD"}, "Gold", True),
    ({"operator": "contains", "value": "x"}, "Gold", False),
    ({"operator": "not_contains", "value": "x"}, "Gold", True),
    ({"operator": "not_contains", "value": "x"}, None, True),
    ({"operator": "exact_match", "value": "gold"}, "GOLD", True),
    ({"operator": "exact_match", "value": "gold"}, "golden", False),
    ({"operator": "not_match", "value": "gold"}, "silver", True),
    ({"operator": "pattern", "value": "g*d"}, "Gold", True),
    ({"operator": "pattern", "value": "g?ld"}, "gold", True),
    ({"operator": "pattern", "value": "g?ld"}, "goold", False),
    ({"operator": "pattern", "value": "a.c"}, "abc", False),  # regex characters are literal
    ({"operator": "in_list", "values": ["gold", "silver"]}, "Silver", True),
    ({"operator": "exists"}, "", True),
    ({"operator": "exists"}, None, False),
    ({"operator": "not_exists"}, None, True),
]
LIST_CASES = [
    ({"operator": "includes", "value": "Red"}, ["red", "blue"], True),
    ({"operator": "includes", "value": "re"}, ["red"], False),
    ({"operator": "not_includes", "value": "green"}, ["red"], True),
    ({"operator": "partial_match", "value": "LU"}, ["red", "blue"], True),
    ({"operator": "partial_match", "value": "x"}, ["red"], False),
    ({"operator": "exists"}, [], False),
]
NUMBER_CASES = [
    ({"operator": "equals", "value": 3}, "3", True),
    ({"operator": "not_equals", "value": 3}, 4, True),
    ({"operator": "greater_than", "value": 3}, 3.5, True),
    ({"operator": "greater_or_equal", "value": 3}, 3, True),
    ({"operator": "less_than", "value": 3}, 3, False),
    ({"operator": "less_or_equal", "value": 3}, 3, True),
    ({"operator": "between", "min": 1, "max": 5}, 5, True),
    ({"operator": "between", "min": 1, "max": 5}, 6, False),
    ({"operator": "greater_than", "value": 1}, "abc", False),
    ({"operator": "greater_than", "value": 1}, True, False),
]
DATE_CASES = [
    ({"operator": "within_last_days", "value": 7}, NOW - 6 * DAY_MS, True),
    ({"operator": "within_last_days", "value": 7}, NOW - 8 * DAY_MS, False),
    ({"operator": "between_days_ago", "min": 2, "max": 5}, NOW - 3 * DAY_MS, True),
    ({"operator": "between_days_ago", "min": 2, "max": 5}, NOW - 1 * DAY_MS, False),
    ({"operator": "before", "value": "2026-06-10"}, "2026-06-09T23:59:59Z", True),
    ({"operator": "before", "value": "2026-06-10"}, "2026-06-10T00:00:00Z", False),  # excluded
    ({"operator": "after", "value": "2026-06-10"}, "2026-06-10T00:00:00Z", True),  # included
    ({"operator": "on", "value": "2026-06-10"}, "2026-06-10T23:59:00Z", True),
    ({"operator": "on", "value": "2026-06-10"}, "2026-06-11T00:00:00Z", False),
    ({"operator": "between_dates", "min": "2026-06-01", "max": "2026-06-10"}, "2026-06-10T12:00:00Z", True),
    ({"operator": "between_dates", "min": "2026-06-01", "max": "2026-06-10"}, "2026-05-31T12:00:00Z", False),
    ({"operator": "within_last_days", "value": 7}, "not a date", False),
]
BOOLEAN_CASES = [
    ({"operator": "is_true"}, True, True),
    ({"operator": "is_true"}, "false", False),
    ({"operator": "is_false"}, False, True),
    ({"operator": "is_false"}, None, False),
]


@pytest.mark.parametrize(
    ("kind", "cond", "value", "expected"),
    [("string", *c) for c in STRING_CASES]
    + [("list", *c) for c in LIST_CASES]
    + [("number", *c) for c in NUMBER_CASES]
    + [("date", *c) for c in DATE_CASES]
    + [("boolean", *c) for c in BOOLEAN_CASES],
)
def test_user_attribute_operators(kind: str, cond: dict[str, Any], value: Any, expected: bool) -> None:
    view = UserView(mpid=1, attributes={} if value is None else {"a": value})
    assert matches(attr({"type": kind, **cond}), view) is expected


def test_calculated_attributes_use_the_same_operators() -> None:
    view = UserView(mpid=1, calculated={"spend": "120.5"})
    cond = {"type": "number", "operator": "greater_than", "value": 100}
    assert matches({"calculated_attribute": {"name": "spend", "condition": cond}}, view)
    assert not matches({"calculated_attribute": {"name": "other", "condition": cond}}, view)


@pytest.mark.parametrize(
    ("criterion", "expected"),
    [
        ({"identity": {"type": "email"}}, True),
        ({"identity": {"type": "customer_id"}}, False),
        (
            {
                "identity": {
                    "type": "email",
                    "condition": {"type": "string", "operator": "contains", "value": "@EX"},
                }
            },
            True,
        ),
        (
            {
                "identity": {
                    "type": "mpid",
                    "condition": {"type": "string", "operator": "exact_match", "value": "7"},
                }
            },
            True,
        ),
        ({"consent": {"regulation": "gdpr", "purpose": "Marketing"}}, True),
        ({"consent": {"regulation": "gdpr", "purpose": "analytics", "consented": False}}, True),
        ({"consent": {"regulation": "gdpr", "purpose": "unknown"}}, False),
        ({"consent": {"regulation": "ccpa"}}, False),
        ({"consent": {"regulation": "ccpa", "opted_out": False}}, True),
        ({"audience": {"id": 5}}, True),
        ({"audience": {"id": 6}}, False),
        ({"audience": {"id": 6, "member": False}}, True),
        (
            {
                "device": {
                    "field": "platform",
                    "condition": {"type": "string", "operator": "exact_match", "value": "ios"},
                }
            },
            True,
        ),
        ({"device": {"field": "device_model"}}, False),
        ({"first_seen": {"operator": "within_last_days", "value": 3}}, True),
        ({"first_seen": {"operator": "before", "value": "2026-06-01"}}, False),
    ],
)
def test_profile_criteria(criterion: dict[str, Any], expected: bool) -> None:
    view = UserView(
        mpid=7,
        identities={"email": "me@example.com"},
        consent={("gdpr", "marketing"): True, ("gdpr", "analytics"): False},
        memberships={5: True, 6: False},
        device={"platform": "iOS"},
        first_seen_ms=NOW - 2 * DAY_MS,
    )
    assert matches(criterion, view) is expected


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"and": [{"identity": {"type": "email"}}, {"audience": {"id": 5}}]}, True),
        ({"and": [{"identity": {"type": "email"}}, {"audience": {"id": 6}}]}, False),
        ({"or": [{"audience": {"id": 6}}, {"audience": {"id": 5}}]}, True),
        ({"not": {"audience": {"id": 5}}}, False),
        ({"exclude": [{"audience": {"id": 5}}, {"audience": {"id": 6}}]}, True),
        ({"exclude": [{"audience": {"id": 5}}, {"identity": {"type": "email"}}]}, False),
    ],
)
def test_combinators(criteria: dict[str, Any], expected: bool) -> None:
    view = UserView(mpid=1, identities={"email": "e"}, memberships={5: True})
    assert matches(criteria, view) is expected


@pytest.mark.parametrize(
    ("criteria", "fields"),
    [
        (
            {"and": [{"identity": {"type": "email"}}, {"event": {"type": "custom_event", "window_days": 0}}]},
            ["criteria.and[1].event.window_days"],
        ),
        ({"and": []}, ["criteria.and"]),
        ({"exclude": [{"identity": {"type": "email"}}]}, ["criteria.exclude"]),
        ({"bogus": {}}, ["criteria.bogus"]),
        ({"event": {"type": "party"}}, ["criteria.event.type"]),
        (
            {"event": {"type": "screen_view", "custom_event_type": "navigation"}},
            ["criteria.event.custom_event_type"],
        ),
        ({"event": {"type": "custom_event", "between_days": [5, 2]}}, ["criteria.event.between_days"]),
        (
            {"event": {"type": "custom_event", "window_days": 3, "window_hours": 2}},
            ["criteria.event.window_hours"],
        ),
        (
            {
                "event": {
                    "type": "custom_event",
                    "attributes": [{"name": "x", "type": "number", "operator": "contains"}],
                }
            },
            ["criteria.event.attributes[0].operator"],
        ),
        (
            {"event": {"type": "custom_event", "count": {"operator": "between", "min": 3}}},
            ["criteria.event.count.max"],
        ),
        (
            {
                "user_attribute": {
                    "name": "a",
                    "condition": {"type": "date", "operator": "on", "value": "june"},
                }
            },
            ["criteria.user_attribute.condition.value"],
        ),
        (
            {"user_attribute": {"condition": {"type": "string", "operator": "exists"}}},
            ["criteria.user_attribute.name"],
        ),
        ({"consent": {"regulation": "lgpd"}}, ["criteria.consent.regulation"]),
        ({"audience": {"id": 1}}, ["criteria.audience.id"]),  # itself
        ({"device": {"field": "shoe_size"}}, ["criteria.device.field"]),
        ([], ["criteria"]),
    ],
)
def test_validation_names_the_field(criteria: Any, fields: list[str]) -> None:
    compiled, errors = compile_criteria(1, criteria)
    assert compiled is None
    assert [f for f, _ in errors] == fields


def test_references_and_identity_use_are_reported() -> None:
    compiled, _ = compile_criteria(1, {"and": [{"audience": {"id": 4}}, {"identity": {"type": "email"}}]})
    assert compiled is not None
    assert compiled.references == {4} and compiled.uses_identities
