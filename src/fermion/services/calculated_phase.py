"""The CA phase: folds each stored batch into its user's CA states, once, and puts the new values of
synchronous CAs on the outgoing batch's user_attributes (so forwarding sends them).

Idempotent under redelivery: batches applied are marked in the same transaction as the states, and a
batch the backfill covers (seq <= the CA's boundary) is left to the backfill.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Set
from typing import Any, cast

import msgspec
from msgspec import structs

from fermion.calculated.catalog import CompiledCache, current_values
from fermion.calculated.compiled import CompiledCa, Value, flat
from fermion.calculated.extract import BatchView
from fermion.calculated.records import CaRecord, StateRow, StateWrite
from fermion.calculated.state import (
    CaState,
    Entry,
    UserSeeds,
    decode_entry,
    decode_raw_doc,
    decode_seeds,
    encode_doc,
)
from fermion.ports.calculated import CalculatedStore, LiveCompute
from fermion.services.processing import ProcessingReport, WorkItem

# A CA activated this recently may have a boundary at or above batches stored just before its
# activation: their seqs are looked up (otherwise only when a CA is calculating or a batch is not new).
RECENT_ACTIVATION_MS = 15 * 60 * 1000
# item.notes[NOTE]: (monotonic ns taken before the states were read, NotedValues) so the audience
# phase need not read and decode the group's users' states again.
NOTE = "calculated"  # (ns, NotedValues)
# item.notes[NAMES_NOTE]: the names of the CAs whose values the batch may change (it has data for them,
# or their backfill covers it), so the audience phase re-evaluates only audiences reading those.
NAMES_NOTE = "calculated_names"


class _User:
    """One user's documents during a group; each CA's entry is decoded only when a batch touches it."""

    __slots__ = ("_base", "_decoded", "_live", "changed", "seeds", "values")

    def __init__(self, row: StateRow | None) -> None:
        # decode_raw_doc gives a fresh dict each time: it is this user's own, entries decoded in place.
        self._live = cast(dict[int, msgspec.Raw | Entry], decode_raw_doc(row.live if row else None))
        self._base = cast(dict[int, msgspec.Raw | Entry], decode_raw_doc(row.base if row else None))
        self.seeds: UserSeeds = decode_seeds(row.seeds if row else None)
        self.changed = False
        # CA id -> its value as of the last `value` call, dropped when a fold changes the CA's state
        # (the audience phase then reads it instead of working it out again).
        self.values: dict[int, Value | None] = {}
        # CA id -> generation of the live entries `entry` made Entry objects (read without touching them).
        self._decoded: dict[int, int] = {}

    def entry(self, record: CaRecord) -> Entry:
        found = self._live.get(record.id)
        if found is not None and type(found) is Entry and found.g == record.generation:
            return found  # decoded before: the usual case of a second batch or `value` after a fold
        if isinstance(found, msgspec.Raw):
            found = decode_entry(found)
        if found is None or found.g != record.generation:
            found = Entry(record.generation, CaState())
        self._live[record.id] = found
        self._decoded[record.id] = found.g
        return found

    def value(
        self, record: CaRecord, compiled: CompiledCa, now_ms: int, live: Entry | None = None
    ) -> Value | None:
        """The CA's value now; `live`: its live entry, when the caller has it from `entry`."""
        parts = [(live if live is not None else self.entry(record)).s]
        base = self._base.get(record.id) if self._base else None
        if base is not None:
            if isinstance(base, msgspec.Raw):
                base = self._base[record.id] = decode_entry(base)
            if base.g == record.generation:
                parts.append(base.s)
        seed = self.seeds.get(record.id) if self.seeds else None
        value = compiled.value_of(parts, seed.p if seed else None, seed.c if seed else None, now_ms)
        self.values[record.id] = value
        return value

    def stored_values(
        self, cas: list[tuple[CaRecord, CompiledCa]], row: StateRow | None, now_ms: int
    ) -> dict[str, str]:
        """The values a reader of the document this group leaves would see (as values_for gives
        them): an unchanged user's stored row, a changed one's live entries of current generation."""
        if not self.changed:
            stored = current_values(cas, [row], now_ms).get(row.mpid, {}) if row is not None else {}
            return {name: flat(value) for name, value in stored.items()}
        values: dict[str, str] = {}
        known = self.values
        for record, compiled in cas:
            if record.id in known:
                noted = known[record.id]
                if noted is not None:
                    values[compiled.name] = flat(noted)
                continue
            parts = []
            for doc in (self._base, self._live):
                entry = doc.get(record.id)
                if isinstance(entry, msgspec.Raw):
                    entry = doc[record.id] = decode_entry(entry)
                    if doc is self._live:
                        self._decoded[record.id] = entry.g
                if entry is not None and entry.g == record.generation:
                    parts.append(entry.s)
            seed = self.seeds.get(record.id)
            if parts or seed is not None:
                value = compiled.value_of(parts, seed.p if seed else None, seed.c if seed else None, now_ms)
                if value is not None:
                    values[compiled.name] = flat(value)
        return values

    def doc(self, current: dict[int, int]) -> bytes:
        """The live document of the active CAs only (`current`: their generations by id; entries of
        deleted or re-activated CAs go)."""
        live = self._live
        # Untouched (Raw) entries stay while their CA is active (their generation was current when
        # written, or is stale and ignored by readers); decoded ones while of the current generation.
        dropped = [ca for ca, g in self._decoded.items() if current.get(ca) != g]
        if dropped or not current.keys() >= live.keys():
            dropped.extend(live.keys() - current.keys())
            live = {ca: entry for ca, entry in live.items() if ca not in dropped}
        return encode_doc(live)


