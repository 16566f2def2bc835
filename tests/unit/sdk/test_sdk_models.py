"""SDK models serialise to the Events API JSON: checked field by field and against the official SDK."""

from __future__ import annotations

import ast
import json
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fermion import sdk
from fermion.sdk import (
    AppEvent,
    ApplicationInformation,
    ApplicationStateTransitionEvent,
    AttributionInfo,
    Batch,
    BatchContext,
    BreadcrumbEvent,
    CCPAConsentState,
    CommerceEvent,
    ConsentState,
    CrashReportEvent,
    DataPlanContext,
    DeviceCurrentState,
    DeviceInformation,
    Event,
    FirstRunEvent,
    GDPRConsentState,
    GeoLocation,
    MediaInfo,
    NetworkPerformanceEvent,
    OptOutEvent,
    Product,
    ProductAction,
    ProductImpression,
    ProfileEvent,
    Promotion,
    PromotionAction,
    PushMessageEvent,
    PushRegistrationEvent,
    ScreenViewEvent,
    SessionEndEvent,
    SessionStartEvent,
    ShoppingCart,
    UninstallEvent,
    UserAttributeChangeEvent,
    UserIdentities,
    UserIdentity,
    UserIdentityChangeEvent,
)

# --------------------------------------------------------------------------- events, one by one

EVENT_CASES: list[tuple[Event, dict[str, Any]]] = [
    (
        AppEvent(
            AppEvent.CustomEventType.navigation, "Hello World", custom_attributes={"foo": "bar", "n": 1}
        ),
        {
            "event_type": "custom_event",
            "data": {
                "custom_attributes": {"foo": "bar", "n": 1},
                "custom_event_type": "navigation",
                "event_name": "Hello World",
            },
        },
    ),
    (
        AppEvent(
            "media",
            "Play",
            media_info=MediaInfo(action="play", format=sdk.MediaFormat.video, playback_position=1.5),
        ),
        {
            "event_type": "custom_event",
            "data": {
                "custom_event_type": "media",
                "event_name": "Play",
                "media_info": {"action": "play", "playback_position": 1.5, "format": "video"},
            },
        },
    ),
    (
        ScreenViewEvent("Home", custom_flags={"Google.Category": "nav"}),
        {
            "event_type": "screen_view",
            "data": {"custom_flags": {"Google.Category": "nav"}, "screen_name": "Home"},
        },
    ),
    (
        SessionStartEvent(session_id=12345678, timestamp_unixtime_ms=1552679728376),
        {
            "event_type": "session_start",
            "data": {"timestamp_unixtime_ms": 1552679728376, "session_id": 12345678},
        },
    ),
    (
        SessionEndEvent(10000, session_id=12345678),
        {"event_type": "session_end", "data": {"session_id": 12345678, "session_duration_ms": 10000}},
    ),
    (FirstRunEvent(), {"event_type": "first_run", "data": {}}),
    (UninstallEvent(event_id=7), {"event_type": "uninstall", "data": {"event_id": 7}}),
    (
        CrashReportEvent(
            class_name="NullPointerException",
            message="boom",
            stack_trace="at x",
            exception_handled=False,
            breadcrumbs=["a", "b"],
            session_number=3,
        ),
        {
            "event_type": "crash_report",
            "data": {
                "breadcrumbs": ["a", "b"],
                "class_name": "NullPointerException",
                "message": "boom",
                "stack_trace": "at x",
                "exception_handled": False,
                "session_number": 3,
            },
        },
    ),
    (
        BreadcrumbEvent("checkout-step-1", session_number=2),
        {"event_type": "breadcrumb", "data": {"label": "checkout-step-1", "session_number": 2}},
    ),
    (OptOutEvent(True), {"event_type": "opt_out", "data": {"is_opted_out": True}}),
    (OptOutEvent(is_opted_out=False), {"event_type": "opt_out", "data": {"is_opted_out": False}}),
    (
        PushRegistrationEvent("tok-1"),
        {"event_type": "push_registration", "data": {"registration_token": "tok-1", "register": True}},
    ),
    (
        PushMessageEvent(
            PushMessageEvent.PushMessageType.received,
            push_message_token="tok",
            network="apn",
            application_state="background",
            push_message_behavior=PushMessageEvent.PushMessageBehavior.direct_open,
        ),
        {
            "event_type": "push_message",
            "data": {
                "push_message_type": "received",
                "push_message_token": "tok",
                "network": "apn",
                "application_state": "background",
                "push_message_behavior": "DirectOpen",
            },
        },
    ),
    (
        NetworkPerformanceEvent("https://x.test/a", 200, http_verb="GET", time_elapsed=12, bytes_in=5),
        {
            "event_type": "network_performance",
            "data": {
                "url": "https://x.test/a",
                "response_code": 200,
                "http_verb": "GET",
                "time_elapsed": 12,
                "bytes_in": 5,
            },
        },
    ),
    (
        ApplicationStateTransitionEvent.create_install_event(),
        {
            "event_type": "application_state_transition",
            "data": {
                "application_transition_type": "application_initialized",
                "is_first_run": True,
                "is_upgrade": False,
            },
        },
    ),
    (
        ApplicationStateTransitionEvent.create_upgrade_event(),
        {
            "event_type": "application_state_transition",
            "data": {
                "application_transition_type": "application_initialized",
                "is_first_run": False,
                "is_upgrade": True,
            },
        },
    ),
    (
        ApplicationStateTransitionEvent.create_background_event(),
        {
            "event_type": "application_state_transition",
            "data": {"application_transition_type": "application_background"},
        },
    ),
    (
        ApplicationStateTransitionEvent.create_foreground_event(),
        {
            "event_type": "application_state_transition",
            "data": {"application_transition_type": "application_foreground"},
        },
    ),
    (
        ProfileEvent(ProfileEvent.ProfileEventType.login, previous_mpid=1, current_mpid=2),
        {
            "event_type": "profile",
            "data": {"profile_event_type": "login", "previous_mpid": 1, "current_mpid": 2},
        },
    ),
    (
        UserAttributeChangeEvent("hair", new="brown", old="black", deleted=False, is_new_attribute=False),
        {
            "event_type": "user_attribute_change",
            "data": {
                "user_attribute_name": "hair",
                "new": "brown",
                "old": "black",
                "deleted": False,
                "is_new_attribute": False,
            },
        },
    ),
    (
        UserAttributeChangeEvent("tags", new=["a", "b"], is_new_attribute=True),
        {
            "event_type": "user_attribute_change",
            "data": {"user_attribute_name": "tags", "new": ["a", "b"], "is_new_attribute": True},
        },
    ),
    (
        UserIdentityChangeEvent(
            new=UserIdentity("email", "new@x.test", timestamp_unixtime_ms=5, created_this_batch=True),
            old=UserIdentity(UserIdentity.IdentityType.email, "old@x.test"),
        ),
        {
            "event_type": "user_identity_change",
            "data": {
                "new": {
                    "identity_type": "email",
                    "identity": "new@x.test",
                    "timestamp_unixtime_ms": 5,
                    "created_this_batch": True,
                },
                "old": {"identity_type": "email", "identity": "old@x.test"},
            },
        },
    ),
]


