"""Unit tests of data point extraction (the catalog) over the shared canonical fixtures."""

from __future__ import annotations

import pytest

from fermion.dataplans.catalog import (
    MAX_NAME,
    ConnectionFilter,
    DataPoint,
    Kind,
    Observation,
    PointsObserver,
    ancestors,
    kind_from_text,
    merge,
    observe,
    parent_of,
)
from fermion.model.codec import decode_batch_obj
from support.batches import all_fixture_names, load_fixture


def points(name: str) -> dict[DataPoint, int]:
    return observe(decode_batch_obj(load_fixture(name)))


def test_custom_events_by_type_name_and_attribute() -> None:
    seen = points("custom_event")
    assert seen[DataPoint("MessageType", "custom_event")] == 3
    assert seen[DataPoint("EventType", "user_preference")] == 1
    assert seen[DataPoint("Event", "Add to Favorites", "user_preference")] == 1
    assert seen[DataPoint("EventAttribute", "Add to Favorites", "user_preference", "item_id")] == 1
    assert seen[DataPoint("Event", "Play Video", "media")] == 1
    assert seen[DataPoint("UserIdentity", "customer_id")] == 1  # customerid is counted as customer_id
    assert seen[DataPoint("UserIdentity", "email")] == 1


def test_screen_views_and_their_attributes() -> None:
    seen = points("screen_view")
    screens = [p for p in seen if p.kind == "ScreenView"]
    assert screens, seen
    for screen in screens:
        assert parent_of(screen) == DataPoint("MessageType", "screen_view")


def test_commerce_actions() -> None:
    assert (
        points("commerce_event_purchase")[DataPoint("Commerce", "product_purchase", "product_purchase")] == 1
    )
    assert (
        points("commerce_event_purchase")[
            DataPoint("CommerceAttribute", "product_purchase", "product_purchase", "payment_method")
        ]
        == 1
    )
    promo = points("commerce_event_promotion")
    assert promo[DataPoint("Commerce", "promotion_view", "promotion_view")] == 1
    assert promo[DataPoint("Commerce", "promotion_click", "promotion_click")] == 1
    assert DataPoint("Commerce", "product_impression", "product_impression") in points(
        "commerce_event_impression"
    )


def test_user_attributes_once_per_batch_including_change_events() -> None:
    seen = points("python_sdk_full")
    assert seen[DataPoint("UserAttribute", "hair")] == 1  # in user_attributes and a change event
    assert seen[DataPoint("UserAttribute", "list")] == 1
    assert seen[DataPoint("MessageType", "user_attribute_change")] == 1
    assert seen[DataPoint("UserIdentity", "mobile_number")] == 1


@pytest.mark.parametrize("name", all_fixture_names())
def test_every_fixture_counts_each_event_once(name: str) -> None:
    batch = decode_batch_obj(load_fixture(name))
    seen = observe(batch)
    assert sum(n for p, n in seen.items() if p.kind == "MessageType") == len(batch.events)
    for point in seen:
        assert point.kind in {k.value for k in Kind}
        assert all(len(part) <= MAX_NAME for part in point)


def test_long_names_are_cut() -> None:
    batch = decode_batch_obj(
        {
            "events": [
                {
                    "event_type": "custom_event",
                    "data": {"event_name": "x" * 600, "custom_event_type": "other"},
                }
            ]
        }
    )
    (event,) = [p for p in observe(batch) if p.kind == "Event"]
    assert event.name == "x" * MAX_NAME


def test_hierarchy() -> None:
    attr = DataPoint("EventAttribute", "Buy", "transaction", "sku")
    assert list(ancestors(attr)) == [
        attr,
        DataPoint("Event", "Buy", "transaction"),
        DataPoint("EventType", "transaction"),
        DataPoint("MessageType", "custom_event"),
    ]
    assert parent_of(DataPoint("UserAttribute", "age")) == DataPoint("All_User_Attributes", "")
    assert parent_of(DataPoint("UserIdentity", "email")) is None
    assert parent_of(DataPoint("MessageType", "session_start")) is None


def test_merge_keeps_counts_and_first_last_seen() -> None:
    into: dict[DataPoint, Observation] = {}
    p = DataPoint("MessageType", "custom_event")
    merge(into, {p: 2}, 2_000)
    merge(into, {p: 3}, 1_000)
    merge(into, {p: 1}, 5_000)
    assert into[p] == Observation(6, 1_000, 5_000)


def test_kind_spellings() -> None:
    assert kind_from_text("eventattribute") is Kind.EVENT_ATTRIBUTE
    assert kind_from_text("Identity") is Kind.USER_IDENTITY
    assert kind_from_text("all_user_attributes") is Kind.ALL_USER_ATTRIBUTES
    assert kind_from_text("nope") is None


def test_filter_cascades_from_parents() -> None:
    flt = ConnectionFilter(entries={DataPoint("EventType", "navigation"): False})
    assert not flt.allows(DataPoint("Event", "Home", "navigation"))
    assert not flt.allows(DataPoint("EventAttribute", "Home", "navigation", "a"))
    assert flt.allows(DataPoint("Event", "Home", "search"))
    # An explicitly enabled child does not survive a disabled parent.
    flt = ConnectionFilter(
        entries={
            DataPoint("Event", "Home", "navigation"): False,
            DataPoint("EventAttribute", "Home", "navigation", "a"): True,
        }
    )
    assert not flt.allows(DataPoint("EventAttribute", "Home", "navigation", "a"))


def test_send_new_by_default_off_blocks_unlisted_points() -> None:
    known = DataPoint("Event", "Home", "navigation")
    flt = ConnectionFilter(
        send_new_by_default=False,
        entries={
            known: True,
            DataPoint("EventType", "navigation"): True,
            DataPoint("MessageType", "custom_event"): True,
        },
    )
    assert flt.allows(known)
    assert not flt.allows(DataPoint("Event", "Brand New", "navigation"))
    assert not flt.is_noop
    assert ConnectionFilter().is_noop


@pytest.mark.parametrize("name", all_fixture_names())
def test_memoized_points_equal_fresh_ones(name: str) -> None:
    """A PointsObserver memoizes the points of custom events and screen views by shape: a second pass
    over the same batch (served from the memo) and a pass with a fresh memo give the same counts."""
    batch = decode_batch_obj(load_fixture(name))
    observer = PointsObserver()
    fresh = observer.observe(batch)
    assert observer.observe(batch) == fresh
    assert PointsObserver().observe(batch) == fresh


def test_memo_tells_attribute_sets_apart_and_stays_bounded() -> None:
    def batch(attributes: dict[str, int], name: str = "Viewed") -> dict[str, object]:
        data = {"event_name": name, "custom_event_type": "navigation", "custom_attributes": attributes}
        return {"environment": "production", "events": [{"event_type": "custom_event", "data": data}]}

    observer = PointsObserver(max_shapes=3)
    first = observer.observe(decode_batch_obj(batch({"a": 1})))
    second = observer.observe(decode_batch_obj(batch({"a": 1, "b": 2})))
    assert DataPoint("EventAttribute", "Viewed", "navigation", "b") not in first
    assert second[DataPoint("EventAttribute", "Viewed", "navigation", "b")] == 1
    for n in range(10):
        observer.observe(decode_batch_obj(batch({}, name=f"e{n}")))
        assert observer.remembered <= 3
