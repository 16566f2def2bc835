"""The official PyPI `mparticle` SDK, unchanged but for its host, against a running Fermion."""

from __future__ import annotations

import mparticle
import pytest
from mparticle import (
    AppEvent,
    Batch,
    BatchContext,
    CommerceEvent,
    ConsentState,
    DataPlanContext,
    GDPRConsentState,
    Product,
    ProductAction,
    ScreenViewEvent,
    SessionEndEvent,
    SessionStartEvent,
    UserIdentities,
)

from support.client_events import wait_for_client_events
from support.fermion_proc import FermionProcess


def api_for(fermion: FermionProcess, key: str, secret: str) -> mparticle.EventsApi:
    config = mparticle.Configuration()
    config.api_key = key
    config.api_secret = secret
    config.host = fermion.base_url + "/v2"
    return mparticle.EventsApi(config)


def sdk_batch(customer: str) -> Batch:
    batch = Batch()
    batch.environment = "development"
    ids = UserIdentities()
    ids.customerid = customer
    ids.email = f"{customer}@example.com"
    batch.user_identities = ids
    batch.user_attributes = {"tier": "gold", "list": ["a", "b"]}
    start = SessionStartEvent()
    start.session_id = 12345678
    start.timestamp_unixtime_ms = 1700000000000
    product = Product()
    product.id = "sku-1"
    product.name = "Thing"
    product.price = 19.99
    product.quantity = 1
    action = ProductAction("purchase")
    action.products = [product]
    action.total_amount = 19.99
    action.transaction_id = "t-1"
    commerce = CommerceEvent(action)
    commerce.timestamp_unixtime_ms = 1700000000500
    end = SessionEndEvent()
    end.session_id = 12345678
    end.session_duration_ms = 10000
    end.timestamp_unixtime_ms = 1700000010000
    screen = ScreenViewEvent()
    screen.screen_name = "Home"
    screen.timestamp_unixtime_ms = 1700000000200
    app_event = AppEvent("Hello World", "navigation", custom_attributes={"foo": "bar", "n": 1})
    app_event.timestamp_unixtime_ms = 1700000000300
    batch.events = [start, screen, app_event, commerce, end]
    consent = ConsentState()
    gdpr = GDPRConsentState()
    gdpr.consented = True
    gdpr.document = "doc"
    gdpr.timestamp_unixtime_ms = 1700000000000
    consent.gdpr = {"My Purpose": gdpr}
    batch.consent_state = consent
    batch.context = BatchContext(data_plan=DataPlanContext(plan_id="my_plan", plan_version=1))
    return batch


def test_upload_and_bulk_upload_are_accepted_and_stored(fermion: FermionProcess) -> None:
    api = api_for(fermion, *fermion.input_creds())
    _, status, _ = api.upload_events_with_http_info(sdk_batch("py-sdk-1"))
    assert status == 202
    api.bulk_upload_events([sdk_batch("py-sdk-2"), sdk_batch("py-sdk-3")])
    events = wait_for_client_events(fermion, 15, since_ms=1700000000000, until_ms=1700000010001)
    names = {e["event_name"] for e in events}
    assert len(events) == 15
    assert {e["event_type"] for e in events} == {
        "session_start",
        "screen_view",
        "custom_event",
        "commerce_event",
        "session_end",
    }
    assert names == {"session_start", "Home", "Hello World", "purchase", "session_end"}
    hello = next(e for e in events if e["event_name"] == "Hello World")
    assert hello["event"]["data"]["custom_attributes"] == {"foo": "bar", "n": 1}
    assert len({e["mpid"] for e in events}) == 3


def test_wrong_secret_raises_403(fermion: FermionProcess) -> None:
    key, _ = fermion.input_creds()
    api = api_for(fermion, key, "wrong")
    with pytest.raises(mparticle.rest.ApiException) as exc:
        api.upload_events(sdk_batch("py-sdk-x"))
    assert exc.value.status == 403
