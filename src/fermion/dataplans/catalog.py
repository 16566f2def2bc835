"""The data points catalog: which events, attributes and identities a batch carries (pure).

Kinds follow the mParticle Platform API ("Data Points"): Event, EventAttribute, ScreenView,
ScreenViewAttribute, Commerce, CommerceAttribute, UserAttribute, UserIdentity and EventType, plus
MessageType (every event by its `event_type`) and All_User_Attributes; `parent_of` gives the hierarchy
that data filters cascade along.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

import msgspec

from fermion.model.batch import Batch, UserIdentities
from fermion.model.events import (
    CommerceEvent,
    CommerceEventData,
    CustomEvent,
    Event,
    ScreenViewEvent,
    UserAttributeChangeEvent,
    UserIdentityChangeEvent,
)
from fermion.model.events_common import EXTRA_KEY
from fermion.model.identity_names import batch_user_type

__all__ = [
    "FILTER_EXTRA",
    "MAX_NAME",
    "SHAPES_MAX",
    "ConnectionFilter",
    "DataPoint",
    "Kind",
    "Observation",
    "PointsObserver",
    "ancestors",
    "attribute_point",
    "commerce_type",
    "event_points",
    "identity_point",
    "identity_types",
    "kind_from_text",
    "merge",
    "observe",
    "parent_of",
    "user_attribute_point",
]

# Where the delivery platform hands a connection's ConnectionFilter to the data filter stage
# (ConnectionContext.extras key, the loader's name).
FILTER_EXTRA = "data_filter"

# Names and attribute names longer than this are cut (both when counted and when filtered), so one
# runaway value cannot bloat the catalog index.
MAX_NAME = 255


class Kind(StrEnum):
    MESSAGE_TYPE = "MessageType"  # every event, by event_type (custom_event, session_start, ...)
    EVENT_TYPE = "EventType"  # custom events, by custom_event_type (navigation, ...)
    EVENT = "Event"
    EVENT_ATTRIBUTE = "EventAttribute"
    SCREEN_VIEW = "ScreenView"
    SCREEN_VIEW_ATTRIBUTE = "ScreenViewAttribute"
    COMMERCE = "Commerce"  # by commerce type: product_purchase, promotion_view, product_impression, ...
    COMMERCE_ATTRIBUTE = "CommerceAttribute"
    USER_ATTRIBUTE = "UserAttribute"
    USER_IDENTITY = "UserIdentity"
    ALL_USER_ATTRIBUTES = "All_User_Attributes"  # filter-only toggle, the parent of every UserAttribute


# Spellings accepted on input (the Platform API's lowercase forms and its catalog name "Identity").
_ALIASES = {k.value.lower(): k for k in Kind} | {"identity": Kind.USER_IDENTITY}


def kind_from_text(text: str) -> Kind | None:
    return _ALIASES.get(text.strip().lower())


class DataPoint(NamedTuple):
    """One catalog entry. For attribute kinds `name` is the parent's name (as in the Platform API)."""

    kind: str
    name: str
    event_type: str = ""
    attribute_name: str = ""


@dataclass
class Observation:
    """How often a data point was seen in a group of batches, and when (ms)."""

    count: int
    first_ms: int
    last_ms: int


def _clip(value: str) -> str:
    return value[:MAX_NAME]


# ------------------------------------------------------------------------------------- hierarchy


def parent_of(point: DataPoint) -> DataPoint | None:
    """The point whose disabling also disables this one (data filters cascade from parent to child)."""
    kind = point.kind
    if kind in (Kind.EVENT_ATTRIBUTE, Kind.SCREEN_VIEW_ATTRIBUTE, Kind.COMMERCE_ATTRIBUTE):
        parent_kind = {
            Kind.EVENT_ATTRIBUTE: Kind.EVENT,
            Kind.SCREEN_VIEW_ATTRIBUTE: Kind.SCREEN_VIEW,
            Kind.COMMERCE_ATTRIBUTE: Kind.COMMERCE,
        }[Kind(kind)]
        return DataPoint(parent_kind.value, point.name, point.event_type)
    if kind == Kind.EVENT:
        return DataPoint(Kind.EVENT_TYPE.value, point.event_type)
    if kind == Kind.EVENT_TYPE:
        return DataPoint(Kind.MESSAGE_TYPE.value, "custom_event")
    if kind == Kind.SCREEN_VIEW:
        return DataPoint(Kind.MESSAGE_TYPE.value, "screen_view")
    if kind == Kind.COMMERCE:
        return DataPoint(Kind.MESSAGE_TYPE.value, "commerce_event")
    if kind == Kind.USER_ATTRIBUTE:
        return DataPoint(Kind.ALL_USER_ATTRIBUTES.value, "")
    return None


