"""eCommerce models: products, product and promotion actions, impressions and `CommerceEvent`."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fermion.sdk import enums
from fermion.sdk._wire import Attributes, WireModel, coerce
from fermion.sdk.events import Event

Amount = float | int | Decimal


@dataclass
class Product(WireModel):
    id: str | None = None
    name: str | None = None
    brand: str | None = None
    category: str | None = None
    variant: str | None = None
    position: int | None = None
    price: Amount | None = None
    quantity: Amount | None = None
    coupon_code: str | None = None
    added_to_cart_time_ms: int | None = None
    total_product_amount: Amount | None = None
    custom_attributes: Attributes | None = None


@dataclass
class ProductAction(WireModel):
    """What happened to a list of products: `ProductAction(ProductAction.Action.purchase, products=[...])`."""

    Action = enums.ProductActionType

    action: enums.ProductActionType | str
    products: list[Product] | None = None
    checkout_step: int | None = None
    checkout_options: str | None = None
    product_action_list: str | None = None
    product_list_source: str | None = None
    transaction_id: str | None = None
    affiliation: str | None = None
    total_amount: Amount | None = None
    tax_amount: Amount | None = None
    shipping_amount: Amount | None = None
    coupon_code: str | None = None

    def _coerce(self) -> None:
        self.action = coerce(enums.ProductActionType, self.action)


@dataclass
class Promotion(WireModel):
    id: str | None = None
    name: str | None = None
    creative: str | None = None
    position: str | None = None


@dataclass
class PromotionAction(WireModel):
    Action = enums.PromotionActionType

    action: enums.PromotionActionType | str
    promotions: list[Promotion] | None = None

    def _coerce(self) -> None:
        self.action = coerce(enums.PromotionActionType, self.action)


@dataclass
class ProductImpression(WireModel):
    product_impression_list: str | None = None
    products: list[Product] | None = None


@dataclass
class ShoppingCart(WireModel):
    products: list[Product] = field(default_factory=list)


@dataclass
class CommerceEvent(Event):
    """A `commerce_event`; it needs a product action, a promotion action or product impressions."""

    event_type = enums.EventType.commerce_event

    product_action: ProductAction | None = None
    promotion_action: PromotionAction | None = None
    product_impressions: list[ProductImpression] | None = None
    shopping_cart: ShoppingCart | None = None
    currency_code: str | None = None
    screen_name: str | None = None
    is_non_interactive: bool | None = None

    def data_dict(self) -> dict[str, Any]:
        if self.product_action is None and self.promotion_action is None and not self.product_impressions:
            raise ValueError(
                "CommerceEvent needs a product_action, a promotion_action or product_impressions"
            )
        return super().data_dict()
