"""The data filter connection stage (pure): removes the events, attributes and identities a connection's
data filter turns off, cascading from parent data points to their children (fermion.dataplans.catalog).
"""

from __future__ import annotations

from msgspec import structs

from fermion.dataplans.catalog import (
    FILTER_EXTRA,
    ConnectionFilter,
    DataPoint,
    Kind,
    attribute_point,
    event_points,
    identity_point,
    user_attribute_point,
)
from fermion.model.batch import Batch, UserIdentities
from fermion.model.events import CustomEvent, Event, UserAttributeChangeEvent, UserIdentityChangeEvent
from fermion.pipeline.connection_stage import ConnectionContext
from fermion.pipeline.stage import Drop

__all__ = ["DROP_REASON", "apply_filter", "data_filter"]

DROP_REASON = "data_filter"


def data_filter(batch: Batch, ctx: ConnectionContext) -> Batch | Drop:
    """Connection stage: the connection's data filter (loaded into ctx.extras by DataFilterLoader).

    A batch whose every event was filtered out is dropped: the data points it existed for are off.
    """
    flt = ctx.extras.get(FILTER_EXTRA)
    if not isinstance(flt, ConnectionFilter):
        return batch
    filtered = apply_filter(batch, flt)
    if batch.events and not filtered.events:
        return Drop(DROP_REASON)
    return filtered


def apply_filter(batch: Batch, flt: ConnectionFilter) -> Batch:
    """The batch minus everything `flt` disables (the same object when nothing is disabled)."""
    if flt.is_noop:
        return batch
    events = [kept for event in batch.events if (kept := _filter_event(event, flt)) is not None]
    changes: dict[str, object] = {}
    if len(events) != len(batch.events) or any(a is not b for a, b in zip(events, batch.events, strict=True)):
        changes["events"] = events
    if batch.user_attributes:
        kept_attrs = {k: v for k, v in batch.user_attributes.items() if flt.allows(user_attribute_point(k))}
        if len(kept_attrs) != len(batch.user_attributes):
            changes["user_attributes"] = kept_attrs
    if batch.deleted_user_attributes:
        kept_deleted = [n for n in batch.deleted_user_attributes if flt.allows(user_attribute_point(n))]
        if len(kept_deleted) != len(batch.deleted_user_attributes):
            changes["deleted_user_attributes"] = kept_deleted
    if batch.user_identities is not None:
        ids = _filter_identities(batch.user_identities, flt)
        if ids is not batch.user_identities:
            changes["user_identities"] = ids
    return structs.replace(batch, **changes) if changes else batch


def _filter_event(event: Event, flt: ConnectionFilter) -> Event | None:
    if not flt.allows(DataPoint(Kind.MESSAGE_TYPE.value, event.event_type)):
        return None
    if isinstance(event, CustomEvent) and not flt.allows(
        DataPoint(Kind.EVENT_TYPE.value, event.data.custom_event_type or "unknown")
    ):
        return None
    if isinstance(event, UserAttributeChangeEvent):
        name = event.data.user_attribute_name
        return event if not name or flt.allows(user_attribute_point(name)) else None
    if isinstance(event, UserIdentityChangeEvent):
        new = event.data.new
        kind = new.identity_type if new is not None else None
        return event if not kind or flt.allows(identity_point(kind)) else None
    point, attribute_kind = event_points(event)
    if point is None or attribute_kind is None:
        return event
    if not flt.allows(point):
        return None
    attributes = event.data.custom_attributes
    if not attributes:
        return event
    kept = {k: v for k, v in attributes.items() if flt.allows(attribute_point(point, attribute_kind, k))}
    if len(kept) == len(attributes):
        return event
    return structs.replace(event, data=structs.replace(event.data, custom_attributes=kept))


def _filter_identities(ids: UserIdentities, flt: ConnectionFilter) -> UserIdentities:
    cleared: dict[str, None] = {}
    for name in ids.__struct_fields__:
        if name != "extra" and getattr(ids, name) is not None and not flt.allows(identity_point(name)):
            cleared[name] = None
    extra = {k: v for k, v in ids.extra.items() if not isinstance(v, str) or flt.allows(identity_point(k))}
    if not cleared and len(extra) == len(ids.extra):
        return ids
    return structs.replace(ids, extra=extra, **cleared)
