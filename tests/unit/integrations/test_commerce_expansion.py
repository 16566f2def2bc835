"""Unit tests of commerce expansion: one event per product or promotion, plus a total for purchase/refund."""

from __future__ import annotations

from typing import Any

import pytest

from fermion.integrations.commerce_expansion import commerce_expansion, expand_batch
from fermion.integrations.spec import DeliveryOptions
from fermion.model.batch import Batch
from fermion.model.codec import batch_to_builtins, decode_batch_obj
from support.batches import all_fixture_names, load_fixture


def expanded(name: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = batch_to_builtins(expand_batch(decode_batch_obj(load_fixture(name))))[
        "events"
    ]
    return events


def test_purchase_adds_a_total_then_one_item_per_product() -> None:
    events = expanded("commerce_event_purchase")
    assert [e["event_type"] for e in events] == ["custom_event"] * 3
    assert [e["data"]["event_name"] for e in events] == [
        "eCommerce - purchase - Total",
        "eCommerce - purchase - Item",
        "eCommerce - purchase - Item",
    ]
    assert all(e["data"]["custom_event_type"] == "transaction" for e in events)
    total = events[0]["data"]["custom_attributes"]
    assert total == {
        "payment_method": "card",
        "Transaction Id": "T-20240115-0042",
        "Affiliation": "Higgs Online",
        "Coupon Code": "SPRING10",
        "Total Amount": 124.98,
        "Shipping Amount": 0,
        "Tax Amount": 9.99,
        "Currency Code": "USD",
        "Checkout Step": 3,
    }
    first = events[1]["data"]["custom_attributes"]
    assert first["Id"] == "SKU-1001" and first["Item Price"] == 89.99 and first["color"] == "blue"
    assert first["Transaction Id"] == "T-20240115-0042" and first["Total Product Amount"] == 89.99
    assert events[2]["data"]["custom_attributes"]["Quantity"] == 2
    # Timing and session survive; event ids are new, distinct and stable.
    source = load_fixture("commerce_event_purchase")["events"][0]["data"]
    assert {e["data"]["timestamp_unixtime_ms"] for e in events} == {source["timestamp_unixtime_ms"]}
    assert {e["data"]["session_id"] for e in events} == {source["session_id"]}


def test_event_ids_are_derived_and_stable() -> None:
    body = load_fixture("commerce_event_purchase")
    body["events"][0]["data"]["event_id"] = 42
    ids = [e.data.event_id for e in expand_batch(decode_batch_obj(body)).events]
    again = [e.data.event_id for e in expand_batch(decode_batch_obj(body)).events]
    assert ids == again and len(set(ids)) == 3 and 42 not in ids


def test_non_purchase_product_action_has_no_total() -> None:
    body = load_fixture("commerce_event_purchase")
    body["events"][0]["data"]["product_action"]["action"] = "add_to_cart"
    names = [
        e["data"]["event_name"] for e in batch_to_builtins(expand_batch(decode_batch_obj(body)))["events"]
    ]
    assert names == ["eCommerce - add_to_cart - Item"] * 2


def test_refund_has_a_total() -> None:
    body = load_fixture("commerce_event_purchase")
    body["events"][0]["data"]["product_action"]["action"] = "refund"
    names = [
        e["data"]["event_name"] for e in batch_to_builtins(expand_batch(decode_batch_obj(body)))["events"]
    ]
    assert names[0] == "eCommerce - refund - Total" and len(names) == 3


def test_promotions_one_event_each() -> None:
    events = expanded("commerce_event_promotion")
    assert [e["data"]["event_name"] for e in events] == [
        "eCommerce - view - Item",
        "eCommerce - view - Item",
        "eCommerce - click - Item",
    ]
    assert events[0]["data"]["custom_attributes"] == {
        "Id": "PROMO-SPRING",
        "Position": "home_top",
        "Name": "Spring Sale",
        "Creative": "hero_banner_v2",
    }


def test_impressions_one_event_per_product_with_its_list() -> None:
    events = expanded("commerce_event_impression")
    assert [e["data"]["event_name"] for e in events] == ["eCommerce - Impression - Item"] * 3
    lists = [e["data"]["custom_attributes"]["Product Impression List"] for e in events]
    assert lists == ["Search Results", "Search Results", "Recommended"]
    assert events[2]["data"]["custom_attributes"]["Id"] == "SKU-3003"


@pytest.mark.parametrize("name", all_fixture_names())
def test_other_events_are_untouched(name: str) -> None:
    batch = decode_batch_obj(load_fixture(name))
    out = expand_batch(batch)
    assert [e for e in out.events if e.event_type != "custom_event" or e in batch.events] == [
        e for e in batch.events if e.event_type != "commerce_event"
    ]


class _Integration:
    def __init__(self, wants: bool) -> None:
        self.options = DeliveryOptions(wants_commerce_expansion=wants)


class _Ctx:
    def __init__(self, wants: bool) -> None:
        self.integration = _Integration(wants)


def test_stage_expands_only_for_integrations_that_ask() -> None:
    batch: Batch = decode_batch_obj(load_fixture("commerce_event_purchase"))
    assert commerce_expansion(batch, _Ctx(False)) is batch  # type: ignore[arg-type]
    assert len(commerce_expansion(batch, _Ctx(True)).events) == 3  # type: ignore[arg-type]
