"""Storage ports of the data points catalog and of the per-connection data filters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import msgspec

from fermion.dataplans.catalog import ConnectionFilter, DataPoint, Observation


class DataPointRow(msgspec.Struct, frozen=True, kw_only=True):
    point: DataPoint
    count: int
    first_seen_ms: int
    last_seen_ms: int


class CatalogStore(Protocol):
    """The data points seen per workspace, with counts and first/last seen times."""

    def record(self, observations: Mapping[int, Mapping[DataPoint, Observation]]) -> None:
        """Add counts (workspace id -> point -> observation) in one transaction: counts add up,
        first seen keeps the minimum, last seen the maximum."""

    def data_points(
        self, workspace_id: int, kind: str | None = None, limit: int = 10_000
    ) -> list[DataPointRow]:
        """Ordered by kind, event type, name, attribute name."""


class FilterStore(Protocol):
    """Data filters per connection: send-new-by-default plus explicit on/off per data point."""

    def get_filters(self, connection_ids: Sequence[int]) -> dict[int, ConnectionFilter]:
        """The filter of each connection id (a connection without one gets the default: all on)."""

    def set_filter(
        self,
        connection_id: int,
        workspace_id: int,
        send_new_by_default: bool | None,
        entries: Mapping[DataPoint, bool],
    ) -> ConnectionFilter:
        """Upsert the given entries (and send_new_by_default unless None); return the whole filter."""

    def delete_filter(self, connection_id: int) -> None: ...