@pytest.mark.parametrize(("event", "expected"), EVENT_CASES, ids=lambda v: type(v).__name__)
def test_event_serialises_to_expected_envelope(event: Event, expected: dict[str, Any]) -> None:
    assert event.to_dict() == expected
    assert event.data_dict() == expected["data"]
    assert json.loads(json.dumps(event.to_dict())) == expected


def test_every_event_class_has_a_case() -> None:
    event_classes = {
        obj
        for obj in vars(sdk).values()
        if isinstance(obj, type) and issubclass(obj, Event) and obj is not Event
    }
    covered = {type(e) for e, _ in EVENT_CASES} | {CommerceEvent}
    assert event_classes == covered
    assert {cls.event_type for cls in event_classes} == set(sdk.EventType)


def test_common_event_fields() -> None:
    event = ScreenViewEvent(
        "Cart",
        timestamp_unixtime_ms=1,
        event_id=2,
        source_message_id="m-1",
        session_id=3,
        session_uuid="s-uuid",
        custom_attributes={"k": None, "f": 1.5, "b": True},
        custom_flags={"F": ["x", "y"]},
        location=GeoLocation(40.7, -74.0, accuracy=10.0),
        device_current_state=DeviceCurrentState(
            battery_level=0.5,
            device_orientation=DeviceCurrentState.Orientation.landscape_left,
            gps_state=True,
        ),
    )
    assert event.to_dict() == {
        "event_type": "screen_view",
        "data": {
            "timestamp_unixtime_ms": 1,
            "event_id": 2,
            "source_message_id": "m-1",
            "session_id": 3,
            "session_uuid": "s-uuid",
            "custom_attributes": {"k": None, "f": 1.5, "b": True},  # None inside a map is kept
            "custom_flags": {"F": ["x", "y"]},
            "location": {"latitude": 40.7, "longitude": -74.0, "accuracy": 10.0},
            "device_current_state": {
                "battery_level": 0.5,
                "gps_state": True,
                "device_orientation": "LandscapeLeft",
            },
            "screen_name": "Cart",
        },
    }


