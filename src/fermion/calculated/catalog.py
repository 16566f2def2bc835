"""Compiled CAs by (id, generation): definitions are parsed and compiled once, then reused."""

from __future__ import annotations

from collections.abc import Sequence

from fermion.calculated.compiled import CompiledCa, Value, compile_ca
from fermion.calculated.definition import InvalidDefinition, parse_definition
from fermion.calculated.records import CaRecord, StateRow
from fermion.calculated.state import combine


class CompiledCache:
    """Not thread-safe by design: a lost race only compiles a definition twice."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[int, int], CompiledCa | None] = {}

    def get(self, record: CaRecord) -> CompiledCa | None:
        """The compiled active definition (None if it has none or it no longer validates)."""
        key = (record.id, record.generation)
        if key not in self._compiled:
            compiled = None
            if record.active is not None:
                try:
                    compiled = compile_ca(record.id, record.name, parse_definition(record.active))
                except InvalidDefinition:
                    compiled = None
            if len(self._compiled) > 10_000:
                self._compiled.clear()
            self._compiled[key] = compiled
        return self._compiled[key]

    def all(self, records: Sequence[CaRecord]) -> list[tuple[CaRecord, CompiledCa]]:
        found = []
        for record in records:
            compiled = self.get(record)
            if compiled is not None:
                found.append((record, compiled))
        return found


def current_values(
    cas: Sequence[tuple[CaRecord, CompiledCa]], rows: Sequence[StateRow], now_ms: int
) -> dict[int, dict[str, Value]]:
    """Each user's values (by CA name) from the stored state rows."""
    by_id = {record.id: (record, compiled) for record, compiled in cas}
    values: dict[int, dict[str, Value]] = {}
    for row in rows:
        found = by_id.get(row.ca_id)
        if found is None or found[0].generation != row.generation:
            continue
        compiled = found[1]
        state = combine(row.base, row.live, row.seed, row.cutoff_ms, compiled.cap)
        value = compiled.value(state, now_ms)
        if value is not None:
            values.setdefault(row.mpid, {})[compiled.name] = value
    return values
