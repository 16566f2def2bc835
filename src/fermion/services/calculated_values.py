"""CA values for readers (Profile API, User Activity, audiences), computed at read time for `now_ms`."""

from __future__ import annotations

from collections.abc import Sequence

from fermion.calculated.catalog import CompiledCache, current_values
from fermion.calculated.compiled import Value, flat
from fermion.ports.calculated import CalculatedStore


class CalculatedValuesService:
    """Satisfies the CalculatedValues port; `typed_values_for` keeps unique lists as lists."""

    def __init__(self, store: CalculatedStore) -> None:
        self._store = store
        self._cache = CompiledCache()

    def typed_values_for(
        self, workspace_id: int, mpids: Sequence[int], now_ms: int
    ) -> dict[int, dict[str, Value]]:
        if not mpids:
            return {}
        records = self._store.active([workspace_id]).get(workspace_id, [])
        if not records:
            return {}
        rows = self._store.states(workspace_id, mpids)
        return current_values(self._cache.all(records), rows, now_ms)

    def values_for(self, workspace_id: int, mpids: Sequence[int], now_ms: int) -> dict[int, dict[str, str]]:
        typed = self.typed_values_for(workspace_id, mpids, now_ms)
        return {mpid: {name: flat(v) for name, v in values.items()} for mpid, values in typed.items()}