def test_attribution_helpers() -> None:
    assert AppEvent.create_attribution_event("pub", "camp").data_dict() == {
        "custom_attributes": {"campaign": "camp", "publisher": "pub"},
        "custom_event_type": "attribution",
        "event_name": "attribution",
    }
    assert AppEvent.create_attribution_delete_event().data_dict()["custom_attributes"] == {"action": "delete"}


# --------------------------------------------------------------------------- commerce


def test_commerce_product_action() -> None:
    product = Product(
        id="sample-sku",
        name="Example Product",
        price=19.99,
        quantity=1,
        custom_attributes={"on-sale": "true"},
    )
    action = ProductAction(
        ProductAction.Action.purchase, products=[product], tax_amount=1.5, total_amount=21.49
    )
    event = CommerceEvent(product_action=action, timestamp_unixtime_ms=1484322995852, currency_code="USD")
    assert event.to_dict() == {
        "event_type": "commerce_event",
        "data": {
            "timestamp_unixtime_ms": 1484322995852,
            "product_action": {
                "action": "purchase",
                "products": [
                    {
                        "id": "sample-sku",
                        "name": "Example Product",
                        "price": 19.99,
                        "quantity": 1,
                        "custom_attributes": {"on-sale": "true"},
                    }
                ],
                "total_amount": 21.49,
                "tax_amount": 1.5,
            },
            "currency_code": "USD",
        },
    }


def test_commerce_node_style_assignment() -> None:
    product = Product()
    product.name = "P"
    product.id = "sku"
    product.price = Decimal("19.99")
    product_action = ProductAction("purchase")
    product_action.products = [product]
    event = CommerceEvent()
    event.product_action = product_action
    assert event.data_dict() == {
        "product_action": {"action": "purchase", "products": [{"id": "sku", "name": "P", "price": 19.99}]}
    }


def test_commerce_promotion_impressions_and_cart() -> None:
    promo = CommerceEvent(
        promotion_action=PromotionAction(
            PromotionAction.Action.click,
            promotions=[Promotion(id="p1", name="Spring", creative="banner", position="top")],
        ),
        shopping_cart=ShoppingCart([Product(id="a")]),
        is_non_interactive=True,
        screen_name="Home",
    )
    assert promo.data_dict() == {
        "promotion_action": {
            "action": "click",
            "promotions": [{"id": "p1", "name": "Spring", "creative": "banner", "position": "top"}],
        },
        "shopping_cart": {"products": [{"id": "a"}]},
        "screen_name": "Home",
        "is_non_interactive": True,
    }
    impressions = CommerceEvent(
        product_impressions=[ProductImpression("search results", [Product(id="a", position=1)])]
    )
    assert impressions.data_dict() == {
        "product_impressions": [
            {"product_impression_list": "search results", "products": [{"id": "a", "position": 1}]}
        ]
    }


def test_commerce_event_needs_an_action_or_impressions() -> None:
    with pytest.raises(ValueError, match="product_action"):
        CommerceEvent(currency_code="USD").to_dict()


def test_product_action_spellings() -> None:
    assert ProductAction.Action.add_to_wishlist.value == "add_to_wishlist"
    assert ProductAction.Action.remove_from_wish_list.value == "remove_from_wish_list"
    assert ProductAction("remove_from_wish_list").to_dict() == {"action": "remove_from_wish_list"}


# --------------------------------------------------------------------------- enums


def test_enums_accept_strings_and_reject_unknown_values() -> None:
    assert Batch("production").environment is sdk.Environment.production
    assert Batch.Environment is sdk.Environment
    assert AppEvent("navigation", "x").custom_event_type is AppEvent.CustomEventType.navigation
    with pytest.raises(ValueError, match="expected one of"):
        Batch("staging")
    with pytest.raises(ValueError, match="CustomEventType"):
        AppEvent("nav", "x")
    with pytest.raises(ValueError):
        ProductAction("buy")
    with pytest.raises(ValueError):
        PromotionAction("impression")


