"""Unit tests of the data filter connection stage: what it removes, and the parent-to-child cascade."""

from __future__ import annotations

from typing import Any

from fermion.dataplans.catalog import FILTER_EXTRA, ConnectionFilter, DataPoint
from fermion.delivery.filters import apply_filter, data_filter
from fermion.model.batch import Batch
from fermion.model.codec import batch_to_builtins, decode_batch_obj
from fermion.pipeline.stage import Drop
from support.batches import load_fixture


def fixture(name: str) -> Batch:
    return decode_batch_obj(load_fixture(name))


def off(*points: DataPoint, send_new: bool = True) -> ConnectionFilter:
    return ConnectionFilter(send_new_by_default=send_new, entries=dict.fromkeys(points, False))


def names(batch: Batch) -> list[str]:
    return [e.data.event_name or e.event_type for e in batch.events]  # type: ignore[union-attr]


class Ctx:
    def __init__(self, flt: ConnectionFilter | None) -> None:
        self.extras: dict[str, Any] = {} if flt is None else {FILTER_EXTRA: flt}


def test_no_filter_is_the_same_object() -> None:
    batch = fixture("python_sdk_full")
    assert apply_filter(batch, ConnectionFilter()) is batch
    assert data_filter(batch, Ctx(None)) is batch  # type: ignore[arg-type]


def test_event_type_off_removes_its_events_and_keeps_others() -> None:
    batch = fixture("custom_event")
    out = apply_filter(batch, off(DataPoint("EventType", "media")))
    assert names(out) == ["Add to Favorites", "attribution"]


def test_event_off_removes_it_and_attribute_off_removes_only_the_attribute() -> None:
    batch = fixture("custom_event")
    out = apply_filter(
        batch,
        off(
            DataPoint("Event", "attribution", "attribution"),
            DataPoint("EventAttribute", "Add to Favorites", "user_preference", "price"),
        ),
    )
    assert names(out) == ["Add to Favorites", "Play Video"]
    attrs = out.events[0].data.custom_attributes or {}
    assert "price" not in attrs and attrs["item_id"] == "SKU-1001"
    assert batch.events[0].data.custom_attributes is not None
    assert "price" in batch.events[0].data.custom_attributes  # the input is not modified


def test_disabled_event_disables_its_attributes_even_if_enabled() -> None:
    flt = ConnectionFilter(
        entries={
            DataPoint("Event", "Add to Favorites", "user_preference"): False,
            DataPoint("EventAttribute", "Add to Favorites", "user_preference", "price"): True,
        }
    )
    assert "Add to Favorites" not in names(apply_filter(fixture("custom_event"), flt))


def test_message_type_off_removes_all_events_of_that_type() -> None:
    batch = fixture("python_sdk_full")
    out = apply_filter(
        batch, off(DataPoint("MessageType", "session_start"), DataPoint("MessageType", "opt_out"))
    )
    kinds = [e.event_type for e in out.events]
    assert "session_start" not in kinds and "opt_out" not in kinds and "session_end" in kinds


def test_screen_view_and_commerce_points() -> None:
    sdk = fixture("python_sdk_full")
    out = apply_filter(
        sdk,
        off(DataPoint("ScreenView", "Home"), DataPoint("Commerce", "product_purchase", "product_purchase")),
    )
    assert [e.event_type for e in out.events if e.event_type in ("screen_view", "commerce_event")] == []
    purchase = fixture("commerce_event_purchase")
    out = apply_filter(
        purchase,
        off(DataPoint("CommerceAttribute", "product_purchase", "product_purchase", "payment_method")),
    )
    assert out.events[0].data.custom_attributes == {}


def test_user_attributes_identities_and_their_change_events() -> None:
    batch = fixture("python_sdk_full")
    out = apply_filter(batch, off(DataPoint("UserAttribute", "hair"), DataPoint("UserIdentity", "email")))
    assert out.user_attributes == {"list": ["a", "b"]}
    assert "user_attribute_change" not in [e.event_type for e in out.events]
    assert out.user_identities is not None and out.user_identities.email is None
    assert out.user_identities.mobile_number == "555"
    everything = apply_filter(batch, off(DataPoint("All_User_Attributes", "")))
    assert everything.user_attributes == {}
    assert everything.deleted_user_attributes == []


def test_identity_change_events_follow_their_identity_type() -> None:
    batch = fixture("user_identity_change")
    raw = batch_to_builtins(batch)
    kind = raw["events"][0]["data"]["new"]["identity_type"]
    out = apply_filter(batch, off(DataPoint("UserIdentity", kind)))
    assert "user_identity_change" not in [e.event_type for e in out.events]


def test_send_new_by_default_off() -> None:
    known = {
        DataPoint("MessageType", "custom_event"): True,
        DataPoint("EventType", "user_preference"): True,
        DataPoint("Event", "Add to Favorites", "user_preference"): True,
    }
    out = apply_filter(fixture("custom_event"), ConnectionFilter(send_new_by_default=False, entries=known))
    assert names(out) == ["Add to Favorites"]
    assert out.events[0].data.custom_attributes == {}  # its attributes are new data points too
    assert out.user_identities is not None and out.user_identities.email is None


def test_stage_drops_a_batch_whose_events_are_all_filtered_out() -> None:
    flt = off(DataPoint("MessageType", "custom_event"))
    assert data_filter(fixture("custom_event"), Ctx(flt)) == Drop("data_filter")  # type: ignore[arg-type]
    eventless = fixture("eventless")
    assert data_filter(eventless, Ctx(flt)) is eventless  # type: ignore[arg-type]
