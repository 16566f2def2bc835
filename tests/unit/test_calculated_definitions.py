"""CA definitions and conditions: validation naming the field, spelling variants, every operator."""

from __future__ import annotations

from typing import Any

import pytest

from fermion.calculated.conditions import MISSING, compile_condition
from fermion.calculated.definition import (
    OPERATOR_TYPES,
    Condition,
    InvalidDefinition,
    parse_definition,
)


def body(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "recipe_type": "event",
        "data_point": {"type": "event_attribute", "event_type": "custom_event", "attribute_name": "amount"},
        "calculation_type": "sum",
        "conditions": [],
        "time_period": {"type": "since", "date": "2019-10-01T00:00:00"},
    }
    base.update(changes)
    return base


def fields_of(definition: dict[str, Any]) -> set[str]:
    with pytest.raises(InvalidDefinition) as raised:
        parse_definition(definition)
    return {f for f, _ in raised.value.errors}


def test_accepts_both_spellings() -> None:
    point = body()["data_point"]
    a = parse_definition(body(data_point=None, datapoint=point, calculation_type="minimum"))
    b = parse_definition(body(calculation_type="min"))
    assert a == b and a.calculation_type == "min"
    assert parse_definition(body(calculation_type="maximum")).calculation_type == "max"
    seeded = parse_definition(body(seeding={"cuttoff_date": "2019-10-02"}))
    assert (
        seeded.seeding_cutoff_ms
        == parse_definition(body(seeding={"cutoff_date": "2019-10-02"})).seeding_cutoff_ms
    )


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"calculation_type": "median"}, {"draft_definition.calculation_type"}),
        ({"calculation_type": None}, {"draft_definition.calculation_type"}),
        ({"recipe_type": "audience"}, {"draft_definition.recipe_type"}),
        ({"data_point": None}, {"draft_definition.data_point"}),
        (
            {"data_point": {"type": "event_attribute", "event_type": "custom_event"}},
            {"draft_definition.data_point.attribute_name"},
        ),
        ({"data_point": {"type": "other", "attribute_name": "a"}}, {"draft_definition.data_point.type"}),
        (
            {
                "data_point": {
                    "type": "event",
                    "event_type": "screen_view",
                    "custom_event_type": "x",
                    "attribute_name": "a",
                }
            },
            {"draft_definition.data_point.custom_event_type"},
        ),
        (
            {"data_point": {"type": "event_attribute", "attribute_name": "a", "attribute_category": "x"}},
            {"draft_definition.data_point.attribute_category"},
        ),
        ({"time_period": {"type": "all"}}, {"draft_definition.time_period.type"}),
        ({"time_period": {"type": "since"}}, {"draft_definition.time_period.date"}),
        (
            {"time_period": {"type": "within", "within": 0, "within_unit": "days"}},
            {"draft_definition.time_period.within"},
        ),
        (
            {"time_period": {"type": "within", "within": 2, "within_unit": "months"}},
            {"draft_definition.time_period.within_unit"},
        ),
        ({"seeding": {"cutoff_date": "soon"}}, {"draft_definition.seeding.cutoff_date"}),
        ({"conditions": "x"}, {"draft_definition.conditions"}),
    ],
)
def test_invalid_definitions_name_the_field(changes: dict[str, Any], fields: set[str]) -> None:
    assert fields_of(body(**changes)) == fields


def cond(**fields: Any) -> dict[str, Any]:
    return {"type": "string", "operator": "equals", "attribute_name": "a", "value": None, "values": None,
            "min_value": None, "max_value": None, **fields}  # fmt: skip