def test_enum_assigned_after_construction_is_checked_on_serialisation() -> None:
    event = AppEvent("navigation", "x")
    event.custom_event_type = "search"
    assert event.data_dict()["custom_event_type"] == "search"
    event.custom_event_type = "bogus"
    with pytest.raises(ValueError):
        event.to_dict()


def test_enum_values() -> None:
    assert [m.value for m in sdk.CustomEventType] == [
        "unknown", "navigation", "location", "search", "transaction", "user_content",
        "user_preference", "social", "other", "media", "attribution",
    ]  # fmt: skip
    assert [m.value for m in sdk.Environment] == ["development", "production"]
    assert DeviceInformation.Platform.ios.value == "iOS"
    assert ApplicationInformation.OS.tvos.value == "TVOS"
    assert sdk.IdentityType.customer_id.value == "customer_id"
    assert str(sdk.EventType.crash_report) == "crash_report"


# --------------------------------------------------------------------------- batch-level parts


def test_user_identities_use_customerid_key() -> None:
    ids = UserIdentities(customerid="123456", email="a@b.com", other_id_10="o10", phone_number_3="555")
    ids.facebook_custom_audience_id = "fca"
    assert ids.to_dict() == {
        "customerid": "123456",
        "email": "a@b.com",
        "other_id_10": "o10",
        "phone_number_3": "555",
        "facebook_custom_audience_id": "fca",
    }


IDENTITY_KEYS = list(UserIdentities.__dataclass_fields__)


@given(st.dictionaries(st.sampled_from(IDENTITY_KEYS), st.text(max_size=20)))
def test_user_identities_round_trip(values: dict[str, str]) -> None:
    assert UserIdentities(**values).to_dict() == values


def test_device_and_application_info() -> None:
    device = DeviceInformation(
        platform="iOS",
        ios_advertising_id="07d2ebaa-e956-407e-a1e6-f05f871bf4e2",
        att_authorization_status=DeviceInformation.ATTAuthorizationStatus.authorized,
        is_tablet=False,
        screen_dpi=326,
    )
    assert device.to_dict() == {
        "platform": "iOS",
        "screen_dpi": 326,
        "ios_advertising_id": "07d2ebaa-e956-407e-a1e6-f05f871bf4e2",
        "att_authorization_status": "authorized",
        "is_tablet": False,
    }
    with pytest.raises(ValueError):
        DeviceInformation(platform="ios")
    app = ApplicationInformation(application_name="App", application_version="1.0", os="IOS")
    assert app.to_dict() == {"application_name": "App", "application_version": "1.0", "os": "IOS"}


def test_consent_state() -> None:
    assert ConsentState().to_dict() == {"gdpr": {}, "ccpa": {}}
    consent = ConsentState(
        gdpr={"My Purpose": GDPRConsentState("doc", True, 1, "loc", "hw")},
        ccpa={"data_sale_opt_out": CCPAConsentState(document="d", consented=True, timestamp_unixtime_ms=2)},
    )
    assert consent.to_dict() == {
        "gdpr": {
            "My Purpose": {
                "document": "doc",
                "consented": True,
                "timestamp_unixtime_ms": 1,
                "location": "loc",
                "hardware_id": "hw",
            }
        },
        "ccpa": {"data_sale_opt_out": {"document": "d", "consented": True, "timestamp_unixtime_ms": 2}},
    }
    consent.ccpa["marketing"] = CCPAConsentState(consented=False)
    with pytest.raises(ValueError, match="data_sale_opt_out"):
        consent.to_dict()


def test_minimal_batch_omits_everything_unset() -> None:
    assert Batch(Batch.Environment.development).to_dict() == {"environment": "development"}


