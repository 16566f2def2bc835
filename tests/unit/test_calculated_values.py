"""CA accumulators: every calculation type over since/within periods, windows expiring as time moves,
out-of-order events, backfill + live parts equal to folding everything at once, commerce products."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from fermion.calculated.compiled import CompiledCa, compile_ca
from fermion.calculated.definition import DAY_MS, parse_definition
from fermion.calculated.state import CaState, decode_state, encode_state, format_ms, merge_states
from fermion.model.batch import Batch
from fermion.model.codec import decode_batch_obj

D0 = 1_790_000_000_000 // DAY_MS * DAY_MS  # a UTC midnight
HOUR = 3_600_000
NOW = D0 + 5 * DAY_MS + HOUR
# (timestamp, amount, category): amounts as numbers or numeric strings; "x" is not a number.
EVENTS = [
    (D0 + HOUR, 10, "b"),
    (D0 + DAY_MS, "2.5", "a"),
    (D0 + 2 * DAY_MS, 7, "b"),
    (D0 + 5 * DAY_MS, "x", "c"),
]


def buy(ts: int, amount: Any, category: str, name: str = "Buy") -> Batch:
    data = {
        "event_name": name,
        "custom_event_type": "transaction",
        "timestamp_unixtime_ms": ts,
        "custom_attributes": {"amount": amount, "category": category},
    }
    return decode_batch_obj({"mpid": 1, "events": [{"event_type": "custom_event", "data": data}]})


def ca(
    ctype: str, attribute: str | None = "amount", period: dict[str, Any] | None = None, **point: Any
) -> CompiledCa:
    data_point: dict[str, Any] = {"type": "event", "event_type": "custom_event", "event_name": "buy", **point}
    if attribute:
        data_point.update(type="event_attribute", attribute_name=attribute)
    body = {
        "calculation_type": ctype,
        "datapoint": data_point,
        "time_period": period or {"type": "since", "date": "2020-01-01T00:00:00"},
    }
    return compile_ca(1, ctype, parse_definition(body))


def fold_all(compiled: CompiledCa, batches: list[Batch], now_ms: int = NOW) -> CaState:
    state = CaState()
    for batch in batches:
        compiled.fold(state, batch, now_ms, now_ms)
    return state


ALL_TIME = [
    ("count", None, "4"),
    ("sum", "amount", "19.5"),
    ("min", "amount", "2.5"),
    ("minimum", "amount", "2.5"),
    ("max", "amount", "10"),
    ("maximum", "amount", "10"),
    ("average", "amount", "6.5"),
    ("first_occurrence", "amount", "10"),
    ("last_occurrence", "amount", "x"),
    ("first_occurrence_timestamp", None, format_ms(D0 + HOUR)),
    ("last_occurrence_timestamp", None, format_ms(D0 + 5 * DAY_MS)),
    ("unique_list", "category", ["a", "b", "c"]),
    ("unique_values_count", "category", "3"),
    ("most_frequent", "category", "b"),
]
LAST_3_DAYS = {  # days D3..D5 at NOW: only the "x" event
    "count": "1",
    "sum": None,
    "min": None,
    "max": None,
    "average": None,
    "first_occurrence": "x",
    "last_occurrence": "x",
    "first_occurrence_timestamp": format_ms(D0 + 5 * DAY_MS),
    "last_occurrence_timestamp": format_ms(D0 + 5 * DAY_MS),
    "unique_list": ["c"],
    "unique_values_count": "1",
    "most_frequent": "c",
}


@pytest.mark.parametrize(("ctype", "attribute", "expected"), ALL_TIME)
def test_every_type_since_a_date(ctype: str, attribute: str | None, expected: Any) -> None:
    compiled = ca(ctype, attribute)
    assert compiled.value(fold_all(compiled, [buy(*e) for e in EVENTS]), NOW) == expected


@pytest.mark.parametrize(("ctype", "attribute", "expected"), ALL_TIME)
def test_every_type_ignores_events_before_the_since_date(
    ctype: str, attribute: str | None, expected: Any
) -> None:
    compiled = ca(ctype, attribute, {"type": "since", "date": "2020-01-01"})
    old = buy(1_500_000_000_000, 1000, "zzz")  # 2017
    assert compiled.value(fold_all(compiled, [old, *(buy(*e) for e in EVENTS)]), NOW) == expected


@pytest.mark.parametrize(("ctype", "attribute", "_"), ALL_TIME)
def test_every_type_within_a_window_and_expiry(ctype: str, attribute: str | None, _: Any) -> None:
    compiled = ca(ctype, attribute, {"type": "within", "within": 3, "within_unit": "days"})
    state = fold_all(compiled, [buy(*e) for e in EVENTS], now_ms=D0 + 2 * DAY_MS)  # nothing pruned yet
    expected = LAST_3_DAYS[{"minimum": "min", "maximum": "max"}.get(ctype, ctype)]
    assert compiled.value(state, NOW) == expected
    later = NOW + 3 * DAY_MS  # the window has moved past every event
    assert compiled.value(state, later) == ("0" if ctype == "count" else None)
    assert compiled.definition.synchronous


def test_weeks_windows_span_seven_days_per_week() -> None:
    compiled = ca("count", None, {"type": "within", "within": 1, "within_unit": "weeks"})
    state = fold_all(compiled, [buy(*e) for e in EVENTS], now_ms=D0)
    assert compiled.value(state, D0 + 6 * DAY_MS) == "4"
    assert compiled.value(state, D0 + 7 * DAY_MS) == "3"


@pytest.mark.parametrize(("ctype", "attribute", "expected"), ALL_TIME)
def test_out_of_order_events_give_the_same_value(ctype: str, attribute: str | None, expected: Any) -> None:
    compiled = ca(ctype, attribute)
    for order in itertools.permutations(EVENTS):
        assert compiled.value(fold_all(compiled, [buy(*e) for e in order]), NOW) == expected


@pytest.mark.parametrize(("ctype", "attribute", "expected"), ALL_TIME)
def test_backfill_and_live_parts_equal_folding_everything(
    ctype: str, attribute: str | None, expected: Any
) -> None:
    compiled = ca(ctype, attribute)
    for split in range(len(EVENTS) + 1):
        base = fold_all(compiled, [buy(*e) for e in EVENTS[:split]])
        live = fold_all(compiled, [buy(*e) for e in EVENTS[split:]])
        stored = [decode_state(encode_state(s)) for s in (base, live)]  # through their stored form
        assert compiled.value(merge_states(stored[0], stored[1], compiled.cap), NOW) == expected


def test_data_point_matching_by_type_name_and_custom_type() -> None:
    batches = [buy(D0, 1, "a"), buy(D0, 2, "a", name="Other")]
    assert ca("count", None).value(fold_all(ca("count", None), batches), NOW) == "1"
    by_type = ca("count", None, custom_event_type="navigation")
    assert by_type.value(fold_all(by_type, batches), NOW) is None


def test_most_frequent_ties_break_alphabetically_and_unique_list_keeps_100() -> None:
    compiled = ca("most_frequent", "category")
    state = fold_all(compiled, [buy(D0, 1, c) for c in ("pear", "apple", "pear", "apple")])
    assert compiled.value(state, NOW) == "apple"
    listed = ca("unique_list", "category")
    state = fold_all(listed, [buy(D0 + i, 1, f"v{i:03d}") for i in range(150)])
    value = listed.value(state, NOW)
    assert isinstance(value, list) and len(value) == 100 and value == sorted(value) and value[0] == "v000"


def commerce(ts: int, products: list[dict[str, Any]], action: str = "purchase") -> Batch:
    data = {"timestamp_unixtime_ms": ts, "product_action": {"action": action, "products": products}}
    return decode_batch_obj({"mpid": 1, "events": [{"event_type": "commerce_event", "data": data}]})


def product_ca(ctype: str, attribute: str, quantity: bool = False) -> CompiledCa:
    body = {
        "calculation_type": ctype,
        "data_point": {
            "type": "event_attribute",
            "event_type": "commerce_event",
            "custom_event_type": "purchase",
            "attribute_name": attribute,
            "attribute_category": "product_attribute",
            "use_product_quantity": quantity,
        },
        "time_period": {"type": "since", "date": "2020-01-01"},
    }
    return compile_ca(2, ctype, parse_definition(body))


PRODUCTS = [
    {"id": "sku1", "name": "Shoe", "price": 10, "quantity": 3, "custom_attributes": {"color": "red"}},
    {"id": "sku2", "name": "Hat", "price": 20, "quantity": 1, "custom_attributes": {"color": "blue"}},
]


@pytest.mark.parametrize(
    ("ctype", "attribute", "quantity", "expected"),
    [
        ("sum", "price", False, "30"),
        ("average", "price", False, "15"),
        ("average", "Price", True, "12.5"),  # (10 * 3 + 20) / 4
        ("most_frequent", "color", False, "blue"),
        ("most_frequent", "color", True, "red"),
        ("first_occurrence", "name", False, "Shoe"),
        ("last_occurrence", "name", False, "Hat"),
        ("unique_list", "sku", False, ["sku1", "sku2"]),
        ("count", "price", False, "1"),
    ],
)
def test_product_attributes(ctype: str, attribute: str, quantity: bool, expected: Any) -> None:
    compiled = product_ca(ctype, attribute, quantity)
    state = fold_all(compiled, [commerce(D0, PRODUCTS), commerce(D0, PRODUCTS, action="add_to_cart")])
    assert compiled.value(state, NOW) == expected


def test_conditions_filter_events_and_products() -> None:
    body = {
        "calculation_type": "sum",
        "data_point": {
            "type": "event_attribute",
            "event_type": "commerce_event",
            "attribute_name": "price",
            "attribute_category": "product_attribute",
        },
        "conditions": [{"type": "string", "operator": "equals", "attribute_name": "color", "value": "RED"}],
        "time_period": {"type": "since", "date": "2020-01-01"},
    }
    compiled = compile_ca(3, "red", parse_definition(body))
    assert compiled.value(fold_all(compiled, [commerce(D0, PRODUCTS)]), NOW) == "10"


def test_user_attribute_data_points() -> None:
    body = {
        "calculation_type": "unique_list",
        "data_point": {"type": "user_attribute", "attribute_name": "tier"},
        "time_period": {"type": "since", "date": "2020-01-01"},
    }
    compiled = compile_ca(4, "tiers", parse_definition(body))
    batches = [
        decode_batch_obj(
            {"mpid": 1, "user_attributes": {"tier": t}, "events": [{"event_type": "session_start"}]}
        )
        for t in ("gold", "free", "gold")
    ]
    assert compiled.value(fold_all(compiled, [decode_batch_obj({"mpid": 1}), *batches]), NOW) == [
        "free",
        "gold",
    ]
