"""Event criteria: which events count (families, names, attributes), count and recency windows that
expire with time, and membership transitions of a workspace's audiences."""

from __future__ import annotations

from typing import Any

import pytest

from fermion.audiences.criteria import UserView, next_count_change
from fermion.audiences.evaluate import (
    apply_events,
    build_workspace,
    evaluate_transitions,
    evaluate_user,
    prune_state,
    prune_states,
)
from fermion.audiences.events import DAY_MS, HOUR_MS, facts_of
from fermion.audiences.records import Audience, Kind, Status
from fermion.audiences.touch import Touch
from fermion.model.codec import decode_batch_obj

NOW = 1_780_000_000_000 - 1_780_000_000_000 % DAY_MS + 12 * HOUR_MS  # noon UTC


def batch(*events: dict[str, Any]) -> Any:
    return decode_batch_obj({"environment": "production", "mpid": "7", "events": list(events)})


def custom(name: str, ts: int, kind: str = "transaction", **attrs: Any) -> dict[str, Any]:
    data = {
        "event_name": name,
        "custom_event_type": kind,
        "timestamp_unixtime_ms": ts,
        "custom_attributes": attrs,
    }
    return {"event_type": "custom_event", "data": data}


def audience(aid: int, criteria: Any) -> Audience:
    return Audience(
        id=aid, workspace_id=1, account_id=1, name=f"a{aid}", status=Status.ACTIVE, criteria=criteria
    )


def run(criteria: Any, events: list[dict[str, Any]], at: int = NOW) -> tuple[bool, int | None]:
    ws = build_workspace([audience(1, criteria)])
    view = UserView(mpid=7)
    apply_events(ws, view.events, facts_of(batch(*events), NOW))
    outcome = evaluate_user(ws.evaluated, view, {}, at)[0]
    return outcome.member, outcome.next_check_ms


@pytest.mark.parametrize(
    ("event", "criterion", "expected"),
    [
        (custom("Buy", NOW), {"type": "custom_event", "name": "BUY"}, True),
        (custom("Buy", NOW), {"type": "custom_event", "name": "Sell"}, False),
        (custom("Buy", NOW), {"type": "custom_event", "custom_event_type": "transaction"}, True),
        (custom("Buy", NOW), {"type": "custom_event", "custom_event_type": "navigation"}, False),
        (
            custom("Buy", NOW, sku="AB-1"),
            {
                "type": "custom_event",
                "attributes": [{"name": "sku", "type": "string", "operator": "pattern", "value": "ab-*"}],
            },
            True,
        ),
        (
            custom("Buy", NOW, price=5),
            {
                "type": "custom_event",
                "attributes": [{"name": "price", "type": "number", "operator": "greater_than", "value": 9}],
            },
            False,
        ),
        (custom("attribution", NOW, kind="attribution"), {"type": "attribution"}, True),
        (
            {"event_type": "screen_view", "data": {"screen_name": "Home", "timestamp_unixtime_ms": NOW}},
            {"type": "screen_view", "name": "home"},
            True,
        ),
        (
            {"event_type": "session_start", "data": {"timestamp_unixtime_ms": NOW}},
            {"type": "session_start"},
            True,
        ),
        (
            {"event_type": "crash_report", "data": {"timestamp_unixtime_ms": NOW}},
            {"type": "crash_report"},
            True,
        ),
        ({"event_type": "uninstall", "data": {"timestamp_unixtime_ms": NOW}}, {"type": "uninstall"}, True),
        (
            {
                "event_type": "application_state_transition",
                "data": {
                    "application_transition_type": "application_initialized",
                    "is_first_run": True,
                    "timestamp_unixtime_ms": NOW,
                },
            },
            {"type": "install"},
            True,
        ),
        (
            {
                "event_type": "application_state_transition",
                "data": {
                    "application_transition_type": "application_initialized",
                    "is_upgrade": True,
                    "timestamp_unixtime_ms": NOW,
                },
            },
            {"type": "install"},
            False,
        ),
        (
            {
                "event_type": "application_state_transition",
                "data": {
                    "application_transition_type": "application_initialized",
                    "is_upgrade": True,
                    "timestamp_unixtime_ms": NOW,
                },
            },
            {"type": "upgrade"},
            True,
        ),
        (
            {
                "event_type": "commerce_event",
                "data": {
                    "product_action": {"action": "purchase", "products": []},
                    "timestamp_unixtime_ms": NOW,
                },
            },
            {"type": "commerce_event", "product_action": "purchase"},
            True,
        ),
        (
            {
                "event_type": "commerce_event",
                "data": {"product_action": {"action": "add_to_cart"}, "timestamp_unixtime_ms": NOW},
            },
            {"type": "commerce_event", "product_action": "purchase"},
            False,
        ),
    ],
)
def test_which_events_count(event: dict[str, Any], criterion: dict[str, Any], expected: bool) -> None:
    assert run({"event": criterion}, [event])[0] is expected


