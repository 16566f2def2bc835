"""Heap output: custom events, screen views and commerce events to Heap's server-side track API, and
user attributes (when enabled) to add_user_properties.

One track request per event; a commerce event becomes one main event plus one "Item" event per product
or promotion, all in one bulk track request. The identity is the MPID or the Customer ID (setting).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import msgspec
from pydantic import Field, field_validator

from fermion.integrations.spec import (
    DeliveryOptions,
    HttpRequest,
    Integration,
    IntegrationKind,
    MapSettings,
    OutboundRequest,
    OutgoingBatch,
    SettingsModel,
    Skip,
)
from fermion.model.batch import Batch

__all__ = ["DEFAULT_BASE_URL", "INTEGRATION", "ExternalId", "HeapConnectionSettings", "HeapSettings"]

DEFAULT_BASE_URL = "https://heapanalytics.com"
TRACK_PATH = "/api/track"
USER_PROPERTIES_PATH = "/api/add_user_properties"
MAX_PROPERTY_LENGTH = 1023  # Heap: keys and string values under 1024 characters
SCREEN_VIEW_PREFIX = "Viewed: "  # "mapped into Heap as Viewed: screen_name_here"
PRODUCT_ACTION_EVENT = "Product Action Event"
IMPRESSION_EVENT = "Impression Event"
PROMOTION_EVENT = "Promotion Event"
ITEM_EVENT = "Item"


class ExternalId(StrEnum):
    MPID = "MPID"
    CUSTOMER_ID = "Customer ID"


class HeapSettings(SettingsModel):
    """Configuration settings (per output)."""

    app_id: str = Field(min_length=1, max_length=100, description="The Heap environment ID (app_id).")
    external_id: ExternalId = Field(
        default=ExternalId.MPID,
        description="The user identity sent as Heap's identity: MPID or Customer ID (must be immutable).",
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL, max_length=500, description="Heap API base URL (override for testing)."
    )

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")


class HeapConnectionSettings(SettingsModel):
    forward_user_attributes: bool = Field(default=False, description="Send user attributes to Heap.")
    forward_web_requests_server_side: bool = Field(
        default=True,
        description="Forward web data server-side. Off: web batches are left to the client-side Heap kit.",
    )


# ----------------------------------------------------------------------------------- properties


def _value(value: Any) -> str | int | float | None:
    """A Heap property value: a string (under 1024 characters) or a number."""
    if value is None or isinstance(value, (dict,)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, list):
        value = ",".join(str(v) for v in value if v is not None)
    return str(value)[:MAX_PROPERTY_LENGTH]


def _props(*sources: dict[str, Any] | None, **fixed: Any) -> dict[str, str | int | float]:
    out: dict[str, str | int | float] = {}
    for source in (*sources, fixed):
        for key, raw in (source or {}).items():
            value = _value(raw)
            if value is not None and key:
                out[str(key)[:MAX_PROPERTY_LENGTH]] = value
    return out


def _timestamp(ms: Any) -> str | None:
    if not isinstance(ms, int):
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


# -------------------------------------------------------------------------------------- events


def _base(identity: str, name: str, data: dict[str, Any], key: str) -> dict[str, Any]:
    event: dict[str, Any] = {"identity": identity, "event": name[:MAX_PROPERTY_LENGTH]}
    timestamp = _timestamp(data.get("timestamp_unixtime_ms"))
    if timestamp is not None:
        event["timestamp"] = timestamp
    if data.get("session_id") is not None:
        event["session_id"] = str(data["session_id"])
    event["idempotency_key"] = key
    return event


def _product_props(product: dict[str, Any]) -> dict[str, str | int | float]:
    return _props(
        product.get("custom_attributes"),
        product_id=product.get("id"),
        product_name=product.get("name"),
        product_brand=product.get("brand"),
        product_category=product.get("category"),
        product_variant=product.get("variant"),
        product_position=product.get("position"),
        product_price=product.get("price"),
        product_quantity=product.get("quantity"),
        total_product_amount=product.get("total_product_amount"),
        product_coupon_code=product.get("coupon_code"),
    )


def _commerce(identity: str, data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The main event, then one Item event per product or promotion."""
    attributes = data.get("custom_attributes")
    common = {"currency_code": data.get("currency_code"), "screen_name": data.get("screen_name")}
    items: list[dict[str, Any]] = []
    action = data.get("product_action")
    promotion = data.get("promotion_action")
    if isinstance(action, dict) and action.get("action"):
        products = [p for p in action.get("products") or [] if isinstance(p, dict)]
        main_name = PRODUCT_ACTION_EVENT
        main_props = _props(
            attributes,
            **common,
            product_action=action.get("action"),
            product_ids=[p.get("id") for p in products],
            transaction_id=action.get("transaction_id"),
            affiliation=action.get("affiliation"),
            total_amount=action.get("total_amount"),
            tax_amount=action.get("tax_amount"),
            shipping_amount=action.get("shipping_amount"),
            coupon_code=action.get("coupon_code"),
            checkout_step=action.get("checkout_step"),
            checkout_options=action.get("checkout_options"),
            product_action_list=action.get("product_action_list"),
            product_list_source=action.get("product_list_source"),
        )
        items = [
            _product_props(p)
            | _props(product_action=action.get("action"), transaction_id=action.get("transaction_id"))
            for p in products
        ]
    elif isinstance(promotion, dict) and promotion.get("action"):
        promotions = [p for p in promotion.get("promotions") or [] if isinstance(p, dict)]
        main_name = PROMOTION_EVENT
        main_props = _props(
            attributes,
            **common,
            promotion_action=promotion.get("action"),
            promotion_ids=[p.get("id") for p in promotions],
        )
        items = [
            _props(
                {k: v for k, v in p.items() if k not in ("id", "name", "creative", "position")},
                promotion_action=promotion.get("action"),
                promotion_id=p.get("id"),
                promotion_name=p.get("name"),
                promotion_creative=p.get("creative"),
                promotion_position=p.get("position"),
            )
            for p in promotions
        ]
    elif data.get("product_impressions"):
        main_name = IMPRESSION_EVENT
        impressed: list[tuple[str | None, dict[str, Any]]] = [
            (imp.get("product_impression_list"), p)
            for imp in data["product_impressions"]
            if isinstance(imp, dict)
            for p in imp.get("products") or []
            if isinstance(p, dict)
        ]
        main_props = _props(
            attributes,
            **common,
            product_ids=[p.get("id") for _, p in impressed],
            product_impression_lists=list(dict.fromkeys(n for n, _ in impressed if n)),
        )
        items = [_product_props(p) | _props(product_impression_list=name) for name, p in impressed]
    else:
        return []
    main = _base(identity, main_name, data, f"{key}:0") | {"properties": main_props}
    return [main] + [
        _base(identity, ITEM_EVENT, data, f"{key}:{i}") | {"properties": props}
        for i, props in enumerate(items, start=1)
    ]


