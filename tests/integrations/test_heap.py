"""Heap output: `map` snapshots over the shared fixtures and every mapping and setting, then end to end
through Fermion's HTTP API to a local recorder standing in for Heap (bodies checked field by field)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fermion.integrations.heap import (
    INTEGRATION,
    HeapConnectionSettings,
    HeapSettings,
    map_batches,
)
from fermion.integrations.spec import HttpRequest, OutgoingBatch, validate_settings
from support.batches import all_fixture_names, load_fixture
from support.fermion_proc import FermionProcess
from support.outgoing import check_snapshot, map_settings, outgoing
from support.outputs_api import connect, send
from support.recorder import RecordedRequest, Recorder

SNAPSHOTS = Path(__file__).parent / "snapshots" / "heap"
BASE = "https://heapanalytics.com"


def run(
    batches: list[OutgoingBatch], output: dict[str, Any] | None = None, **connection: Any
) -> list[HttpRequest]:
    out = HeapSettings.model_validate({"app_id": "1234567", **(output or {})})
    conn = HeapConnectionSettings.model_validate(connection)
    requests = map_batches(batches, map_settings(out, conn))
    assert all(isinstance(r, HttpRequest) for r in requests)
    return requests  # type: ignore[return-value]


def bodies(requests: list[HttpRequest]) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in requests]


def accepted(name: str) -> dict[str, Any]:
    """The fixture as the platform hands it to Heap: events of other types removed."""
    body = load_fixture(name)
    body["events"] = [e for e in body.get("events", []) if e["event_type"] in INTEGRATION.event_types]
    return body


@pytest.mark.parametrize("name", all_fixture_names())
def test_snapshot(name: str) -> None:
    requests = run([outgoing(accepted(name))], forward_user_attributes=True)
    check_snapshot(
        SNAPSHOTS / f"{name}.json",
        [
            {"method": r.method, "url": r.url, "headers": r.headers, "body": json.loads(r.body)}
            for r in requests
        ],
    )


def test_custom_event_mapping() -> None:
    requests = run([outgoing("custom_event")])
    assert [r.url for r in requests] == [f"{BASE}/api/track"] * 3
    assert all(r.method == "POST" and r.headers == {"Content-Type": "application/json"} for r in requests)
    first = bodies(requests)[0]
    source = load_fixture("custom_event")["events"][0]["data"]
    assert first == {
        "app_id": "1234567",
        "identity": "600868121729048601",
        "event": "Add to Favorites",
        "timestamp": "2024-01-15T10:01:00.000Z",
        "session_id": str(source["session_id"]),
        "idempotency_key": str(source["event_id"]),
        "properties": {
            "item_id": "SKU-1001",
            "price": 89.99,
            "in_stock": "true",
            "rank": 3,
            "event_type": "user_preference",
        },
    }
    assert bodies(requests)[1]["properties"] == {"event_type": "media"}
    assert requests[0].batch_ids == (1001,)
    assert len({r.dedupe_key for r in requests}) == 3


def test_screen_view_is_viewed_screen_name() -> None:
    body, second = bodies(run([outgoing("screen_view")]))
    screen = load_fixture("screen_view")["events"][0]["data"]["screen_name"]
    assert body["event"] == f"Viewed: {screen}"
    assert body["properties"] == {"product_id": "SKU-1001", "referrer": "search", "screen_name": screen}
    assert second["properties"] == {"screen_name": screen}


def test_product_action_breakdown_in_one_bulk_request() -> None:
    (request,) = run([outgoing("commerce_event_purchase")])
    assert request.url == f"{BASE}/api/track"
    body = json.loads(request.body)
    assert set(body) == {"app_id", "events"}
    main, *items = body["events"]
    assert [e["event"] for e in body["events"]] == ["Product Action Event", "Item", "Item"]
    assert main["properties"] == {
        "payment_method": "card",
        "currency_code": "USD",
        "screen_name": "Checkout",
        "product_action": "purchase",
        "product_ids": "SKU-1001,SKU-2002",
        "transaction_id": "T-20240115-0042",
        "affiliation": "Higgs Online",
        "total_amount": 124.98,
        "tax_amount": 9.99,
        "shipping_amount": 0,
        "coupon_code": "SPRING10",
        "checkout_step": 3,
    }
    assert items[0]["properties"] == {
        "color": "blue",
        "size": "42",
        "product_id": "SKU-1001",
        "product_name": "Trail Runner",
        "product_brand": "Higgs",
        "product_category": "Shoes",
        "product_variant": "Blue/42",
        "product_position": 1,
        "product_price": 89.99,
        "product_quantity": 1,
        "total_product_amount": 89.99,
        "product_coupon_code": "SPRING10",
        "product_action": "purchase",
        "transaction_id": "T-20240115-0042",
    }
    assert all(e["identity"] == "600868121729048602" for e in body["events"])
    assert len({e["idempotency_key"] for e in body["events"]}) == 3


def test_promotion_breakdown() -> None:
    requests = run([outgoing("commerce_event_promotion")])
    assert len(requests) == 2  # one bulk request per commerce event
    view = bodies(requests)[0]["events"]
    assert [e["event"] for e in view] == ["Promotion Event", "Item", "Item"]
    assert view[0]["properties"] == {
        "currency_code": "EUR",
        "promotion_action": "view",
        "promotion_ids": "PROMO-SPRING,PROMO-FREESHIP",
    }
    assert view[1]["properties"] == {
        "promotion_action": "view",
        "promotion_id": "PROMO-SPRING",
        "promotion_name": "Spring Sale",
        "promotion_creative": "hero_banner_v2",
        "promotion_position": "home_top",
    }


def test_impression_breakdown() -> None:
    (request,) = run([outgoing("commerce_event_impression")])
    events = json.loads(request.body)["events"]
    assert [e["event"] for e in events] == ["Impression Event", "Item", "Item", "Item"]
    assert events[0]["properties"]["product_ids"] == "SKU-1001,SKU-2002,SKU-3003"
    assert events[0]["properties"]["product_impression_lists"] == "Search Results,Recommended"
    assert events[3]["properties"]["product_impression_list"] == "Recommended"


def test_user_attributes_only_when_enabled() -> None:
    assert all("/add_user_properties" not in r.url for r in run([outgoing("python_sdk_full")]))
    requests = run([outgoing("commerce_event_purchase")], forward_user_attributes=True)
    (props,) = [r for r in requests if r.url == f"{BASE}/api/add_user_properties"]
    assert json.loads(props.body) == {
        "app_id": "1234567",
        "identity": "600868121729048602",
        "properties": {"$firstname": "Ada", "$lastname": "Lovelace", "lifetime_orders": 7},
    }
    lists = run([outgoing("python_sdk_full")], forward_user_attributes=True)
    assert json.loads(lists[-1].body)["properties"] == {"hair": "brown", "list": "a,b"}


def test_external_id_customer_id() -> None:
    bodies_ = bodies(run([outgoing("custom_event")], output={"external_id": "Customer ID"}))
    assert {b["identity"] for b in bodies_} == {"cust-1"}
    body = load_fixture("custom_event")
    del body["user_identities"]
    assert run([outgoing(body)], output={"external_id": "Customer ID"}) == []  # nobody to attribute to


def test_web_requests_server_side_setting() -> None:
    web = outgoing("commerce_event_impression")  # device_info.platform web
    assert len(run([web])) == 1
    assert run([web], forward_web_requests_server_side=False) == []
    assert len(run([outgoing("custom_event")], forward_web_requests_server_side=False)) == 3  # iOS


def test_base_url_and_app_id() -> None:
    request, _ = run([outgoing("screen_view")], output={"base_url": "http://127.0.0.1:9999/", "app_id": "42"})
    assert request.url == "http://127.0.0.1:9999/api/track"
    assert json.loads(request.body)["app_id"] == "42"


def test_long_values_are_cut() -> None:
    body = load_fixture("custom_event")
    body["events"][0]["data"]["custom_attributes"] = {"long": "x" * 5000}
    first = bodies(run([outgoing(body)]))[0]
    assert first["properties"]["long"] == "x" * 1023


def test_settings_validation() -> None:
    errors = validate_settings(HeapSettings, {})
    assert isinstance(errors, list) and errors[0].field == "settings.app_id"
    bad = validate_settings(HeapSettings, {"app_id": "1", "external_id": "Email"})
    assert isinstance(bad, list) and bad[0].field == "settings.external_id"
    assert INTEGRATION.event_types == {"custom_event", "screen_view", "commerce_event"}
    assert not INTEGRATION.options.wants_commerce_expansion


# -------------------------------------------------------------- end to end: Fermion -> a local "Heap"

E2E_FIXTURES = [
    "custom_event",
    "screen_view",
    "session_start",
    "commerce_event_purchase",
    "commerce_event_promotion",
    "commerce_event_impression",
    "python_sdk_full",
]


@pytest.fixture(scope="module")
def heap(fermion: FermionProcess) -> Iterator[Recorder]:
    with Recorder() as partner:
        base = partner.url("")
        connect(
            fermion, "heap", {"app_id": "app-a", "base_url": base + "/a"}, {"forward_user_attributes": True}
        )
        connect(
            fermion, "heap", {"app_id": "app-b", "base_url": base + "/b", "external_id": "Customer ID"}, {}
        )
        connect(
            fermion,
            "heap",
            {"app_id": "app-d", "base_url": base + "/d"},
            {"forward_web_requests_server_side": False},
        )
        send(fermion, [load_fixture(name) for name in E2E_FIXTURES])
        # custom 3 + screen 2 + purchase 1 (+ its user attributes) + promotion 2 + impression 1 + sdk (3
        # events + user attributes)
        expected_a = 3 + 2 + 2 + 2 + 1 + 4
        assert partner.wait_until(lambda p: len(paths(p, "/a/")) >= expected_a, 60)
        time.sleep(1.0)  # let stragglers (there should be none) arrive
        yield partner


def paths(partner: Recorder, prefix: str) -> list[RecordedRequest]:
    return [r for r in partner.accepted() if r.path.startswith(prefix)]


def sent(partner: Recorder, prefix: str) -> list[dict[str, Any]]:
    return [r.json() for r in paths(partner, prefix)]


def test_e2e_every_request_is_a_heap_call(heap: Recorder) -> None:
    for request in heap.accepted():
        assert request.method == "POST"
        assert request.headers["Content-Type"] == "application/json"
        assert request.path.split("/", 2)[2] in ("api/track", "api/add_user_properties"), request.path
    assert len(paths(heap, "/a/")) == 14
    assert not [r for r in heap.accepted() if "session_start" in r.body.decode()]


def test_e2e_custom_events_field_by_field(heap: Recorder) -> None:
    source = load_fixture("custom_event")
    bodies_a = [b for b in sent(heap, "/a/") if b.get("identity") == str(source["mpid"])]
    assert [b["event"] for b in bodies_a] == ["Add to Favorites", "Play Video", "attribution"]
    first = bodies_a[0]
    assert first["app_id"] == "app-a"
    assert first["timestamp"] == "2024-01-15T10:01:00.000Z"
    assert first["session_id"] == str(source["events"][0]["data"]["session_id"])
    assert first["idempotency_key"] == str(source["events"][0]["data"]["event_id"])
    assert first["properties"] == {
        "item_id": "SKU-1001",
        "price": 89.99,
        "in_stock": "true",
        "rank": 3,
        "event_type": "user_preference",
    }
    assert bodies_a[2]["properties"] == {
        "publisher": "Acme Ads",
        "campaign": "Winter Sale",
        "event_type": "attribution",
    }


def test_e2e_screen_views(heap: Recorder) -> None:
    views = [b for b in sent(heap, "/a/") if str(b.get("event", "")).startswith("Viewed: ")]
    assert sorted(b["event"] for b in views) == [
        "Viewed: Home",
        "Viewed: Product Detail",
        "Viewed: Product Detail",
    ]
    detail = next(b for b in views if b["properties"].get("referrer"))
    assert detail["properties"] == {
        "product_id": "SKU-1001",
        "referrer": "search",
        "screen_name": "Product Detail",
    }


def test_e2e_commerce_in_bulk_requests(heap: Recorder) -> None:
    bulk = [b for b in sent(heap, "/a/") if "events" in b]
    assert len(bulk) == 5  # two purchases (fixture and SDK), two promotions, one impression
    assert all(b["app_id"] == "app-a" and set(b) == {"app_id", "events"} for b in bulk)
    purchase = next(
        b for b in bulk if b["events"][0]["properties"].get("transaction_id") == "T-20240115-0042"
    )
    assert [e["event"] for e in purchase["events"]] == ["Product Action Event", "Item", "Item"]
    assert purchase["events"][0]["properties"]["product_ids"] == "SKU-1001,SKU-2002"
    assert purchase["events"][2]["properties"]["product_name"] == "Wool Socks"
    assert {e["identity"] for e in purchase["events"]} == {"600868121729048602"}
    promotions = [b for b in bulk if b["events"][0]["event"] == "Promotion Event"]
    assert sorted(len(b["events"]) for b in promotions) == [2, 3]
    (impression,) = [b for b in bulk if b["events"][0]["event"] == "Impression Event"]
    assert [e["event"] for e in impression["events"]] == ["Impression Event", "Item", "Item", "Item"]


def test_e2e_user_attributes_when_enabled(heap: Recorder) -> None:
    props = [r.json() for r in paths(heap, "/a/api/add_user_properties")]
    assert len(props) == 2  # the two batches with user attributes
    purchase = next(p for p in props if p["identity"] == "600868121729048602")
    assert purchase["properties"] == {"$firstname": "Ada", "$lastname": "Lovelace", "lifetime_orders": 7}
    sdk = next(p for p in props if p["identity"] == "600868121729048600")
    assert sdk["app_id"] == "app-a"
    assert sdk["properties"]["hair"] == "brown" and sdk["properties"]["list"] == "a,b"
    assert not paths(heap, "/b/api/add_user_properties")


def test_e2e_customer_id_as_identity(heap: Recorder) -> None:
    identities = {b.get("identity") for b in sent(heap, "/b/")} | {
        e["identity"] for b in sent(heap, "/b/") for e in b.get("events", [])
    }
    identities.discard(None)
    assert identities == {"cust-1", "cust-5", "cust-2", "cust-3", "cust-4", "123456"}
    assert all(b["app_id"] == "app-b" for b in sent(heap, "/b/"))


def test_e2e_web_data_left_to_the_client_side_kit(heap: Recorder) -> None:
    d = sent(heap, "/d/")
    assert d and all(b["app_id"] == "app-d" for b in d)
    assert not [b for b in d if "events" in b and b["events"][0]["event"] == "Impression Event"]
    assert len(d) == len(paths(heap, "/a/")) - 1 - 2  # no impression request, no user properties
