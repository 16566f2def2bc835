"""The data points catalog and data filters: the processing phase that counts, and the admin operations.

CountDataPoints runs after StoreEvents and counts only the batches StoreEvents stored for the first time
(`notes["new"]`), so reprocessing after a crash never counts a batch twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fermion.dataplans.catalog import (
    FILTER_EXTRA,
    ConnectionFilter,
    DataPoint,
    Kind,
    Observation,
    PointsObserver,
    ancestors,
    kind_from_text,
    merge,
)
from fermion.model.delivery import Connection
from fermion.ports import CatalogStore, DataPointRow, FilterStore
from fermion.services.processing import ProcessingReport, WorkItem

_ATTRIBUTE_KINDS = (Kind.EVENT_ATTRIBUTE, Kind.SCREEN_VIEW_ATTRIBUTE, Kind.COMMERCE_ATTRIBUTE)
_NAMELESS_KINDS = (Kind.ALL_USER_ATTRIBUTES,)


class CountDataPoints:
    """Processing phase: adds each new batch's data points to the catalog, in one bulk write."""

    name = "catalog"

    def __init__(self, catalog: CatalogStore) -> None:
        self._catalog = catalog
        self._observer = PointsObserver()  # its memo of event shapes lives as long as the phase

    def run(self, items: list[WorkItem], now_ms: int, report: ProcessingReport) -> list[WorkItem]:
        # Counts summed per (workspace, receive time) first: a bulk request's batches share one.
        counts: dict[tuple[int, int], dict[DataPoint, int]] = {}
        for item in items:
            if item.notes.get("new") is not True:
                continue  # a duplicate, or a replay of a batch already counted
            record = item.record
            key = (record.workspace_id, record.received_ms)
            found = counts.get(key)
            if found is None:
                found = counts[key] = {}
            self._observer.observe_into(item.batch, found)
        by_workspace: dict[int, dict[DataPoint, Observation]] = {}
        for (workspace_id, received_ms), seen in counts.items():
            merge(by_workspace.setdefault(workspace_id, {}), seen, received_ms)
        if by_workspace:
            self._catalog.record(by_workspace)
        return items


class InvalidFilter(ValueError):
    """Invalid filter input: `errors` lists (field, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))


@dataclass(frozen=True)
class FilterEntry:
    point: DataPoint
    enabled: bool


def parse_entries(raw: object, field: str = "data_points") -> list[FilterEntry]:
    """Filter entries from their JSON form ({type, name, event_type?, attribute_name?, enabled}).

    Raises InvalidFilter naming every bad field (`data_points[2].event_type`).
    """
    if not isinstance(raw, list):
        raise InvalidFilter([(field, "must be a list of data point filters")])
    errors: list[tuple[str, str]] = []
    entries: list[FilterEntry] = []
    for i, item in enumerate(raw):
        path = f"{field}[{i}]"
        if not isinstance(item, dict):
            errors.append((path, "must be an object"))
            continue
        problems: list[tuple[str, str]] = []
        kind = kind_from_text(item["type"]) if isinstance(item.get("type"), str) else None
        if kind is None:
            problems.append((f"{path}.type", f"must be one of: {', '.join(k.value for k in Kind)}"))
        texts: dict[str, str] = {}
        for key in ("name", "event_type", "attribute_name"):
            value = item.get(key)
            if value is not None and not isinstance(value, str):
                problems.append((f"{path}.{key}", "must be a string"))
            texts[key] = (value or "") if isinstance(value, str) else ""
        if not isinstance(item.get("enabled"), bool):
            problems.append((f"{path}.enabled", "must be true or false"))
        if kind is not None:
            problems.extend(_shape_problems(kind, texts, path))
        unknown = set(item) - {"type", "name", "event_type", "attribute_name", "enabled"}
        problems.extend((f"{path}.{key}", "unknown field") for key in sorted(unknown))
        if problems:
            errors.extend(problems)
            continue
        assert kind is not None
        # Commerce points are named by their commerce type, which is also their event type.
        event_type = texts["name"] if kind in _COMMERCE_KINDS else texts["event_type"]
        point = DataPoint(
            kind.value,
            texts["name"],
            event_type if kind in _EVENT_TYPED else "",
            texts["attribute_name"] if kind in _ATTRIBUTE_KINDS else "",
        )
        entries.append(FilterEntry(point, bool(item["enabled"])))
    if errors:
        raise InvalidFilter(errors)
    return entries


# Kinds whose identity includes an event type.
_EVENT_TYPED = (Kind.EVENT, Kind.EVENT_ATTRIBUTE, Kind.COMMERCE, Kind.COMMERCE_ATTRIBUTE)
_COMMERCE_KINDS = (Kind.COMMERCE, Kind.COMMERCE_ATTRIBUTE)


def _shape_problems(kind: Kind, texts: dict[str, str], path: str) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if kind not in _NAMELESS_KINDS and not texts["name"]:
        problems.append((f"{path}.name", f"is required for {kind.value} data points"))
    if kind in (Kind.EVENT, Kind.EVENT_ATTRIBUTE) and not texts["event_type"]:
        problems.append((f"{path}.event_type", f"is required for {kind.value} data points"))
    if kind in _ATTRIBUTE_KINDS and not texts["attribute_name"]:
        problems.append((f"{path}.attribute_name", f"is required for {kind.value} data points"))
    if kind in _COMMERCE_KINDS and texts["event_type"] and texts["event_type"] != texts["name"]:
        problems.append((f"{path}.event_type", "must equal name (the commerce type) when given"))
    return problems


class CatalogService:
    """Admin operations on the catalog and on connection filters."""

    def __init__(self, catalog: CatalogStore, filters: FilterStore) -> None:
        self._catalog = catalog
        self._filters = filters

    def data_points(
        self, workspace_id: int, kind: str | None = None, limit: int = 10_000
    ) -> list[DataPointRow]:
        return self._catalog.data_points(workspace_id, kind, limit)

    def get_filter(self, connection_id: int) -> ConnectionFilter:
        return self._filters.get_filters([connection_id])[connection_id]

    def set_filter(
        self,
        workspace_id: int,
        connection_id: int,
        send_new_by_default: bool | None,
        entries: Sequence[FilterEntry],
    ) -> ConnectionFilter:
        """Apply the entries; turning send-new-by-default off first pins every point seen so far to
        its current state (existing data points are not affected, only ones first seen later)."""
        current = self.get_filter(connection_id)
        pinned: dict[DataPoint, bool] = {}
        if send_new_by_default is False and current.send_new_by_default:
            known = current.entries or {}
            for row in self._catalog.data_points(workspace_id):
                for point in ancestors(row.point):
                    if point not in known:
                        pinned[point] = True
        pinned.update({e.point: e.enabled for e in entries})
        return self._filters.set_filter(connection_id, workspace_id, send_new_by_default, pinned)

    def delete_filter(self, connection_id: int) -> None:
        self._filters.delete_filter(connection_id)


class DataFilterLoader:
    """Loads the data filters of many connections at once for the data filter stage (a ConnectionLoader).

    Connections whose filter disables nothing get no entry, so their batches skip the stage's work.
    """

    name = FILTER_EXTRA

    def __init__(self, filters: FilterStore) -> None:
        self._filters = filters

    def load(self, connections: Sequence[Connection]) -> dict[int, ConnectionFilter]:
        loaded = self._filters.get_filters([c.id for c in connections])
        return {cid: flt for cid, flt in loaded.items() if not flt.is_noop}
