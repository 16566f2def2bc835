"""Compiled CAs by (id, generation): definitions are parsed and compiled once, then reused."""

from __future__ import annotations

from collections.abc import Sequence

from fermion.calculated.compiled import CompiledCa, Value, compile_ca
from fermion.calculated.definition import InvalidDefinition, parse_definition
from fermion.calculated.records import CaRecord, StateRow
from fermion.calculated.state import UserSeeds, UserStates, decode_seeds, decode_states


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
    values: dict[int, dict[str, Value]] = {}
    for row in rows:
        base, live, seeds = decode_states(row.base), decode_states(row.live), decode_seeds(row.seeds)
        for record, compiled in cas:
            value = value_for(record, compiled, base, live, seeds, now_ms)
            if value is not None:
                values.setdefault(row.mpid, {})[compiled.name] = value
    return values


def value_for(
    record: CaRecord,
    compiled: CompiledCa,
    base: UserStates,
    live: UserStates,
    seeds: UserSeeds,
    now_ms: int,
) -> Value | None:
    """One CA's value for one user from the user's documents (stale generations ignored)."""
    parts = [
        e.s for e in (base.get(record.id), live.get(record.id)) if e is not None and e.g == record.generation
    ]
    seed = seeds.get(record.id)
    if not parts and seed is None:
        return None
    return compiled.value_of(parts, seed.p if seed else None, seed.c if seed else None, now_ms)