@pytest.mark.parametrize(
    ("criterion", "ages", "expected"),
    [
        ({}, [29 * DAY_MS], True),  # default: more than 0 in the last 30 days
        ({}, [32 * DAY_MS], False),
        (
            {"window_days": 7, "count": {"operator": "greater_or_equal", "value": 2}},
            [DAY_MS, 2 * DAY_MS],
            True,
        ),
        (
            {"window_days": 7, "count": {"operator": "greater_or_equal", "value": 2}},
            [DAY_MS, 9 * DAY_MS],
            False,
        ),
        ({"window_hours": 2}, [HOUR_MS // 2], True),
        ({"window_hours": 2}, [4 * HOUR_MS], False),
        ({"between_days": [3, 10]}, [5 * DAY_MS], True),
        ({"between_days": [3, 10]}, [DAY_MS], False),
        ({"count": {"operator": "equals", "value": 0}}, [], True),  # "did not do"
    ],
)
def test_count_and_recency_windows(criterion: dict[str, Any], ages: list[int], expected: bool) -> None:
    events = [custom("Buy", NOW - age) for age in ages]
    assert run({"event": {"type": "custom_event", "name": "Buy", **criterion}}, events)[0] is expected


def test_a_window_expires_and_says_when() -> None:
    criteria = {"event": {"type": "custom_event", "window_days": 7}}
    member, next_check = run(criteria, [custom("Buy", NOW - 6 * DAY_MS)])
    assert member and next_check is not None and NOW < next_check <= NOW + 2 * DAY_MS
    assert run(criteria, [custom("Buy", NOW - 6 * DAY_MS)], at=next_check)[0] is False
    assert run(criteria, [custom("Buy", NOW - 6 * DAY_MS)], at=next_check - 1)[0] is True


def test_between_days_ago_enters_later() -> None:
    criteria = {"event": {"type": "custom_event", "between_days": [2, 5]}}
    member, next_check = run(criteria, [custom("Buy", NOW)])
    assert not member and next_check is not None
    assert run(criteria, [custom("Buy", NOW)], at=next_check)[0] is True


def test_prune_drops_expired_buckets_only() -> None:
    ws = build_workspace([audience(1, {"event": {"type": "custom_event", "window_days": 2}})])
    state: dict[str, dict[int, int]] = {"other@0.0": {1: 1}}
    apply_events(ws, state, facts_of(batch(custom("a", NOW - 10 * DAY_MS), custom("b", NOW)), NOW))
    prune_state(ws, state, NOW)
    key = ws.counted[0].compiled.event_criteria[0].key
    assert list(state[key]) == [NOW // DAY_MS]
    assert state["other@0.0"] == {1: 1}  # may belong to an audience activated a moment ago
    # Limited to some keys, only those are pruned.
    state[key][NOW // DAY_MS - 10] = 1
    prune_states(ws, [(state, set())], NOW)
    assert len(state[key]) == 2
    prune_states(ws, [(state, {key})], NOW)
    assert list(state[key]) == [NOW // DAY_MS]


def test_transitions_and_references() -> None:
    base = audience(
        1,
        {
            "user_attribute": {
                "name": "tier",
                "condition": {"type": "string", "operator": "exact_match", "value": "gold"},
            }
        },
    )
    ref = audience(2, {"not": {"audience": {"id": 1}}})
    ws = build_workspace([ref, base])
    assert [c.audience.id for c in ws.evaluated] == [1, 2]  # referencing audiences last
    view = UserView(mpid=7, attributes={"tier": "gold"})
    first, second = evaluate_user(ws.evaluated, view, {2}, NOW)
    assert first.joined and not first.left
    assert second.left and not second.member  # saw audience 1's new answer
    view = UserView(mpid=7, attributes={"tier": "gold"})
    steady = evaluate_user(ws.evaluated[:1], view, {1}, NOW)[0]
    assert not steady.joined and not steady.left and steady.member


def test_calculating_audiences_are_counted_but_not_evaluated() -> None:
    calc = audience(3, {"event": {"type": "session_start"}})
    calc.status = Status.CALCULATING
    ws = build_workspace([], [calc])
    assert not ws.evaluated and [c.audience.id for c in ws.counted] == [3]
    assert list(ws.by_family) == [("session_start", None)]


def test_touch_limits_evaluation_to_what_changed() -> None:
    by_event = audience(1, {"event": {"type": "custom_event", "name": "a"}})
    by_attr = audience(
        2, {"user_attribute": {"name": "tier", "condition": {"type": "string", "operator": "exists"}}}
    )
    ref = audience(3, {"audience": {"id": 2}})
    ws = build_workspace([by_event, by_attr, ref])
    view = UserView(mpid=7, attributes={"tier": "gold"})
    only_attr = evaluate_user(ws.evaluated, view, set(), NOW, Touch(attributes={"tier"}))
    # The referencing audience follows the membership it reads.
    assert [(o.audience.id, o.member) for o in only_attr] == [(2, True), (3, True)]
    assert evaluate_user(ws.evaluated, view, {2, 3}, NOW, Touch(attributes={"other"})) == []
    assert len(evaluate_user(ws.evaluated, view, {2, 3}, NOW, Touch(everything=True))) == 3


def test_a_touched_calculated_attribute_evaluates_only_the_audiences_reading_it() -> None:
    def reading(aid: int, name: str) -> Audience:
        condition = {"type": "number", "operator": "greater_than", "value": 1}
        return audience(aid, {"calculated_attribute": {"name": name, "condition": condition}})

    ws = build_workspace([reading(1, "spend"), reading(2, "visits"), reading(3, "spend")])
    assert ws.calculated_names == {"spend", "visits"}
    view = UserView(mpid=7, calculated={"spend": "5", "visits": "0"})
    spend = evaluate_user(ws.evaluated, view, set(), NOW, Touch(calculated_names={"spend", "other"}))
    assert [(o.audience.id, o.member) for o in spend] == [(1, True), (3, True)]
    assert evaluate_user(ws.evaluated, view, set(), NOW, Touch(calculated_names={"other"})) == []
    assert len(evaluate_user(ws.evaluated, view, set(), NOW, Touch(calculated=True))) == 3


def test_transitions_and_recheck_time_agree_with_the_full_decisions() -> None:
    twice = {
        "event": {"type": "custom_event", "name": "a", "count": {"operator": "greater_or_equal", "value": 2}}
    }
    tier = {"user_attribute": {"name": "tier", "condition": {"type": "string", "operator": "exists"}}}
    ws = build_workspace([audience(1, twice), audience(2, tier), audience(3, {"audience": {"id": 2}})])
    state: dict[str, dict[int, int]] = {}
    apply_events(ws, state, facts_of(batch(custom("a", NOW - HOUR_MS), custom("a", NOW)), NOW))
    for members in (set(), {1, 2, 3}, {2}):
        full = evaluate_user(ws.evaluated, UserView(mpid=7, events=state), members, NOW)
        moved, check = evaluate_transitions(ws.evaluated, UserView(mpid=7, events=state), members, NOW)
        assert [(o.audience.id, o.member) for o in moved] == [
            (o.audience.id, o.member) for o in full if o.member != o.was_member
        ]
        assert check == min(o.next_check_ms for o in full if o.next_check_ms is not None)


@pytest.mark.parametrize(
    "criteria",
    [
        {"event": {"type": "custom_event", "name": "a", "window_days": 3}},
        {
            "and": [
                {"event": {"type": "custom_event", "name": "a", "window_days": 3}},
                {"user_attribute": {"name": "tier", "condition": {"type": "string", "operator": "exists"}}},
            ]
        },
        {
            "exclude": [
                {"event": {"type": "custom_event", "name": "b", "window_hours": 5}},
                {"event": {"type": "custom_event", "name": "a", "between_days": [1, 4]}},
            ]
        },
        {"not": {"or": [{"event": {"type": "custom_event", "window_days": 9}}, {"audience": {"id": 9}}]}},
    ],
)
def test_recheck_time_by_counts_alone_agrees_with_the_criteria(criteria: Any) -> None:
    ws = build_workspace([audience(1, criteria)])
    compiled = ws.evaluated[0].compiled
    assert not compiled.other_timed
    state: dict[str, dict[int, int]] = {}
    events = [custom("a", NOW - 2 * DAY_MS), custom("b", NOW - 3 * HOUR_MS), custom("a", NOW)]
    apply_events(ws, state, facts_of(batch(*events), NOW))
    for at in (NOW, NOW + HOUR_MS, NOW + 3 * DAY_MS):
        expected = compiled.changes(UserView(mpid=7, events=state), at)
        view = UserView(mpid=7, events=state)
        compiled.test(view, at)  # fills some counts first, as evaluation does
        assert next_count_change(compiled.event_criteria, view, at) == expected
        _, check = evaluate_transitions(ws.evaluated, UserView(mpid=7, events=state), set(), at)
        assert check == expected


def test_a_relative_date_condition_is_timed_by_its_closures() -> None:
    recent = {
        "user_attribute": {
            "name": "seen",
            "condition": {"type": "date", "operator": "within_last_days", "value": 2},
        }
    }
    ws = build_workspace([audience(1, recent)])
    assert ws.evaluated[0].compiled.other_timed
    view = UserView(mpid=7, attributes={"seen": NOW - DAY_MS})
    assert evaluate_transitions(ws.evaluated, view, set(), NOW)[1] == NOW + DAY_MS + 1


def test_standard_audiences_look_back_over_the_full_history() -> None:
    old = [custom("Buy", NOW - 400 * DAY_MS)]
    standard = audience(1, {"event": {"type": "custom_event", "name": "Buy"}})
    standard.kind = Kind.STANDARD
    for a, expected in (
        (standard, True),
        (audience(1, {"event": {"type": "custom_event", "name": "Buy"}}), False),
    ):
        ws = build_workspace([], [a])
        view = UserView(mpid=7)
        apply_events(ws, view.events, facts_of(batch(*old), NOW))
        assert ws.counted[0].compiled.test(view, NOW) is expected