def _identity(batch: dict[str, Any], external_id: ExternalId) -> str | None:
    if external_id == ExternalId.MPID:
        mpid = batch.get("mpid")
        return None if mpid is None else str(mpid)
    ids = batch.get("user_identities")
    if isinstance(ids, dict):
        value = ids.get("customer_id") or ids.get("customerid")
    elif isinstance(ids, list):  # the outgoing array form
        value = next((i.get("identity") for i in ids if i.get("identity_type") == "customer_id"), None)
    else:
        value = None
    return value[:255] if isinstance(value, str) and value else None


MISSING_IDENTITY = "missing_identity"


def skip_batch(batch: Batch, settings: HeapSettings, _conn: HeapConnectionSettings) -> Skip | None:
    """In Customer ID mode a batch whose user has no customer id has nobody to attribute it to in Heap
    (the batch is already enriched with the user's identities). In MPID mode every batch has one."""
    if settings.external_id != ExternalId.CUSTOMER_ID:
        return None
    ids = batch.user_identities
    if ids is not None and (ids.customer_id or ids.customerid):
        return None
    return Skip(
        MISSING_IDENTITY,
        "batch skipped: the output sends Customer ID as Heap's identity and the user has no customer_id",
    )


def _is_web(batch: dict[str, Any]) -> bool:
    device = batch.get("device_info") or {}
    app = batch.get("application_info") or {}
    return device.get("platform") == "web" or app.get("os") == "MobileWeb"


