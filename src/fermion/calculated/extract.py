"""What a CA reads from a batch: which events match its data point, and their attribute values.

Works on the batch model (`fermion.model.batch.Batch`), so live batches and stored ones (decoded from
the event store for a backfill) go through the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from fermion.calculated.conditions import MISSING, Lookup, Predicate
from fermion.calculated.definition import DataPoint
from fermion.model.batch import Batch
from fermion.model.codec import decode_batch, event_name_of
from fermion.model.events import CommerceEvent, CustomEvent, Event

# One matched event's time and the values it contributes, each with a weight (product quantity).
Observation = tuple[int, list[tuple[Any, float]]]

_FIELD_ALIASES = {"sku": "id", "product_id": "id", "product_name": "name", "promotion_id": "id"}
_PRODUCT_FIELDS = frozenset(
    {
        "id",
        "name",
        "brand",
        "category",
        "variant",
        "position",
        "price",
        "quantity",
        "total_product_amount",
        "coupon_code",
    }
)
_PROMOTION_FIELDS = frozenset({"id", "name", "creative", "position"})
_ACTION_FIELDS = frozenset(
    {"transaction_id", "affiliation", "total_amount", "tax_amount", "shipping_amount", "coupon_code"}
)


def _field(name: str) -> str:
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    return _FIELD_ALIASES.get(key, key)


def _item_lookup(item: Any, fields: frozenset[str], fallback: Lookup) -> Lookup:
    """Attributes of a product or promotion: its custom attributes, its own fields, then the event's."""
    custom = getattr(item, "custom_attributes", None) or {}

    def get(name: str) -> Any:
        if name in custom:
            return custom[name]
        key = _field(name)
        if key in fields:
            value = getattr(item, key, None)
            if value is not None:
                return value
        return fallback(name)

    return get


def _items(event: Event, category: str) -> list[Any]:
    if not isinstance(event, CommerceEvent):
        return []
    data = event.data
    if category == "promotion_attribute":
        return list(data.promotion_action.promotions or ()) if data.promotion_action else []
    products = list(data.product_action.products or ()) if data.product_action else []
    for impression in data.product_impressions or ():
        products.extend(impression.products or ())
    return products


class EventView:
    """What every CA asks of one event, worked out once per batch (CAs share it on the hot path)."""

    __slots__ = ("_action", "_custom_attributes", "custom", "event", "event_type", "names", "ts")
    names: tuple[str, ...]
    custom: str | None
    ts: int
    _action: Any
    _custom_attributes: dict[str, Any]

    def __init__(self, event: Event, received_ms: int) -> None:
        self.event = event
        self.event_type: str = event.event_type
        data = event.data
        custom = event.data if type(event) is CustomEvent else None
        name = custom.event_name if custom is not None else None
        if custom is not None and name:  # a named custom event, the usual one: no general lookups
            self.names = (name.lower(),)
            self._action = None
            self.custom = None if custom.custom_event_type is None else str(custom.custom_event_type).lower()
            self.ts = custom.timestamp_unixtime_ms or received_ms
            self._custom_attributes = custom.custom_attributes or {}
            return
        own = getattr(data, "event_name", None)
        shown = event_name_of(event).lower()
        self.names = (shown,) if own is None or own.lower() == shown else (shown, own.lower())
        kind = getattr(data, "custom_event_type", None)
        self._action = event.data.product_action if isinstance(event, CommerceEvent) else None
        if self._action is not None:
            kind = kind or self._action.action
        self.custom = None if kind is None else str(kind).lower()
        self.ts = data.timestamp_unixtime_ms or received_ms
        self._custom_attributes = getattr(data, "custom_attributes", None) or {}

    def get(self, name: str) -> Any:
        """The event attribute `name`: a custom attribute, else a product action field (commerce)."""
        custom = self._custom_attributes
        if name in custom:
            return custom[name]
        if self._action is not None:
            key = _field(name)
            if key in _ACTION_FIELDS:
                value = getattr(self._action, key, None)
                if value is not None:
                    return value
        return MISSING


MatchKey = tuple[str | None, str | None, str | None]


