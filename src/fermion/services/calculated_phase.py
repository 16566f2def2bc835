"""The CA phase: folds each stored batch into its user's CA states, once, and puts the new values of
synchronous CAs on the outgoing batch's user_attributes (so forwarding sends them).

Idempotent under redelivery: batches applied are marked in the same transaction as the states, and a
batch the backfill covers (seq <= the CA's boundary) is left to the backfill.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from msgspec import structs

from fermion.calculated.catalog import CompiledCache
from fermion.calculated.compiled import CompiledCa, Value
from fermion.calculated.records import CaRecord, StateRow, StateWrite
from fermion.calculated.state import CaState, decode_part, decode_state, encode_state, merge_states
from fermion.ports.calculated import CalculatedStore
from fermion.services.processing import ProcessingReport, WorkItem

# A CA activated this recently may have a boundary at or above batches stored just before its
# activation: their seqs are looked up (otherwise only when a CA is calculating or a batch is not new).
RECENT_ACTIVATION_MS = 15 * 60 * 1000


class _UserCa:
    """One (CA, user) during a group: the live part being folded, and the rest for reading values."""

    __slots__ = ("base", "changed", "live")

    def __init__(self, row: StateRow | None, record: CaRecord) -> None:
        fresh = row is None or row.generation != record.generation
        self.live = CaState() if fresh or row is None else decode_state(row.live)
        self.base = CaState() if fresh or row is None else decode_state(row.base)
        if row is not None:
            seed = decode_part(row.seed)
            if seed is not None:
                self.live.seed, self.live.cutoff_ms = seed, row.cutoff_ms
        self.changed = False

    def value(self, compiled: CompiledCa, now_ms: int) -> Value | None:
        merged = merge_states(self.base, self.live, compiled.cap)
        merged.seed, merged.cutoff_ms = self.live.seed, self.live.cutoff_ms
        return compiled.value(merged, now_ms)


class CalculatedPhase:
    name = "calculated"

    def __init__(self, store: CalculatedStore) -> None:
        self._store = store
        self._cache = CompiledCache()

    def run(self, items: list[WorkItem], now_ms: int, report: ProcessingReport) -> list[WorkItem]:
        by_workspace: dict[int, list[WorkItem]] = {}
        for item in items:
            if item.batch.mpid is not None:
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
        compute = self._compute(group, seqs, now_ms, extra)
        mpids = sorted({i.batch.mpid for i in group if i.batch.mpid is not None})
        self._store.apply_live(workspace_id, mpids, batch_ids, compute)
        for index, item in enumerate(group):
            values = extra.get(index)
            if values:
                attributes = {**(item.batch.user_attributes or {}), **values}
                item.batch = structs.replace(item.batch, user_attributes=attributes)

    def _compute(
        self,
        group: list[WorkItem],
        seqs: dict[int, int] | None,
        now_ms: int,
        extra: dict[int, dict[str, Value]],
    ) -> Callable[[list[CaRecord], dict[tuple[int, int], StateRow], set[int]], list[StateWrite]]:
        def compute(
            records: list[CaRecord], rows: dict[tuple[int, int], StateRow], applied: set[int]
        ) -> list[StateWrite]:
            cas = self._cache.all(records)
            working: dict[tuple[int, int], _UserCa] = {}
            seen: set[int] = set()
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
                synced: dict[str, Any] = {}
                for record, compiled in cas:
                    if seq is not None and seq <= record.boundary_seq:
                        continue  # the backfill covers it
                    key = (record.id, mpid)
                    user = working.get(key)
                    if user is None:
                        user = working[key] = _UserCa(rows.get(key), record)
                    if fold and compiled.fold(user.live, item.batch, item.record.received_ms, now_ms):
                        user.changed = True
                    if compiled.synchronous:
                        value = user.value(compiled, now_ms)
                        if value is not None:
                            synced[compiled.name] = value
                if synced:
                    extra[index] = synced
            generation = {record.id: record.generation for record in records}
            return [
                StateWrite(
                    ca_id=ca_id,
                    mpid=mpid,
                    generation=generation[ca_id],
                    state=encode_state(CaState(days=user.live.days)),
                )
                for (ca_id, mpid), user in working.items()
                if user.changed
            ]

        return compute