def full_batch() -> Batch:
    """The batch of spec section 2.13, built with the Fermion SDK."""
    batch = Batch(Batch.Environment.development, source_request_id="req-1", ip="10.0.0.1")
    batch.add_event(SessionStartEvent(timestamp_unixtime_ms=1552679728376, session_id=12345678))
    batch.add_event(
        AppEvent(
            AppEvent.CustomEventType.navigation,
            "Hello World",
            source_message_id="m1",
            custom_attributes={"foo": "bar", "n": 1},
            custom_flags={"F": "x"},
        )
    )
    batch.add_event(ScreenViewEvent("Home"))
    batch.add_event(
        CommerceEvent(
            product_action=ProductAction(
                "purchase",
                transaction_id="t1",
                total_amount=21.49,
                products=[Product(id="sku", name="P", price=19.99, quantity=1)],
            ),
            currency_code="USD",
        )
    )
    batch.add_event(
        UserAttributeChangeEvent("hair", new="brown", old="black", deleted=False, is_new_attribute=False)
    )
    batch.add_event(ApplicationStateTransitionEvent.create_install_event())
    batch.add_event(OptOutEvent(True))
    batch.add_event(SessionEndEvent(10000, session_id=12345678))
    batch.device_info = DeviceInformation(
        platform="iOS", ios_advertising_id="07d2ebaa-e956-407e-a1e6-f05f871bf4e2"
    )
    batch.application_info = ApplicationInformation(application_name="App", application_version="1.0")
    batch.user_attributes = {"hair": "brown", "list": ["a", "b"]}
    batch.deleted_user_attributes = ["old"]
    batch.user_identities = UserIdentities(
        customerid="123456", email="a@b.com", other_id_2="o2", mobile_number="555"
    )
    batch.consent_state = ConsentState(
        ccpa={"data_sale_opt_out": CCPAConsentState(document="d", consented=True, timestamp_unixtime_ms=2)},
        gdpr={"My Purpose": GDPRConsentState("doc", True, 1, "loc", "hw")},
    )
    batch.integration_attributes = {"123": {"k": "v"}}
    batch.mpid = 600868121729048600
    batch.mp_deviceid = "59780f39-d7a0-4ebe-9950-280f937c29e2"
    batch.context = BatchContext(data_plan=DataPlanContext("plan1", 2))
    return batch


SPEC_2_13 = """
{"events":[
  {"data":{"timestamp_unixtime_ms":1552679728376,"session_id":12345678},"event_type":"session_start"},
  {"data":{"source_message_id":"m1","custom_attributes":{"foo":"bar","n":1},"custom_event_type":"navigation","event_name":"Hello World","custom_flags":{"F":"x"}},"event_type":"custom_event"},
  {"data":{"screen_name":"Home"},"event_type":"screen_view"},
  {"data":{"product_action":{"action":"purchase","transaction_id":"t1","total_amount":21.49,"products":[{"id":"sku","name":"P","price":19.99,"quantity":1}]},"currency_code":"USD"},"event_type":"commerce_event"},
  {"data":{"user_attribute_name":"hair","new":"brown","old":"black","deleted":false,"is_new_attribute":false},"event_type":"user_attribute_change"},
  {"data":{"is_first_run":true,"is_upgrade":false,"application_transition_type":"application_initialized"},"event_type":"application_state_transition"},
  {"data":{"is_opted_out":true},"event_type":"opt_out"},
  {"data":{"session_id":12345678,"session_duration_ms":10000},"event_type":"session_end"}],
 "source_request_id":"req-1","environment":"development","ip":"10.0.0.1",
 "device_info":{"platform":"iOS","ios_advertising_id":"07d2ebaa-e956-407e-a1e6-f05f871bf4e2"},
 "application_info":{"application_name":"App","application_version":"1.0"},
 "user_attributes":{"hair":"brown","list":["a","b"]},"deleted_user_attributes":["old"],
 "user_identities":{"customerid":"123456","email":"a@b.com","other_id_2":"o2","mobile_number":"555"},
 "consent_state":{"ccpa":{"data_sale_opt_out":{"document":"d","consented":true,"timestamp_unixtime_ms":2}},
                  "gdpr":{"My Purpose":{"document":"doc","consented":true,"timestamp_unixtime_ms":1,"location":"loc","hardware_id":"hw"}}},
 "integration_attributes":{"123":{"k":"v"}},
 "mpid":600868121729048600,"mp_deviceid":"59780f39-d7a0-4ebe-9950-280f937c29e2",
 "context":{"data_plan":{"plan_id":"plan1","plan_version":2}}}
"""  # noqa: E501


def test_full_batch_matches_spec_example() -> None:
    body = full_batch().to_dict()
    assert body == json.loads(SPEC_2_13)
    assert json.loads(json.dumps(body))["mpid"] == 600868121729048600  # exact above 2**53


