"""Event facts of a batch and per-user event-criterion state (bucketed counts that expire with time).

Each event criterion keeps, per user, counts per time bucket (an hour or a day, as its window says);
a bucket counts while any part of it lies inside the window, so counts expire bucket by bucket and
the next expiry is the time to re-evaluate the user.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from fermion.model.batch import Batch
from fermion.model.codec import event_name_of
from fermion.model.events import (
    ApplicationStateTransitionEvent,
    CommerceEvent,
    CustomEvent,
    Event,
)

HOUR_MS = 3_600_000
DAY_MS = 86_400_000

# The event-type families audience criteria choose from (spec 5.1), by the Events API event_type.
FAMILIES = (
    "custom_event",
    "commerce_event",
    "screen_view",
    "session_start",
    "session_end",
    "crash_report",
    "install",
    "uninstall",
    "upgrade",
    "attribution",
)

# criterion key -> bucket index -> count
EventState = dict[str, dict[int, int]]


class EventFact(msgspec.Struct, frozen=True):
    """What event criteria look at in one event (a Struct: made per event, built at C speed)."""

    families: tuple[str, ...]
    name: str  # lower case
    custom_event_type: str | None
    product_action: str | None
    attributes: dict[str, Any]
    ts_ms: int


def families_of(event: Event) -> tuple[str, ...]:
    """The criterion families the event belongs to (none for most non-custom types)."""
    if isinstance(event, CustomEvent):
        data = event.data
        if data.custom_event_type == "attribution" or (data.event_name or "") == "attribution":
            return _CUSTOM_AND_ATTRIBUTION
        return _CUSTOM
    if isinstance(event, ApplicationStateTransitionEvent):
        found = []
        if event.data.is_first_run and event.data.application_transition_type == "application_initialized":
            found.append("install")
        if event.data.is_upgrade:
            found.append("upgrade")
        return tuple(found)
    if event.event_type in FAMILIES:
        return (event.event_type,)
    return ()


_CUSTOM = ("custom_event",)
_CUSTOM_AND_ATTRIBUTION = ("custom_event", "attribution")


def fact_of(event: Event, families: tuple[str, ...], received_ms: int) -> EventFact:
    """The event as criteria match it (`families`: families_of(event), not empty)."""
    data = event.data
    action: str | None = None
    if isinstance(event, CommerceEvent):
        commerce = event.data
        if commerce.product_action is not None:
            action = commerce.product_action.action
        elif commerce.promotion_action is not None:
            action = commerce.promotion_action.action
    return EventFact(
        families=families,
        name=event_name_of(event).lower(),
        custom_event_type=getattr(data, "custom_event_type", None),
        product_action=action,
        attributes=data.custom_attributes or {},
        ts_ms=data.timestamp_unixtime_ms or received_ms,
    )


def facts_of(batch: Batch, received_ms: int) -> list[EventFact]:
    """The events of the batch that some criterion family can match."""
    facts = []
    for event in batch.events:
        families = families_of(event)
        if families:
            facts.append(fact_of(event, families, received_ms))
    return facts


def device_facts(batch: Batch) -> dict[str, str]:
    """The device, OS and carrier fields device criteria read (the newest batch's values win)."""
    found: dict[str, str] = {}
    info = batch.device_info
    if info is not None:
        for key, value in (
            ("platform", info.platform),
            ("os_version", info.os_version),
            ("device_model", info.device_model),
            ("device_manufacturer", info.device_manufacturer),
            ("brand", info.brand),
            ("carrier", info.network_carrier),
            ("device_country", info.device_country),
            ("locale_country", info.locale_country),
            ("locale_language", info.locale_language),
        ):
            if value is not None and value != "":
                found[key] = str(value)
    app = batch.application_info
    if app is not None:
        if app.os is not None:
            found["os"] = str(app.os)
        if app.application_version:
            found["app_version"] = app.application_version
    return found


@dataclass(frozen=True, slots=True)
class Window:
    """`last` units back from now, or between `min_ago` and `max_ago` units ago (units of `unit_ms`)."""

    unit_ms: int
    last: int = 0
    min_ago: int = 0
    max_ago: int = 0

    @property
    def span_ms(self) -> int:
        """How far back a bucket can still count."""
        return (self.last or self.max_ago) * self.unit_ms + self.unit_ms

    def includes(self, bucket: int, now: int) -> bool:
        start, end = bucket * self.unit_ms, (bucket + 1) * self.unit_ms
        if self.last:
            return end > now - self.last * self.unit_ms and start <= now
        return start <= now - self.min_ago * self.unit_ms and end > now - self.max_ago * self.unit_ms

    def changes(self, bucket: int, now: int) -> Iterable[int]:
        """The times after which the bucket enters or leaves the window."""
        start, end = bucket * self.unit_ms, (bucket + 1) * self.unit_ms
        if self.last:
            return (end + self.last * self.unit_ms,)
        return (start + self.min_ago * self.unit_ms, end + self.max_ago * self.unit_ms)


def record(state: EventState, key: str, ts_ms: int, unit_ms: int) -> None:
    buckets = state.setdefault(key, {})
    bucket = ts_ms // unit_ms
    buckets[bucket] = buckets.get(bucket, 0) + 1


def count_and_next(state: EventState, key: str, window: Window, now: int) -> tuple[int, int | None]:
    """The count in the window now, and the next time it may change (one pass over the buckets)."""
    buckets = state.get(key)
    if not buckets:
        return 0, None
    total, best = 0, None
    unit, last = window.unit_ms, window.last
    if last:  # the common case, inlined: a bucket counts until its end leaves the window
        span = (last + 1) * unit
        for bucket, n in buckets.items():
            start = bucket * unit
            leaves = start + span
            if leaves > now:
                if start <= now:
                    total += n
                if best is None or leaves < best:
                    best = leaves
        return total, best
    for bucket, n in buckets.items():
        if window.includes(bucket, now):
            total += n
        for t in window.changes(bucket, now):
            if t > now and (best is None or t < best):
                best = t
    return total, best


def prune(state: EventState, spans: dict[str, Window], now: int) -> None:
    """Drop buckets no window can count any more. Keys of unknown criteria are kept: the caller's
    list of audiences may be a moment older than the audience that built them."""
    prune_many([(state, None)], spans, now)


def prune_many(
    states: Iterable[tuple[EventState, Collection[str] | None]], spans: dict[str, Window], now: int
) -> None:
    """`prune` for many users' states, each only at the given keys (None: all), with each window's
    oldest bucket worked out once."""
    oldest_of = oldest_buckets(spans, now)
    for state, keys in states:
        prune_keys(state, keys, oldest_of)


def oldest_buckets(spans: dict[str, Window], now: int) -> dict[str, int]:
    """Criterion key -> the oldest bucket its window can still count at `now`."""
    return {key: (now - w.span_ms) // w.unit_ms for key, w in spans.items()}


def prune_keys(state: EventState, keys: Collection[str] | None, oldest_of: dict[str, int]) -> None:
    """Drop the buckets older than `oldest_buckets` says at the given keys of one state (None: all)."""
    for key in list(state) if keys is None else keys:
        buckets = state.get(key)
        if buckets is None:
            continue
        oldest = oldest_of.get(key)
        if oldest is None or (buckets and min(buckets) >= oldest):
            continue  # unknown, or nothing to drop (the usual case, checked at C speed)
        for bucket in [b for b in buckets if b < oldest]:
            del buckets[bucket]
        if not buckets:
            del state[key]
