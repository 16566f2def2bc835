"""CA seeds: the shape per calculation type, and seeds combined with live events after the cutoff."""

from __future__ import annotations

from typing import Any

import pytest

from fermion.calculated.compiled import compile_ca
from fermion.calculated.definition import DAY_MS, parse_definition
from fermion.calculated.seeds import InvalidSeed, apply_seed, parse_cutoff, seed_part
from fermion.calculated.state import CaState, format_ms
from fermion.model.codec import decode_batch_obj

CUTOFF = parse_cutoff("2026-01-10")
NOW = CUTOFF + 5 * DAY_MS


def buy(ts: int, amount: Any, category: str = "a") -> Any:
    data = {
        "event_name": "Buy",
        "timestamp_unixtime_ms": ts,
        "custom_attributes": {"amount": amount, "cat": category},
    }
    return decode_batch_obj({"mpid": 1, "events": [{"event_type": "custom_event", "data": data}]})


def compiled(ctype: str, attribute: str | None, seeding: bool = True) -> Any:
    """With `seeding`, the definition declares it (events before 2025-12-01 never count)."""
    point: dict[str, Any] = {"type": "event", "event_type": "custom_event"}
    if attribute:
        point = {**point, "type": "event_attribute", "attribute_name": attribute}
    body: dict[str, Any] = {
        "calculation_type": ctype,
        "data_point": point,
        "time_period": {"type": "since", "date": "2020-01-01"},
    }
    if seeding:
        body["seeding"] = {"cutoff_date": "2025-12-01"}
    return compile_ca(1, ctype, parse_definition(body))


SEEDS = [
    ("count", None, {"value": 5}, "7"),
    ("sum", "amount", {"value": 100.5}, "104.5"),
    ("minimum", "amount", {"value": 1}, "1"),
    ("max", "amount", {"value": 1}, "3"),
    ("average", "amount", {"key_value_pairs": {"sum": 10, "count": 2}}, "3.5"),  # (10 + 1 + 3) / (2 + 2)
    ("first_occurrence", "amount", {"value": "old"}, "old"),
    ("last_occurrence", "amount", {"value": "old"}, "3"),
    ("first_occurrence_timestamp", None, {"value": CUTOFF - 50 * DAY_MS}, format_ms(CUTOFF - 50 * DAY_MS)),
    ("last_occurrence_timestamp", None, {"value": CUTOFF - 50 * DAY_MS}, format_ms(CUTOFF + 2 * DAY_MS)),
    ("most_frequent", "cat", {"key_value_pairs": {"z": 10, "a": 1}}, "z"),
    ("unique_list", "cat", {"list": ["travel", "pets"]}, ["a", "pets", "travel"]),
    ("unique_values_count", "cat", {"list": ["travel", "pets", "a"]}, "3"),
]


@pytest.mark.parametrize(("ctype", "attribute", "seed", "expected"), SEEDS)
def test_seeds_combine_with_events_on_or_after_the_cutoff(
    ctype: str, attribute: str | None, seed: dict[str, Any], expected: Any
) -> None:
    ca = compiled(ctype, attribute)
    state = CaState()
    # Before the seed arrives, an event before the cutoff was already folded: it no longer counts.
    ca.fold(state, buy(CUTOFF - DAY_MS, 1000, "old"), NOW, NOW)
    apply_seed(state, seed_part(ctype, seed, CUTOFF), CUTOFF)
    for batch in (buy(CUTOFF - 3 * DAY_MS, 999), buy(CUTOFF + DAY_MS, 1), buy(CUTOFF + 2 * DAY_MS, 3)):
        ca.fold(state, batch, NOW, NOW)
    assert ca.value(state, NOW) == expected


@pytest.mark.parametrize(
    ("ctype", "seed"),
    [
        ("sum", {"value": "abc"}),
        ("sum", {}),
        ("average", {"key_value_pairs": {"sum": 1, "count": 0}}),
        ("most_frequent", {"key_value_pairs": {"a": "many"}}),
        ("unique_list", {"list": "a"}),
        ("first_occurrence", {"value": None}),
        ("last_occurrence_timestamp", {"value": -5}),
        ("sum", "100"),
        ("median", {"value": 1}),
    ],
)
def test_bad_seeds_are_rejected(ctype: str, seed: Any) -> None:
    with pytest.raises(InvalidSeed):
        seed_part(ctype, seed, CUTOFF)


def test_cutoff_dates() -> None:
    assert parse_cutoff("2026-01-10") == parse_cutoff("2026-01-10T15:00:00") == CUTOFF
    with pytest.raises(InvalidSeed):
        parse_cutoff("10/01/2026")


def test_seeds_do_not_expire_with_a_rolling_window() -> None:
    body = {
        "calculation_type": "count",
        "data_point": {"type": "event", "event_type": "custom_event"},
        "time_period": {"type": "within", "within": 1, "within_unit": "days"},
    }
    ca = compile_ca(1, "n", parse_definition(body))
    state = CaState()
    apply_seed(state, seed_part("count", {"value": 4}, CUTOFF), CUTOFF)
    ca.fold(state, buy(NOW, 1), NOW, NOW)
    assert ca.value(state, NOW) == "5"
    assert ca.value(state, NOW + 10 * DAY_MS) == "4"


def test_without_declared_seeding_a_seed_applies_from_its_arrival() -> None:
    """CAs whose definition declares no seeding keep running totals, not days: a seed's cutoff then
    leaves out later events before it, but cannot take out what was already counted."""
    ca = compiled("sum", "amount", seeding=False)
    state = CaState()
    ca.fold(state, buy(CUTOFF - DAY_MS, 1000), NOW, NOW)
    apply_seed(state, seed_part("sum", {"value": 5}, CUTOFF), CUTOFF)
    ca.fold(state, buy(CUTOFF - 3 * DAY_MS, 999), NOW, NOW)
    ca.fold(state, buy(CUTOFF + DAY_MS, 1), NOW, NOW)
    assert ca.value(state, NOW) == "1006"
    assert not state.days and state.total is not None