def ancestors(point: DataPoint) -> Iterator[DataPoint]:
    """The point itself, then its parent, grandparent, ..."""
    current: DataPoint | None = point
    while current is not None:
        yield current
        current = parent_of(current)


# ---------------------------------------------------------------------------------- point makers


def commerce_type(data: CommerceEventData) -> str | None:
    """product_<action>, promotion_<action> or product_impression (the Platform API's Commerce types)."""
    if data.product_action is not None and data.product_action.action:
        action = data.product_action.action
        return "product_remove_from_wishlist" if action == "remove_from_wish_list" else f"product_{action}"
    if data.promotion_action is not None and data.promotion_action.action:
        return f"promotion_{data.promotion_action.action}"
    if data.product_impressions:
        return "product_impression"
    return None


def event_points(event: Event) -> tuple[DataPoint | None, Kind | None]:
    """The event's own data point (None for events that have only a MessageType) and the kind its
    custom attributes are catalogued as (None when they are not)."""
    if isinstance(event, CustomEvent):
        name = event.data.event_name
        if not name:
            return None, None
        kind_of = event.data.custom_event_type or "unknown"
        return DataPoint(Kind.EVENT.value, _clip(name), kind_of), Kind.EVENT_ATTRIBUTE
    if isinstance(event, ScreenViewEvent):
        name = event.data.screen_name
        if not name:
            return None, None
        return DataPoint(Kind.SCREEN_VIEW.value, _clip(name)), Kind.SCREEN_VIEW_ATTRIBUTE
    if isinstance(event, CommerceEvent):
        ctype = commerce_type(event.data)
        if ctype is None:
            return None, None
        return DataPoint(Kind.COMMERCE.value, ctype, ctype), Kind.COMMERCE_ATTRIBUTE
    return None, None


def attribute_point(parent: DataPoint, kind: Kind, attribute: str) -> DataPoint:
    return DataPoint(kind.value, parent.name, parent.event_type, _clip(attribute))


def user_attribute_point(name: str) -> DataPoint:
    return DataPoint(Kind.USER_ATTRIBUTE.value, _clip(name))


def identity_point(identity_type: str) -> DataPoint:
    return DataPoint(Kind.USER_IDENTITY.value, batch_user_type(identity_type))


def identity_types(ids: UserIdentities) -> list[str]:
    """The identity types a `user_identities` object sets (declared fields and unknown string keys)."""
    # to_builtins leaves out unset (None) fields: UserIdentities omits defaults.
    found = [name for name in msgspec.to_builtins(ids) if name != EXTRA_KEY]
    found.extend(k for k, v in ids.extra.items() if isinstance(v, str))
    return found


# ---------------------------------------------------------------------------------------- observe

SHAPES_MAX = 20_000  # event shapes a PointsObserver remembers (names are client data: bounded)
_MESSAGE_TYPE, _EVENT_TYPE = Kind.MESSAGE_TYPE.value, Kind.EVENT_TYPE.value


def _event_points_all(event: Event) -> tuple[DataPoint, ...]:
    """Every point one event counts: its message type, custom event type, own point and attributes."""
    points = [DataPoint(_MESSAGE_TYPE, event.event_type)]
    if isinstance(event, CustomEvent):
        points.append(DataPoint(_EVENT_TYPE, event.data.custom_event_type or "unknown"))
    point, attribute_kind = event_points(event)
    if point is not None and attribute_kind is not None:
        points.append(point)
        points.extend(attribute_point(point, attribute_kind, a) for a in event.data.custom_attributes or ())
    return tuple(points)


