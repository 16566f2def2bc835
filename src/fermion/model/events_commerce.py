"""Data of `commerce_event`: product actions, promotions, impressions, shopping cart (spec 2.10)."""

from __future__ import annotations

from fermion.model.enums import CommerceEventType, ProductActionType, PromotionActionType
from fermion.model.events_common import EventData, Int, Number, Record, Scalar, StrOrInt, Timestamp


class Product(Record):
    id: StrOrInt | None = None
    name: str | None = None
    brand: str | None = None
    category: str | None = None
    variant: str | None = None
    position: Int | None = None
    price: Number | None = None
    quantity: Number | None = None
    total_product_amount: Number | None = None
    coupon_code: str | None = None
    added_to_cart_time_ms: Timestamp | None = None
    custom_attributes: dict[str, Scalar] | None = None


class ProductAction(Record):
    action: ProductActionType | None = None
    checkout_step: Int | None = None
    checkout_options: str | None = None
    product_action_list: str | None = None
    product_list_source: str | None = None
    transaction_id: StrOrInt | None = None
    affiliation: str | None = None
    total_amount: Number | None = None
    tax_amount: Number | None = None
    shipping_amount: Number | None = None
    coupon_code: str | None = None
    products: list[Product] | None = None


class Promotion(Record):
    id: StrOrInt | None = None
    name: str | None = None
    creative: str | None = None
    position: StrOrInt | None = None


class PromotionAction(Record):
    action: PromotionActionType | None = None
    promotions: list[Promotion] | None = None


class ProductImpression(Record):
    product_impression_list: str | None = None
    products: list[Product] | None = None


class ShoppingCart(Record):
    products: list[Product] | None = None


class CommerceEventData(EventData):
    """Exactly one of product_action, promotion_action or product_impressions is expected, not enforced.

    The Python SDK sends crash reports as commerce events; their crash fields land in `extra`.
    """

    product_action: ProductAction | None = None
    promotion_action: PromotionAction | None = None
    product_impressions: list[ProductImpression] | None = None
    shopping_cart: ShoppingCart | None = None
    currency_code: str | None = None
    screen_name: str | None = None
    is_non_interactive: bool | None = None
    event_name: str | None = None
    custom_event_type: CommerceEventType | None = None
