"""The audience phase: count each new batch's events into its user's criterion state, evaluate the
workspace's active real-time audiences for the group's users, store memberships, publish changes.

Runs after StoreEvents and the calculated-attributes phase (criteria read stored CA values) and
before forwarding. Counting is idempotent through applied-markers written with the state: a batch
StoreEvents saw before is counted only if no marker says it was.
"""

from __future__ import annotations

from fermion.audiences.evaluate import Touch, apply_events, prune_state
from fermion.audiences.events import device_facts, facts_of
from fermion.audiences.records import Status, UserState
from fermion.model.events import UserAttributeChangeEvent
from fermion.ports.audiences import MembershipSink
from fermion.services.audience_engine import AudienceEngine
from fermion.services.processing import ProcessingReport, WorkItem

_IDENTITY_EVENT = "user_identity_change"


def _may_change_identities(item: WorkItem) -> bool:
    """IDSync adds user_identity_change events to a batch that linked new identities to its user."""
    return any(e.event_type == _IDENTITY_EVENT for e in item.batch.events)


class AudiencePhase:
    name = "audiences"

    def __init__(self, engine: AudienceEngine, sink: MembershipSink) -> None:
        self._engine = engine
        self._sink = sink

    def run(self, items: list[WorkItem], now_ms: int, report: ProcessingReport) -> list[WorkItem]:
        by_workspace: dict[int, list[WorkItem]] = {}
        for item in items:
            if item.batch.mpid is not None:
                by_workspace.setdefault(item.record.workspace_id, []).append(item)
        for workspace_id, group in by_workspace.items():
            self._run_group(workspace_id, group, now_ms)
        return items

    def _run_group(self, workspace_id: int, group: list[WorkItem], now_ms: int) -> None:
        engine, store = self._engine, self._engine.store
        ws = engine.workspace(workspace_id)
        if ws.empty:
            return
        batch_ids = [i.record.batch_id for i in group]
        if all(i.notes.get("new", False) for i in group):
            to_apply = set(batch_ids)  # stored just now: nobody can have counted them
        else:
            to_apply = store.unapplied(workspace_id, batch_ids)
        # While an audience is calculating over history, the job counts batches up to its boundary
        # seq and this phase only the later ones.
        calculating = [c for c in ws.counted if c.audience.status == Status.CALCULATING]
        seqs = store.stored_seqs(workspace_id, batch_ids) if calculating and to_apply else {}
        mpids = sorted({i.batch.mpid for i in group if i.batch.mpid is not None})
        users = store.load_users(workspace_id, mpids)
        # What changed per user, so audiences that read none of it are not re-evaluated. A user new
        # to audiences, or due for a time-based re-check, gets every audience evaluated.
        touches = {
            m: Touch(everything=m not in users or (users[m].next_check_ms or now_ms + 1) <= now_ms)
            for m in mpids
        }
        versions: dict[int, int] = {}
        hints: set[int] = set()
        for item in group:
            mpid = item.batch.mpid
            assert mpid is not None
            state = users.setdefault(mpid, UserState())
            touch = touches[mpid]
            device = device_facts(item.batch)
            if any(state.device.get(k) != v for k, v in device.items()):
                state.device = {**state.device, **device}
                touch.profile = True
            touch.profile |= item.batch.consent_state is not None
            versions[mpid] = max(versions.get(mpid, 0), item.record.received_ms)
            for event in item.batch.events:
                if isinstance(event, UserAttributeChangeEvent) and event.data.user_attribute_name:
                    touch.attributes.add(event.data.user_attribute_name)
            if _may_change_identities(item):
                hints.add(mpid)
                touch.identities = True
            if item.record.batch_id not in to_apply:
                continue
            touch.calculated |= bool(item.batch.events)
            only = None
            if calculating:
                seq = seqs.get(item.record.batch_id, 0)
                skipped = {
                    crit.key
                    for c in calculating
                    if seq <= c.audience.boundary_seq
                    for crit in c.compiled.event_criteria
                }
                only = set(ws.windows) - skipped if skipped else None
            touch.keys |= apply_events(ws, state.events, facts_of(item.batch, item.record.received_ms), only)
        for state in users.values():
            prune_state(ws, state.events, now_ms)
        decided = engine.decide(
            workspace_id, ws.evaluated, users, mpids, now_ms, versions, hints, touches=touches
        )
        if decided.changes:
            # Before saving: a crash in between re-evaluates the batch, producing the same change ids.
            self._sink.publish(decided.changes, now_ms)
        store.save(
            workspace_id,
            users,
            decided.memberships,
            decided.history,
            applied_batch_ids=sorted(to_apply),
            now_ms=now_ms,
        )