@pytest.mark.parametrize(
    ("condition", "fields"),
    [
        (cond(value="x"), set()),
        (cond(), {"value"}),
        (cond(operator="in_list", value="x"), {"value", "values"}),
        (cond(operator="in_list", values=["a"]), set()),
        (cond(operator="exists", value="x"), {"value"}),
        (cond(type="number", operator="between", min_value=1), {"max_value"}),
        (cond(type="number", operator="between", min_value=1, max_value=2, value=3), {"value"}),
        (cond(type="number", operator="greater_than", value="abc"), {"value"}),
        (cond(type="date", operator="before", value="not a date"), {"value"}),
        (cond(type="boolean", operator="equals", value="maybe"), {"value"}),
        (cond(operator="greater_than", value="1"), {"operator"}),
        (cond(type="date", operator="contains", value="1"), {"operator"}),
        (cond(operator="like", value="1"), {"operator"}),
        (cond(type="text", value="1"), {"type"}),
        (cond(operator="pattern", value="("), {"value"}),
        (cond(attribute_name=None, value="x"), {"attribute_name"}),
    ],
)
def test_condition_value_rules(condition: dict[str, Any], fields: set[str]) -> None:
    definition = body(conditions=[condition])
    if not fields:
        parse_definition(definition)
        return
    assert fields_of(definition) == {f"draft_definition.conditions[0].{f}" for f in fields}


def test_the_operator_table_matches_the_spec() -> None:
    assert OPERATOR_TYPES["pattern"] == {"string"} and OPERATOR_TYPES["between_dates"] == {"date"}
    assert OPERATOR_TYPES["in_list"] == {"string", "number"} and len(OPERATOR_TYPES) == 17


JAN_2 = "2024-01-02T10:00:00Z"
OPERATORS = [
    ("string", "exists", {}, "x", True),
    ("string", "exists", {}, MISSING, False),
    ("string", "not_exists", {}, MISSING, True),
    ("string", "not_exists", {}, "", False),
    ("string", "empty", {}, "", True),
    ("string", "empty", {}, "a", False),
    ("string", "equals", {"value": "Red"}, "red", True),
    ("string", "equals", {"value": "Red"}, "blue", False),
    ("string", "not_equals", {"value": "Red"}, "blue", True),
    ("string", "not_equals", {"value": "Red"}, MISSING, True),
    ("string", "contains", {"value": "ED"}, "red", True),
    ("string", "not_contains", {"value": "ED"}, "blue", True),
    ("string", "pattern", {"value": "^r.d$"}, "RED", True),
    ("string", "pattern", {"value": "^r.d$"}, "reds", False),
    ("string", "in_list", {"values": ["a", "B"]}, "b", True),
    ("string", "in_list", {"values": ["a", "B"]}, "c", False),
    ("number", "equals", {"value": "2"}, 2.0, True),
    ("number", "equals", {"value": 2}, "x", False),
    ("number", "not_equals", {"value": 2}, "3", True),
    ("number", "in_list", {"values": [1, "2"]}, "2.0", True),
    ("number", "greater_than", {"value": 2}, "3", True),
    ("number", "greater_than", {"value": 2}, 2, False),
    ("number", "greater_or_equal", {"value": 2}, 2, True),
    ("number", "less_than", {"value": 2}, 1, True),
    ("number", "less_than_or_equal", {"value": 2}, 3, False),
    ("number", "between", {"min_value": 1, "max_value": 3}, "3", True),
    ("number", "between", {"min_value": 1, "max_value": 3}, 4, False),
    ("boolean", "equals", {"value": "true"}, True, True),
    ("boolean", "equals", {"value": False}, "true", False),
    ("date", "equals", {"value": "2024-01-02"}, JAN_2, True),
    ("date", "before", {"value": "2024-01-03"}, JAN_2, True),
    ("date", "after", {"value": "2024-01-03"}, JAN_2, False),
    ("date", "between_dates", {"min_value": "2024-01-01", "max_value": "2024-01-02"}, JAN_2, True),
    ("date", "between_dates", {"min_value": "2024-01-03", "max_value": "2024-01-04"}, 1704189600000, False),
]


@pytest.mark.parametrize(("ctype", "operator", "params", "actual", "expected"), OPERATORS)
def test_every_operator(
    ctype: str, operator: str, params: dict[str, Any], actual: Any, expected: bool
) -> None:
    values = params.get("values")
    condition = Condition(
        ctype,
        operator,
        "a",
        params.get("value"),
        tuple(values) if values is not None else None,
        params.get("min_value"),
        params.get("max_value"),
    )
    predicate = compile_condition(condition)
    assert predicate(lambda name: actual if name == "a" else MISSING) is expected
    assert {operator for _, operator, *_ in OPERATORS} == set(OPERATOR_TYPES)
