"""Commerce expansion for integrations that ask for it: each commerce event becomes plain custom events.

Following the mParticle SDKs' expansion: a product action becomes one "eCommerce - <action> - Item" event
per product (purchase and refund first add one "eCommerce - <action> - Total" event); each promotion
becomes one "eCommerce - <action> - Item" event; each impressed product one "eCommerce - Impression - Item"
event. Expanded events are `custom_event`s of type `transaction`. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any, Protocol

from msgspec import structs

from fermion.integrations.spec import Integration
from fermion.model.batch import Batch
from fermion.model.events import CommerceEvent, CustomEvent, CustomEventData, Event
from fermion.model.events_commerce import CommerceEventData, Product, Promotion
from fermion.model.events_common import Scalar
from fermion.model.ids import derived_id

__all__ = ["DEFAULT_CURRENCY", "commerce_expansion", "expand_batch", "expand_commerce_event"]

DEFAULT_CURRENCY = "USD"
TOTAL_NAME = "eCommerce - {} - Total"
ITEM_NAME = "eCommerce - {} - Item"
IMPRESSION_NAME = "eCommerce - Impression - Item"

# Common event fields the expanded events keep (when, which session, where).
_KEPT = (
    "timestamp_unixtime_ms",
    "session_id",
    "session_uuid",
    "session_start_unixtime_ms",
    "event_start_unixtime_ms",
    "location",
    "device_current_state",
    "custom_flags",
)


def expand_batch(batch: Batch) -> Batch:
    """The batch with every commerce event replaced by its expansion (the same object if none)."""
    if not any(isinstance(e, CommerceEvent) for e in batch.events):
        return batch
    events: list[Event] = []
    for event in batch.events:
        if isinstance(event, CommerceEvent):
            events.extend(expand_commerce_event(event))
        else:
            events.append(event)
    return structs.replace(batch, events=events)


def expand_commerce_event(event: CommerceEvent) -> list[Event]:
    data = event.data
    made: list[tuple[str, dict[str, Scalar]]] = []
    made.extend(_product_action(data))
    made.extend(_promotions(data))
    made.extend(_impressions(data))
    base = {name: getattr(data, name) for name in _KEPT if getattr(data, name) is not None}
    out: list[Event] = []
    for index, (name, attributes) in enumerate(made):
        event_id = None if data.event_id is None else derived_id("expanded", data.event_id, index)
        out.append(
            CustomEvent(
                data=CustomEventData(
                    event_name=name,
                    custom_event_type="transaction",
                    custom_attributes=attributes,
                    event_id=event_id,
                    **base,
                )
            )
        )
    return out


def _put(attributes: dict[str, Scalar], key: str, value: Any) -> None:
    if value is not None and value != "":
        attributes[key] = value


def _product_fields(product: Product, attributes: dict[str, Scalar]) -> None:
    _put(attributes, "Coupon Code", product.coupon_code)
    _put(attributes, "Brand", product.brand)
    _put(attributes, "Category", product.category)
    _put(attributes, "Name", product.name)
    _put(attributes, "Id", product.id)
    _put(attributes, "Variant", product.variant)
    _put(attributes, "Position", product.position)
    _put(attributes, "Item Price", product.price)
    _put(attributes, "Quantity", product.quantity)
    _put(attributes, "Total Product Amount", product.total_product_amount)


def _product_action(data: CommerceEventData) -> list[tuple[str, dict[str, Scalar]]]:
    action = data.product_action
    if action is None or not action.action:
        return []
    made: list[tuple[str, dict[str, Scalar]]] = []
    if action.action in ("purchase", "refund"):
        total: dict[str, Scalar] = dict(data.custom_attributes or {})
        _put(total, "Transaction Id", action.transaction_id)
        _put(total, "Affiliation", action.affiliation)
        _put(total, "Coupon Code", action.coupon_code)
        _put(total, "Total Amount", action.total_amount)
        _put(total, "Shipping Amount", action.shipping_amount)
        _put(total, "Tax Amount", action.tax_amount)
        total["Currency Code"] = data.currency_code or DEFAULT_CURRENCY
        _put(total, "Checkout Options", action.checkout_options)
        _put(total, "Checkout Step", action.checkout_step)
        _put(total, "Product List Source", action.product_list_source)
        _put(total, "Product Action List", action.product_action_list)
        made.append((TOTAL_NAME.format(action.action), total))
    for product in action.products or ():
        item: dict[str, Scalar] = {}
        _product_fields(product, item)
        item.update(product.custom_attributes or {})
        _put(item, "Transaction Id", action.transaction_id)
        made.append((ITEM_NAME.format(action.action), item))
    return made


def _promotion_fields(promotion: Promotion, attributes: dict[str, Scalar]) -> None:
    _put(attributes, "Id", promotion.id)
    _put(attributes, "Position", promotion.position)
    _put(attributes, "Name", promotion.name)
    _put(attributes, "Creative", promotion.creative)


def _promotions(data: CommerceEventData) -> list[tuple[str, dict[str, Scalar]]]:
    action = data.promotion_action
    if action is None or not action.action:
        return []
    made: list[tuple[str, dict[str, Scalar]]] = []
    for promotion in action.promotions or ():
        item: dict[str, Scalar] = dict(data.custom_attributes or {})
        _promotion_fields(promotion, item)
        made.append((ITEM_NAME.format(action.action), item))
    return made


def _impressions(data: CommerceEventData) -> list[tuple[str, dict[str, Scalar]]]:
    made: list[tuple[str, dict[str, Scalar]]] = []
    for impression in data.product_impressions or ():
        for product in impression.products or ():
            item: dict[str, Scalar] = dict(data.custom_attributes or {})
            item.update(product.custom_attributes or {})
            _product_fields(product, item)
            _put(item, "Product Impression List", impression.product_impression_list)
            made.append((IMPRESSION_NAME, item))
    return made


class _HasIntegration(Protocol):
    @property
    def integration(self) -> Integration[Any, Any]: ...


def commerce_expansion(batch: Batch, ctx: _HasIntegration) -> Batch:
    """Connection stage: expands commerce events for integrations whose options ask for it."""
    if not ctx.integration.options.wants_commerce_expansion:
        return batch
    return expand_batch(batch)