class NotedValues:
    """The CA values of a group's users as the CA phase left their documents, computed on request."""

    def __init__(
        self,
        cas: list[tuple[CaRecord, CompiledCa]],
        rows: dict[int, StateRow],
        users: dict[int, _User],
        now_ms: int,
    ) -> None:
        self._cas, self._rows, self._users, self._now_ms = cas, rows, users, now_ms

    def values_of(self, mpids: Iterable[int], names: Set[str]) -> dict[int, dict[str, str]]:
        """Values of the CAs named `names` for those of the users the phase saw."""
        cas = [(r, c) for r, c in self._cas if c.name in names]
        found = {}
        for mpid in mpids:
            user = self._users.get(mpid)
            if user is not None:
                found[mpid] = user.stored_values(cas, self._rows.get(mpid), self._now_ms)
        return found


class CalculatedPhase:
    name = "calculated"

    def __init__(self, store: CalculatedStore) -> None:
        self._store = store
        self._cache = CompiledCache()

    def run(self, items: list[WorkItem], now_ms: int, report: ProcessingReport) -> list[WorkItem]:
        by_workspace: dict[int, list[WorkItem]] = {}
        for item in items:
            # Historical batches (/v2/bulkevents/historical) never change audiences or CAs (spec 1.1).
            if item.batch.mpid is not None and not item.record.historical:
                by_workspace.setdefault(item.record.workspace_id, []).append(item)
        if not by_workspace:
            return items
        active = self._store.active(list(by_workspace))
        for workspace_id, group in by_workspace.items():
            records = active.get(workspace_id)
            if records:
                self._apply(workspace_id, group, records, now_ms)
        return items

    def _apply(self, workspace_id: int, group: list[WorkItem], records: list[CaRecord], now_ms: int) -> None:
        batch_ids = [i.record.batch_id for i in group]
        need_seqs = any(not i.notes.get("new", False) for i in group) or any(
            r.status == "calculating" or now_ms - (r.activated_ms or 0) < RECENT_ACTIVATION_MS
            for r in records
        )
        seqs = self._store.seqs_of(batch_ids) if need_seqs else None
        extra: dict[int, dict[str, Value]] = {}
        mpids = sorted({i.batch.mpid for i in group if i.batch.mpid is not None})
        read_ns = time.monotonic_ns()
        seen: list[Any] = []  # what compute saw: the active CAs, the rows, the users
        self._store.apply_live(
            workspace_id, mpids, batch_ids, self._compute(group, seqs, records, now_ms, extra, seen), now_ms
        )
        if seen:
            cas, rows, users = seen
            note = (read_ns, NotedValues(cas, rows, users, now_ms))
            for item in group:
                item.notes[NOTE] = note
        for index, item in enumerate(group):
            values = extra.get(index)
            if values:
                attributes = {**(item.batch.user_attributes or {}), **values}
                item.batch = structs.replace(item.batch, user_attributes=attributes)

    def _compute(
        self,
        group: list[WorkItem],
        seqs: dict[int, int] | None,
        seen_before: list[CaRecord],
        now_ms: int,
        extra: dict[int, dict[str, Value]],
        seen_out: list[Any],
    ) -> LiveCompute:
        # A CA (or generation) activated after `seen_before` was read came after this group's batches
        # were stored: its backfill covers them, and the seqs that would show it were not looked up.
        known = {(r.id, r.generation) for r in seen_before}

        def compute(
            records: list[CaRecord], rows: dict[int, StateRow], applied: set[int]
        ) -> list[StateWrite]:
            cas = self._cache.all([r for r in records if (r.id, r.generation) in known])
            left_to_backfill = frozenset(r.name for r in records if (r.id, r.generation) not in known)
            users: dict[int, _User] = {}
            seen: set[int] = set()
            # Which CAs a batch may have data for, by the event names it holds (others are skipped
            # without a look), unless the backfill covers the batch for some CA.
            newest_boundary = max((r.boundary_seq for r, _ in cas), default=0)
            unnamed = [pos for pos, (_, c) in enumerate(cas) if c.event_name is None]
            by_name: dict[str, list[int]] = {}
            for pos, (_, c) in enumerate(cas):
                if c.event_name is not None:
                    by_name.setdefault(c.event_name, []).append(pos)
            for index, item in enumerate(group):
                batch_id = item.record.batch_id
                seq = None if seqs is None else seqs.get(batch_id)
                if seqs is not None and seq is None:
                    continue  # not stored under this id: a duplicate of a stored batch
                # Applied before a crash: its values still ride on the batch, but it is not folded again.
                fold = batch_id not in applied and batch_id not in seen
                seen.add(batch_id)
                mpid = item.batch.mpid
                assert mpid is not None
                user = users.get(mpid)
                if user is None:
                    user = users[mpid] = _User(rows.get(mpid))
                view = BatchView(item.batch, item.record.received_ms)
                in_batch = {name for ev in view.events for name in ev.names}
                synced: dict[str, Any] = {}
                names = set(left_to_backfill)
                every = seq is not None and seq <= newest_boundary  # candidates not chosen by name
                if every:
                    candidates: list[tuple[CaRecord, CompiledCa]] = cas
                else:
                    positions = [p for name in in_batch for p in by_name.get(name, ())]
                    if unnamed:
                        positions += unnamed
                    positions.sort()
                    candidates = [cas[p] for p in positions]
                for record, compiled in candidates:
                    if seq is not None and seq <= record.boundary_seq:
                        names.add(compiled.name)
                        continue  # the backfill covers it
                    if every and compiled.event_name is not None and compiled.event_name not in in_batch:
                        continue
                    observations = compiled.observe(view)
                    if not observations:
                        continue
                    names.add(compiled.name)
                    live = None
                    if fold:
                        seed = user.seeds.get(record.id) if user.seeds else None
                        live = user.entry(record)
                        if compiled.fold_observations(live.s, observations, now_ms, seed.c if seed else None):
                            user.changed = True
                            user.values.pop(record.id, None)
                    # The batch carries the new values of the synchronous CAs it counts towards.
                    if compiled.synchronous:
                        value = user.value(record, compiled, now_ms, live)
                        if value is not None:
                            synced[compiled.name] = value
                if synced:
                    extra[index] = synced
                item.notes[NAMES_NOTE] = names
            seen_out[:] = [self._cache.all(records), rows, users]
            current = {r.id: r.generation for r in records}
            return [StateWrite(mpid=m, doc=u.doc(current)) for m, u in users.items() if u.changed]

        return compute