def test_full_batch_matches_official_python_sdk() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mparticle
        from mparticle.models.user_attribute_change_event import UserAttributeChangeEvent as OfficialUACE

    official = mparticle.Batch()
    official.environment = "development"
    official.source_request_id = "req-1"
    official.ip = "10.0.0.1"
    purchase = mparticle.ProductAction("purchase")
    purchase.transaction_id = "t1"
    purchase.total_amount = 21.49
    purchase.products = [mparticle.Product(id="sku", name="P", price=19.99, quantity=1)]
    commerce = mparticle.CommerceEvent(purchase)
    commerce.currency_code = "USD"
    app_event = mparticle.AppEvent("Hello World", "navigation", custom_attributes={"foo": "bar", "n": 1})
    app_event.source_message_id = "m1"
    app_event.custom_flags = {"F": "x"}
    install = mparticle.ApplicationStateTransitionEvent.create_install_event()
    official.events = [
        mparticle.SessionStartEvent(timestamp_unixtime_ms=1552679728376, session_id=12345678),
        app_event,
        mparticle.ScreenViewEvent(screen_name="Home"),
        commerce,
        OfficialUACE(
            user_attribute_name="hair", new="brown", old="black", deleted=False, is_new_attribute=False
        ),
        install,
        mparticle.OptOutEvent(is_opted_out=True),
        mparticle.SessionEndEvent(session_id=12345678, session_duration_ms=10000),
    ]
    device = mparticle.DeviceInformation()
    device.platform = "iOS"
    device.ios_advertising_id = "07d2ebaa-e956-407e-a1e6-f05f871bf4e2"
    official.device_info = device
    app = mparticle.ApplicationInformation()
    app.application_name, app.application_version = "App", "1.0"
    official.application_info = app
    official.user_attributes = {"hair": "brown", "list": ["a", "b"]}
    official.deleted_user_attributes = ["old"]
    ids = mparticle.UserIdentities()
    ids.customerid, ids.email, ids.other_id_2, ids.mobile_number = "123456", "a@b.com", "o2", "555"
    official.user_identities = ids
    consent = mparticle.ConsentState()
    consent.ccpa = {"data_sale_opt_out": mparticle.CCPAConsentState("d", True, 2)}
    consent.gdpr = {"My Purpose": mparticle.GDPRConsentState("doc", True, 1, "loc", "hw")}
    official.consent_state = consent
    official.integration_attributes = {"123": {"k": "v"}}
    official.mpid = 600868121729048600
    official.mp_deviceid = "59780f39-d7a0-4ebe-9950-280f937c29e2"
    official.context = mparticle.BatchContext(
        data_plan=mparticle.DataPlanContext(plan_id="plan1", plan_version=2)
    )

    client = mparticle.ApiClient(configuration=mparticle.Configuration())
    assert full_batch().to_dict() == client.sanitize_for_serialization(official)


def test_batch_context_attribution_and_partner_identities() -> None:
    batch = Batch(
        "production",
        schema_version=2,
        context=BatchContext(location=GeoLocation(1.0, 2.0, city_name="NYC", location_source="lat_long")),
        attribution_info=AttributionInfo("sp", "pub", "camp"),
        partner_identities={"Partner_Id": "x"},
    )
    assert batch.to_dict() == {
        "environment": "production",
        "schema_version": 2,
        "partner_identities": {"Partner_Id": "x"},
        "attribution_info": {"service_provider": "sp", "publisher": "pub", "campaign": "camp"},
        "context": {
            "location": {"latitude": 1.0, "longitude": 2.0, "city_name": "NYC", "location_source": "lat_long"}
        },
    }
    assert DataPlanContext("p").to_dict() == {"plan_id": "p"}


def test_batch_rejects_non_events_and_unserialisable_values() -> None:
    batch = Batch("development")
    with pytest.raises(TypeError):
        batch.add_event({"event_type": "custom_event"})  # type: ignore[arg-type]
    batch.events.append("nope")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        batch.to_dict()
    batch = Batch("development", user_attributes={"when": object()})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="cannot serialise"):
        batch.to_dict()


def test_batch_events_node_style_assignment() -> None:
    start = SessionStartEvent(session_id=1, timestamp_unixtime_ms=10)
    end = SessionEndEvent(session_id=1, timestamp_unixtime_ms=20)
    end.session_duration_ms = 10
    batch = Batch(Batch.Environment.development)
    batch.events = [start, end]
    assert [e["event_type"] for e in batch.to_dict()["events"]] == ["session_start", "session_end"]


def test_sdk_imports_no_other_fermion_module() -> None:
    package = Path(sdk.__file__).parent
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                if name == "fermion" or name.startswith("fermion."):
                    assert name.startswith("fermion.sdk"), f"{source.name} imports {name}"
