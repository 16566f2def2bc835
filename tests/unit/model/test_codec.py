"""Unit tests of the batch codec: fixtures, leniency, error paths and unknown-field round trips."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from fermion.model.batch import Batch, UserIdentities
from fermion.model.codec import (
    MISSING_EVENT_TYPE,
    BatchError,
    FieldError,
    batch_to_builtins,
    decode_batch,
    decode_batch_obj,
    decode_bulk,
    encode_batch,
    event_name_of,
)
from fermion.model.enums import EVENT_TYPES
from fermion.model.events import (
    EVENT_CLASSES,
    CommerceEvent,
    CommerceEventData,
    CustomEvent,
    CustomEventData,
    ProductAction,
    PromotionAction,
    ScreenViewData,
    ScreenViewEvent,
    SessionStartEvent,
    make_event,
)
from fermion.model.events_commerce import ProductImpression
from fermion.model.events_common import EXTRA_KEY

FIXTURES = Path(__file__).parents[2] / "fixtures" / "batches"
FIXTURE_NAMES = sorted(p.stem for p in FIXTURES.glob("*.json"))


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


def roundtrip(obj: Any) -> Any:
    return json.loads(encode_batch(decode_batch(json.dumps(obj).encode())))


def errors_of(obj: Any) -> list[FieldError]:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    with pytest.raises(BatchError) as info:
        decode_batch(raw)
    assert info.value.errors
    return info.value.errors


def only_error(obj: Any) -> FieldError:
    errs = errors_of(obj)
    assert len(errs) == 1, errs
    return errs[0]


# --------------------------------------------------------------------------------------- fixtures


def test_every_event_type_has_a_fixture() -> None:
    covered = {ev["event_type"] for name in FIXTURE_NAMES for ev in load(name).get("events", [])}
    assert covered >= EVENT_TYPES - {"pre_attribution", "push_reaction", "unknown"}
    assert {"eventless", "python_sdk_full"} <= set(FIXTURE_NAMES)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_round_trips_exactly(name: str) -> None:
    raw = (FIXTURES / f"{name}.json").read_bytes()
    batch = decode_batch(raw)
    assert json.loads(encode_batch(batch)) == json.loads(raw)
    assert batch_to_builtins(batch) == json.loads(raw)
    assert decode_batch(encode_batch(batch)) == batch
    # Every declared field is modelled: the fixtures carry no unknown keys.
    assert EXTRA_KEY not in encode_batch(batch).decode()
    assert msgspec.to_builtins(batch) == json.loads(raw)


@pytest.mark.parametrize("name", [n for n in FIXTURE_NAMES if n not in ("eventless", "python_sdk_full")])
def test_fixture_events_decode_to_their_classes(name: str) -> None:
    batch = decode_batch((FIXTURES / f"{name}.json").read_bytes())
    expected = "commerce_event" if name.startswith("commerce_event") else name
    assert batch.events
    for event in batch.events:
        assert event.event_type == expected
        assert type(event) is EVENT_CLASSES[expected]


def test_python_sdk_full_batch() -> None:
    raw = (FIXTURES / "python_sdk_full.json").read_bytes()
    batch = decode_batch(raw)
    assert batch.mpid == 600868121729048600
    assert b"600868121729048600" in encode_batch(batch)
    assert batch.environment == "development"
    assert [e.event_type for e in batch.events] == [
        "session_start",
        "custom_event",
        "screen_view",
        "commerce_event",
        "user_attribute_change",
        "application_state_transition",
        "opt_out",
        "session_end",
    ]
    custom = batch.events[1]
    assert isinstance(custom, CustomEvent)
    assert custom.data.custom_attributes == {"foo": "bar", "n": 1}
    assert type(custom.data.custom_attributes["n"]) is int
    assert custom.data.custom_flags == {"F": "x"}
    assert batch.user_identities == UserIdentities(
        customerid="123456", email="a@b.com", other_id_2="o2", mobile_number="555"
    )
    assert batch.user_attributes == {"hair": "brown", "list": ["a", "b"]}
    assert batch.consent_state is not None and batch.consent_state.gdpr is not None
    assert batch.consent_state.gdpr["My Purpose"].hardware_id == "hw"
    assert batch.consent_state.ccpa is not None
    assert batch.consent_state.ccpa["data_sale_opt_out"].consented is True
    assert batch.context is not None and batch.context.data_plan is not None
    assert batch.context.data_plan.plan_version == 2
    assert [event_name_of(e) for e in batch.events][:4] == [
        "session_start",
        "Hello World",
        "Home",
        "purchase",
    ]


def test_eventless_batch() -> None:
    batch = decode_batch((FIXTURES / "eventless.json").read_bytes())
    assert batch.events == []
    assert b'"events"' not in encode_batch(batch)
    assert decode_batch(b"{}") == Batch()
    assert encode_batch(Batch()) == b"{}"


# ---------------------------------------------------------------------------------------- leniency


def test_customerid_and_customer_id_are_both_kept() -> None:
    out = roundtrip({"user_identities": {"customerid": "a", "customer_id": "b"}})
    assert out == {"user_identities": {"customerid": "a", "customer_id": "b"}}
    ids = decode_batch(b'{"user_identities": {"customerid": "a", "customer_id": "b"}}').user_identities
    assert ids is not None and (ids.customerid, ids.customer_id) == ("a", "b")


@pytest.mark.parametrize(
    ("raw", "mpid"),
    [
        (b'{"mpid": 600868121729048600}', 600868121729048600),
        (b'{"mpid": "600868121729048600"}', 600868121729048600),
        (b'{"mpid": -4937513914283104290}', -4937513914283104290),
        (b'{"mpid": "-42"}', -42),
        (b'{"mpid": 9223372036854775807}', 2**63 - 1),
        (b'{"mpid": "-9223372036854775808"}', -(2**63)),
        (b'{"mpid": null}', None),
    ],
)
def test_mpid_is_exact_and_accepts_numeric_strings(raw: bytes, mpid: int | None) -> None:
    assert decode_batch(raw).mpid == mpid


@pytest.mark.parametrize(
    "bad",
    ['"abc"', '"12.5"', '"1e3"', "12.5", "true", '""', "[1]", str(2**64 - 1), f'"{-(2**63) - 1}"'],
)
def test_mpid_rejects_non_numeric(bad: str) -> None:
    assert only_error(f'{{"mpid": {bad}}}'.encode()).field == "mpid"


def test_event_ids_accept_numeric_strings() -> None:
    batch = decode_batch_obj(
        {
            "batch_id": "77",
            "events": [
                {
                    "event_type": "profile",
                    "data": {"event_id": "123", "session_id": "-5", "previous_mpid": "9"},
                }
            ],
        }
    )
    assert batch.batch_id == 77
    data = batch.events[0].data
    assert (data.event_id, data.session_id, getattr(data, "previous_mpid", None)) == (123, -5, 9)
    assert json.loads(encode_batch(batch))["events"][0]["data"]["event_id"] == 123


def test_loosely_typed_fields_keep_either_json_type() -> None:
    obj = {
        "device_info": {"supports_telephony": "", "network_code": 1, "timezone_offset": 5.5},
        "events": [
            {
                "event_type": "custom_event",
                "data": {
                    "device_current_state": {
                        "gps_state": "unknown",
                        "device_orientation": 6,
                        "status_bar_orientation": "undefined",
                        "cpu": 12,
                        "battery_level": "0.5",
                    },
                    "location": {"latitude": "40.7", "longitude": -74},
                },
            },
            {"event_type": "custom_event", "data": {"device_current_state": {"gps_state": False}}},
            {"event_type": "push_message", "data": {"push_message_behavior": 5}},
            {"event_type": "push_message", "data": {"push_message_behavior": "InfluencedOpen"}},
            {"event_type": "network_performance", "data": {"response_code": "404"}},
            {"event_type": "network_performance", "data": {"response_code": 404}},
        ],
    }
    assert roundtrip(obj) == obj


def test_environment_values() -> None:
    assert decode_batch(b'{"environment": "unknown"}').environment == "unknown"
    assert decode_batch(b"{}").environment is None  # normalized to production downstream
    err = only_error(b'{"environment": "staging"}')
    assert err.field == "environment"
    assert "staging" in err.message


def test_null_reads_as_absent() -> None:
    batch = decode_batch(b'{"events": null, "mpid": null, "device_info": {"brand": null}}')
    assert batch.events == [] and batch.mpid is None
    event = decode_batch(b'{"events": [{"event_type": "session_start", "data": null}]}').events[0]
    assert isinstance(event, SessionStartEvent)
    # Explicit nulls of declared fields are not written back (documented normalization)...
    assert roundtrip({"device_info": {"brand": None, "os_version": "1"}}) == {
        "device_info": {"os_version": "1"}
    }
    # ...but nulls inside maps and unknown fields are.
    obj = {
        "user_attributes": {"a": None},
        "x": None,
        "events": [{"event_type": "custom_event", "data": {"custom_attributes": {"k": None}, "y": None}}],
    }
    assert roundtrip(obj) == obj


def test_missing_data_becomes_empty_data() -> None:
    out = roundtrip({"events": [{"event_type": "first_run"}]})
    assert out == {"events": [{"event_type": "first_run", "data": {}}]}


def test_py_sdk_crash_report_sent_as_commerce_event() -> None:
    crash = {
        "class_name": "java.lang.RuntimeException",
        "severity": "fatal",
        "message": "boom",
        "stack_trace": "at x.y(Z.java:1)",
        "exception_handled": False,
        "session_number": 3,
        "breadcrumbs": [{"data": {"label": "tap"}, "event_type": "breadcrumb"}],
    }
    obj = {"events": [{"data": {"timestamp_unixtime_ms": 1, **crash}, "event_type": "commerce_event"}]}
    batch = decode_batch_obj(obj)
    event = batch.events[0]
    assert isinstance(event, CommerceEvent)
    assert event.data.timestamp_unixtime_ms == 1
    assert event.data.extra == crash
    assert event.data.product_action is None and event.data.promotion_action is None
    assert event_name_of(event) == "commerce_event"
    assert json.loads(encode_batch(batch)) == obj


# -------------------------------------------------------------------------------- unknown fields


def _inject_everywhere(b: dict[str, Any]) -> dict[str, Any]:
    b = copy.deepcopy(b)
    marker = 0

    def put(d: dict[str, Any]) -> None:
        nonlocal marker
        marker += 1
        d[f"zz_unknown_{marker}"] = {"nested": [marker, None, {"deep": True}], "f": 1.5}

    put(b)
    for key in ("device_info", "application_info", "user_identities", "source_info", "attribution_info"):
        b.setdefault(key, {})
        put(b[key])
    b["consent_state"] = {
        "gdpr": {"p": {"consented": True}},
        "ccpa": {"data_sale_opt_out": {"consented": False}},
    }
    put(b["consent_state"])
    put(b["consent_state"]["gdpr"]["p"])
    put(b["consent_state"]["ccpa"]["data_sale_opt_out"])
    b["context"] = {"data_plan": {"plan_id": "p"}, "location": {"city_name": "X"}}
    for d in (b["context"], b["context"]["data_plan"], b["context"]["location"]):
        put(d)
    for ev in b.get("events", []):
        put(ev)
        data = ev["data"]
        put(data)
        for key in (
            "location",
            "device_current_state",
            "media_info",
            "product_action",
            "promotion_action",
            "shopping_cart",
            "event_system_notification_info",
            "new",
            "old",
        ):
            if isinstance(data.get(key), dict):
                put(data[key])
        for item in data.get("product_impressions", []):
            put(item)
            for p in item.get("products", []):
                put(p)
        for holder in (data.get("product_action"), data.get("shopping_cart")):
            for p in (holder or {}).get("products", []):
                put(p)
        for promo in (data.get("promotion_action") or {}).get("promotions", []):
            put(promo)
    return b


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_unknown_fields_are_kept_at_every_level(name: str) -> None:
    obj = _inject_everywhere(load(name))
    snapshot = copy.deepcopy(obj)
    batch = decode_batch_obj(obj)
    assert obj == snapshot  # the input is not modified
    assert json.loads(encode_batch(batch)) == obj
    assert batch_to_builtins(batch) == obj
    assert decode_batch(encode_batch(batch)) == batch
    assert EXTRA_KEY not in encode_batch(batch).decode()
    assert "zz_unknown_1" in batch.extra


def test_unknown_field_values_land_in_extra() -> None:
    batch = decode_batch(
        b'{"new_top": 1, "device_info": {"brand": "b", "foo": [1]},'
        b' "events": [{"event_type": "screen_view", "extra_env": "e",'
        b' "data": {"screen_name": "s", "bar": {"x": 1}}}]}'
    )
    assert batch.extra == {"new_top": 1}
    assert batch.device_info is not None and batch.device_info.extra == {"foo": [1]}
    event = batch.events[0]
    assert event.extra == {"extra_env": "e"}
    assert event.data.extra == {"bar": {"x": 1}}


def test_a_user_key_named_like_the_extra_field_round_trips() -> None:
    obj = {
        EXTRA_KEY: {"a": 1},
        "user_attributes": {EXTRA_KEY: "v"},
        "events": [
            {"event_type": "custom_event", "data": {EXTRA_KEY: 2, "custom_attributes": {EXTRA_KEY: 3}}}
        ],
    }
    assert roundtrip(obj) == obj


def test_a_wire_key_named_extra_is_just_an_unknown_field() -> None:
    batch = decode_batch(b'{"extra": {"a": 1}, "device_info": {"extra": 2}}')
    assert batch.extra == {"extra": {"a": 1}}
    assert json.loads(encode_batch(batch)) == {"extra": {"a": 1}, "device_info": {"extra": 2}}


def test_extras_added_in_code_are_encoded_and_declared_fields_win() -> None:
    batch = Batch(mpid=1, extra={"mpid": 2, "new": "n"}, events=[make_event("custom_event", x=1)])
    assert json.loads(encode_batch(batch)) == {
        "mpid": 1,
        "new": "n",
        "events": [{"event_type": "custom_event", "data": {}, "x": 1}],
    }


# ------------------------------------------------------------------------------------------ errors


def test_malformed_json() -> None:
    err = only_error(b'{"events": [')
    assert err.field == "body"
    assert "JSON" in err.message


def test_number_out_of_range() -> None:
    err = only_error(b'{"x": 1e400}')
    assert err.field == "body"
    assert "out of range" in err.message


@pytest.mark.parametrize("body", [b"[]", b'[{"events": []}]', b'"x"', b"1", b"null"])
def test_batch_body_must_be_an_object(body: bytes) -> None:
    err = only_error(body)
    assert err.field == "body"
    assert "object" in err.message


def test_decode_batch_obj_rejects_non_objects() -> None:
    with pytest.raises(BatchError) as info:
        decode_batch_obj([{}])
    assert info.value.errors == [FieldError("body", "Expected a JSON object (one batch), got array.")]


def test_decode_bulk() -> None:
    raws = decode_bulk(b' [{"mpid": 1}, {"events": "not validated"}, 3] ')
    assert [bytes(r) for r in raws] == [b'{"mpid": 1}', b'{"events": "not validated"}', b"3"]
    assert decode_bulk(b"[]") == []
    for body, needle in ((b'{"events": []}', "object"), (b'"x"', "string"), (b"[1,", "JSON"), (b"", "JSON")):
        with pytest.raises(BatchError) as info:
            decode_bulk(body)
        assert info.value.errors[0].field == "body"
        assert needle in info.value.errors[0].message


@pytest.mark.parametrize(
    "event", [{"data": {}}, {"data": {}, "event_type": ""}, {"data": {}, "event_type": None}]
)
def test_missing_or_empty_event_type(event: dict[str, Any]) -> None:
    err = only_error({"events": [{"event_type": "session_start"}, event]})
    assert err == FieldError("events[1].event_type", MISSING_EVENT_TYPE)
    assert (
        str(BatchError([err]))
        == 'events[1].event_type: Required event field "event_type" is missing or empty.'
    )


def test_unknown_and_mistyped_event_types_are_all_reported() -> None:
    errs = errors_of({"events": [{"event_type": "validation_result"}, {"event_type": 3}, {}]})
    assert [e.field for e in errs] == ["events[0].event_type", "events[1].event_type", "events[2].event_type"]
    assert "validation_result" in errs[0].message
    assert "string" in errs[1].message
    assert errs[2].message == MISSING_EVENT_TYPE


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ({"events": {}}, "events"),
        ({"events": [1]}, "events[0]"),
        ({"events": [{"event_type": "custom_event", "data": []}]}, "events[0].data"),
        (
            {"events": [{"event_type": "custom_event", "data": {"custom_attributes": []}}]},
            "events[0].data.custom_attributes",
        ),
        (
            {
                "events": [
                    {"event_type": "custom_event", "data": {"custom_attributes": {"ok": 1, "bad": [1]}}}
                ]
            },
            "events[0].data.custom_attributes.bad",
        ),
        (
            {"events": [{"event_type": "custom_event", "data": {"custom_attributes": {"a b": {}}}}]},
            'events[0].data.custom_attributes["a b"]',
        ),
        (
            {"events": [{"event_type": "custom_event", "data": {"custom_event_type": "nope"}}]},
            "events[0].data.custom_event_type",
        ),
        ({"events": [{"event_type": "custom_event", "data": {"event_id": "x1"}}]}, "events[0].data.event_id"),
        (
            {"events": [{"event_type": "commerce_event", "data": {"product_action": {"action": "buy"}}}]},
            "events[0].data.product_action.action",
        ),
        (
            {
                "events": [
                    {
                        "event_type": "commerce_event",
                        "data": {
                            "product_action": {
                                "action": "purchase",
                                "products": [{"id": "a"}, {"price": "9.99"}],
                            }
                        },
                    }
                ]
            },
            "events[0].data.product_action.products[1].price",
        ),
        (
            {"events": [{"event_type": "push_message", "data": {"push_message_behavior": "Opened"}}]},
            "events[0].data.push_message_behavior",
        ),
        ({"user_identities": {"email": 5}}, "user_identities.email"),
        ({"user_identities": []}, "user_identities"),
        ({"device_info": {"platform": "ios"}}, "device_info.platform"),
        ({"application_info": {"os": "iOS"}}, "application_info.os"),
        (
            {"consent_state": {"gdpr": {"My Purpose": {"consented": "yes"}}}},
            'consent_state.gdpr["My Purpose"].consented',
        ),
        ({"source_info": {"channel": "carrier_pigeon"}}, "source_info.channel"),
        ({"user_attributes": []}, "user_attributes"),
        ({"deleted_user_attributes": [1]}, "deleted_user_attributes[0]"),
        ({"schema_version": "2"}, "schema_version"),
    ],
)
def test_wrong_types_name_the_json_path(obj: dict[str, Any], field: str) -> None:
    assert only_error(obj).field == field


# ------------------------------------------------------------------------------------- event names


def test_event_name_of() -> None:
    assert event_name_of(CustomEvent(data=CustomEventData(event_name="Buy"))) == "Buy"
    assert event_name_of(CustomEvent()) == "custom_event"
    assert event_name_of(ScreenViewEvent(data=ScreenViewData(screen_name="Home"))) == "Home"
    assert (
        event_name_of(
            CommerceEvent(data=CommerceEventData(product_action=ProductAction(action="add_to_cart")))
        )
        == "add_to_cart"
    )
    assert (
        event_name_of(CommerceEvent(data=CommerceEventData(promotion_action=PromotionAction(action="click"))))
        == "click"
    )
    assert (
        event_name_of(
            CommerceEvent(
                data=CommerceEventData(product_impressions=[ProductImpression(product_impression_list="L")])
            )
        )
        == "impression"
    )
    assert event_name_of(SessionStartEvent()) == "session_start"


def test_make_event() -> None:
    for event_type in EVENT_TYPES:
        event = make_event(event_type)
        assert event.event_type == event_type
        assert decode_batch(encode_batch(Batch(events=[event]))).events == [event]
    with pytest.raises(TypeError):
        make_event("screen_view", CustomEventData())