class BatchView:
    __slots__ = ("_matched", "batch", "events", "received_ms")

    def __init__(self, batch: Batch, received_ms: int) -> None:
        self.batch = batch
        self.received_ms = received_ms
        self.events = [EventView(e, received_ms) for e in batch.events]
        self._matched: dict[MatchKey, list[EventView]] = {}

    def matching(self, key: MatchKey, matches: Callable[[EventView], bool]) -> list[EventView]:
        """The events a data point matches (CAs with the same event type, name and custom type share it)."""
        found = self._matched.get(key)
        if found is None:
            found = self._matched[key] = [ev for ev in self.events if matches(ev)]
        return found


Observer = Callable[[BatchView], list[Observation]]


def _matcher(dp: DataPoint) -> Callable[[EventView], bool]:
    event_type = dp.event_type
    name = dp.event_name.lower() if dp.event_name else None
    custom = dp.custom_event_type.lower() if dp.custom_event_type else None

    def matches(ev: EventView) -> bool:
        return (
            (event_type is None or ev.event_type == event_type)
            and (custom is None or ev.custom == custom)
            and (name is None or name in ev.names)
        )

    return matches


def make_observer(dp: DataPoint, where: Predicate | None) -> Observer:
    """A function from (batch, receive time) to the observations of every matching event."""
    matches = _matcher(dp)
    attribute = dp.attribute_name
    category = dp.attribute_category
    by_item = category in ("product_attribute", "promotion_attribute")
    fields = _PROMOTION_FIELDS if category == "promotion_attribute" else _PRODUCT_FIELDS
    weighted = dp.use_product_quantity and category == "product_attribute"

    if dp.type == "user_attribute":
        assert attribute is not None

        def observe_user(view: BatchView) -> list[Observation]:
            attrs = view.batch.user_attributes or {}
            if attribute not in attrs or attrs[attribute] is None:
                return []
            values = attrs[attribute]
            ts = max((e.ts for e in view.events), default=view.received_ms)
            if where is not None and not where(lambda n: attrs.get(n, MISSING)):
                return []
            items = values if isinstance(values, list) else [values]
            return [(ts, [(v, 1.0) for v in items])]

        return observe_user

    key: MatchKey = (dp.event_type, dp.event_name.lower() if dp.event_name else None, dp.custom_event_type)

    if not by_item and where is None:
        # The usual data points (an event, or one of its attributes, without conditions): run per
        # batch and CA on the hot path, so without the general case's branches.
        if attribute is None:

            def observe_events(view: BatchView) -> list[Observation]:
                return [(ev.ts, [("", 1.0)]) for ev in view.matching(key, matches)]

            return observe_events
        wanted = attribute

        def observe_attribute(view: BatchView) -> list[Observation]:
            found: list[Observation] = []
            for ev in view.matching(key, matches):
                value = ev.get(wanted)
                if value is not MISSING and value is not None:
                    found.append((ev.ts, [(value, 1.0)]))
            return found

        return observe_attribute

    def observe(view: BatchView) -> list[Observation]:
        found: list[Observation] = []
        for ev in view.matching(key, matches):
            ts, get = ev.ts, ev.get
            if not by_item:
                if where is not None and not where(get):
                    continue
                if attribute is None:
                    found.append((ts, [("", 1.0)]))
                    continue
                value = get(attribute)
                if value is not MISSING and value is not None:
                    found.append((ts, [(value, 1.0)]))
                continue
            values: list[tuple[Any, float]] = []
            for item in _items(ev.event, category):
                item_get = _item_lookup(item, fields, get)
                if where is not None and not where(item_get):
                    continue
                if attribute is None:
                    values.append(("", 1.0))
                    continue
                value = item_get(attribute)
                if value is MISSING or value is None:
                    continue
                weight = 1.0
                if weighted:
                    quantity = getattr(item, "quantity", None)
                    weight = float(quantity) if isinstance(quantity, int | float) and quantity > 0 else 1.0
                values.append((value, weight))
            if values:
                found.append((ts, values))
        return found

    return observe


_fast_decoder = msgspec.json.Decoder(Batch, strict=False)


def decode_stored(payload: bytes) -> Batch:
    """A stored (already validated, outgoing-format) batch, decoded fast: numeric strings coerced, unknown
    keys dropped (CAs read none). Falls back to the full codec for anything the fast path refuses."""
    try:
        return _fast_decoder.decode(payload)
    except msgspec.MsgspecError:
        return decode_batch(payload)