# ------------------------------------------------------------------------------------------ map

_ENCODE = msgspec.json.Encoder().encode
_HEADERS = {"Content-Type": "application/json"}


def map_batches(
    batches: Sequence[OutgoingBatch], settings: MapSettings[HeapSettings, HeapConnectionSettings]
) -> list[OutboundRequest]:
    cfg, conn = settings.output, settings.connection
    requests: list[OutboundRequest] = []
    for batch in batches:
        raw = batch.as_dict()
        if not conn.forward_web_requests_server_side and _is_web(raw):
            continue  # the client-side kit sends web data
        identity = _identity(raw, cfg.external_id)
        if identity is None:
            continue  # skip_batch kept such batches from being queued; one queued before is not sent
        requests.extend(_batch_requests(batch, raw, identity, settings))
    return requests


def _batch_requests(
    batch: OutgoingBatch,
    raw: dict[str, Any],
    identity: str,
    settings: MapSettings[HeapSettings, HeapConnectionSettings],
) -> list[HttpRequest]:
    cfg = settings.output
    track_url = cfg.base_url + TRACK_PATH
    out: list[HttpRequest] = []

    def post(url: str, body: dict[str, Any], dedupe: str) -> None:
        out.append(
            HttpRequest(
                method="POST",
                url=url,
                headers=dict(_HEADERS),
                body=_ENCODE(body),
                dedupe_key=f"{settings.connection_id}:{batch.batch_id}:{dedupe}",
                batch_ids=(batch.batch_id,),
            )
        )

    for index, event in enumerate(raw.get("events") or []):
        data = event.get("data") or {}
        event_type = event.get("event_type")
        key = str(data.get("event_id", f"{batch.batch_id}-{index}"))
        if event_type == "custom_event":
            name = data.get("event_name") or "custom_event"
            props = _props(data.get("custom_attributes"), event_type=data.get("custom_event_type"))
            post(
                track_url,
                {"app_id": cfg.app_id, **_base(identity, name, data, key), "properties": props},
                key,
            )
        elif event_type == "screen_view":
            screen = data.get("screen_name") or ""
            props = _props(data.get("custom_attributes"), screen_name=screen)
            name = SCREEN_VIEW_PREFIX + screen
            post(
                track_url,
                {"app_id": cfg.app_id, **_base(identity, name, data, key), "properties": props},
                key,
            )
        elif event_type == "commerce_event":
            heap_events = _commerce(identity, data, key)
            if heap_events:
                post(track_url, {"app_id": cfg.app_id, "events": heap_events}, key)
    attributes = raw.get("user_attributes")
    if settings.connection.forward_user_attributes and isinstance(attributes, dict):
        props = _props(attributes)
        if props:
            body = {"app_id": cfg.app_id, "identity": identity, "properties": props}
            post(cfg.base_url + USER_PROPERTIES_PATH, body, "user_properties")
    return out


INTEGRATION = Integration[HeapSettings, HeapConnectionSettings](
    id="heap",
    name="Heap",
    kind=IntegrationKind.EVENT,
    settings=HeapSettings,
    connection_settings=HeapConnectionSettings,
    map=map_batches,
    event_types=frozenset({"custom_event", "screen_view", "commerce_event"}),
    options=DeliveryOptions(max_batch_size=100, max_concurrency=8, timeout_s=10.0),
    description="Events, screen views, commerce events and user attributes to Heap's server-side API.",
    skip=skip_batch,
)