def _shape_of(event: Event) -> tuple[object, ...] | None:
    """The memo key of a custom event or screen view (None for other events: they are not memoized)."""
    if type(event) is CustomEvent:
        custom = event.data
        return (CustomEvent, custom.event_name, custom.custom_event_type, *(custom.custom_attributes or ()))
    if type(event) is ScreenViewEvent:
        screen = event.data
        return (ScreenViewEvent, screen.screen_name, *(screen.custom_attributes or ()))
    return None


class PointsObserver:
    """Counts the data points of batches, remembering the points of custom events and screen views by
    their shape (type, name, custom event type, attribute names): the same few shapes repeat across
    batches. The memo lives as long as its observer (the catalog phase keeps one for the worker's
    life); it holds at most `max_shapes` shapes and starts over when full. Not shared between threads.
    """

    __slots__ = ("_max_shapes", "_shapes")

    def __init__(self, max_shapes: int = SHAPES_MAX) -> None:
        self._max_shapes = max_shapes
        self._shapes: dict[tuple[object, ...], tuple[DataPoint, ...]] = {}

    def observe(self, batch: Batch) -> dict[DataPoint, int]:
        """Every data point the batch carries, with how many times (events and their attributes count
        per event; user attributes and identities once per batch)."""
        counts: dict[DataPoint, int] = {}
        self.observe_into(batch, counts)
        return counts

    def observe_into(self, batch: Batch, counts: dict[DataPoint, int]) -> None:
        """observe(), adding to `counts` (a group's batches summed without a dict per batch)."""
        _observe_into(batch, counts, self._shapes, self._max_shapes)

    @property
    def remembered(self) -> int:
        """How many event shapes the memo holds."""
        return len(self._shapes)


def observe(batch: Batch) -> dict[DataPoint, int]:
    """PointsObserver.observe with a memo of its own (one batch: nothing to remember between calls)."""
    return PointsObserver().observe(batch)


def _observe_into(
    batch: Batch,
    counts: dict[DataPoint, int],
    shapes: dict[tuple[object, ...], tuple[DataPoint, ...]],
    max_shapes: int,
) -> None:
    get = counts.get
    user_attributes: set[str] = set(batch.user_attributes or ())
    identities: set[str] = set()
    for event in batch.events:
        shape = _shape_of(event)
        points = shapes.get(shape) if shape is not None else None
        if points is None:
            points = _event_points_all(event)
            if shape is not None:
                if len(shapes) >= max_shapes:
                    shapes.clear()
                shapes[shape] = points
            if isinstance(event, UserAttributeChangeEvent) and event.data.user_attribute_name:
                user_attributes.add(event.data.user_attribute_name)
            elif (
                isinstance(event, UserIdentityChangeEvent) and event.data.new and event.data.new.identity_type
            ):
                identities.add(event.data.new.identity_type)
        for point in points:
            counts[point] = get(point, 0) + 1
    for name in user_attributes:
        point = user_attribute_point(name)
        counts[point] = get(point, 0) + 1
    if batch.user_identities is not None:
        identities.update(identity_types(batch.user_identities))
    for identity_type in identities:
        point = identity_point(identity_type)
        counts[point] = get(point, 0) + 1


def merge(into: dict[DataPoint, Observation], counts: dict[DataPoint, int], seen_ms: int) -> None:
    """Add one batch's counts (seen at `seen_ms`) to a group's observations, in place."""
    for point, count in counts.items():
        seen = into.get(point)
        if seen is None:
            into[point] = Observation(count, seen_ms, seen_ms)
        else:
            seen.count += count
            seen.first_ms = min(seen.first_ms, seen_ms)
            seen.last_ms = max(seen.last_ms, seen_ms)


# ---------------------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class ConnectionFilter:
    """One connection's data filter: explicit on/off per data point, and what unlisted points get.

    Turning `send_new_by_default` off must not change existing points ("Any existing DataPoints will not be
    affected"): the service then lists every catalogued point explicitly as enabled, so only points first
    seen afterwards fall to the default.
    """

    send_new_by_default: bool = True
    entries: dict[DataPoint, bool] | None = None

    @property
    def is_noop(self) -> bool:
        return self.send_new_by_default and not any(v is False for v in (self.entries or {}).values())

    def allows(self, point: DataPoint) -> bool:
        """Enabled, and so is every ancestor (disabling a parent disables its children)."""
        entries = self.entries or {}
        default = self.send_new_by_default
        return all(entries.get(p, default) for p in ancestors(point))
