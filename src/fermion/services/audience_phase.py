"""The audience phase: count each new batch's events into its user's criterion state, evaluate the
workspace's active real-time audiences for the group's users, store memberships, publish changes.

Runs after StoreEvents and the calculated-attributes phase (criteria read stored CA values) and
before forwarding. Counting is idempotent through applied-markers written with the state: a batch
StoreEvents saw before is counted only if no marker says it was.

The profiles and CA values the earlier phases computed for the group are used instead of reading them
again, for users whose audience state was last saved by this phase in this process before those were
read: otherwise another evaluation may have seen newer data, which this one must not undo.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fermion.audiences.evaluate import count_events
from fermion.audiences.events import device_facts, oldest_buckets, prune_keys
from fermion.audiences.records import Status, UserState
from fermion.audiences.touch import Touch
from fermion.model.events import UserAttributeChangeEvent
from fermion.ports.audiences import MembershipSink
from fermion.profiles.state import Profile
from fermion.services.audience_engine import AudienceEngine
from fermion.services.calculated_phase import NAMES_NOTE as CALCULATED_NAMES_NOTE
from fermion.services.calculated_phase import NOTE as CALCULATED_NOTE
from fermion.services.calculated_phase import NotedValues
from fermion.services.processing import ProcessingReport, WorkItem
from fermion.services.profile_phase import NOTE as PROFILE_NOTE

_IDENTITY_EVENT = "user_identity_change"
# Past this (about 25 MB) the record of saves starts over: those users' data are then read again once.
_MAX_SAVES_KEPT = 100_000


class AudiencePhase:
    name = "audiences"

    def __init__(self, engine: AudienceEngine, sink: MembershipSink) -> None:
        self._engine = engine
        self._sink = sink
        # (workspace, mpid) -> (state version, monotonic ns) of this phase's last save of the user.
        self._saved: dict[tuple[int, int], tuple[int, int]] = {}

    def run(self, items: list[WorkItem], now_ms: int, report: ProcessingReport) -> list[WorkItem]:
        by_workspace: dict[int, list[WorkItem]] = {}
        for item in items:
            # Historical batches (/v2/bulkevents/historical) never change audiences or CAs (spec 1.1).
            if item.batch.mpid is not None and not item.record.historical:
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
        # Each user's state is pruned after the user's last batch of the group, while it is at hand.
        last_of = {item.batch.mpid: n for n, item in enumerate(group)}
        oldest_of = oldest_buckets(ws.windows, now_ms)
        for n, item in enumerate(group):
            batch, record = item.batch, item.record
            mpid = batch.mpid
            assert mpid is not None
            state = users.get(mpid)
            if state is None:
                state = users[mpid] = UserState()
            touch = touches[mpid]
            if batch.device_info is not None or batch.application_info is not None:
                device = device_facts(batch)
                if any(state.device.get(k) != v for k, v in device.items()):
                    state.device = {**state.device, **device}
                    touch.profile = True
            if batch.consent_state is not None:
                touch.profile = True
            versions[mpid] = max(versions.get(mpid, 0), record.received_ms)
            for event in batch.events:
                # IDSync adds user_identity_change events to a batch that linked new identities.
                if isinstance(event, UserAttributeChangeEvent):
                    if event.data.user_attribute_name:
                        touch.attributes.add(event.data.user_attribute_name)
                elif event.event_type == _IDENTITY_EVENT:
                    hints.add(mpid)
                    touch.identities = True
            if record.batch_id in to_apply:
                names = item.notes.get(CALCULATED_NAMES_NOTE)
                if names is None:  # the CA phase did not see the batch: any value may have changed
                    touch.calculated |= bool(item.batch.events)
                else:
                    touch.calculated_names |= names
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
                touch.keys |= count_events(ws, state.events, batch.events, record.received_ms, only)
            if last_of[mpid] == n:
                # Buckets only age out of the windows of criteria that counted something now (others
                # keep theirs until they count again or the re-check job prunes them; windows ignore
                # old buckets).
                prune_keys(state.events, None if touch.everything else touch.keys, oldest_of)
        profiles, calculated = self._noted(workspace_id, group, users, ws.calculated_names)
        decided = engine.decide(
            workspace_id,
            ws.evaluated,
            users,
            mpids,
            now_ms,
            versions,
            hints,
            touches=touches,
            known_profiles=profiles,
            noted_calculated=calculated,
        )
        if decided.changes:
            # Before saving: a crash in between re-evaluates the batch, producing the same change ids.
            self._sink.publish(decided.changes, now_ms)
        saved_ns = time.monotonic_ns()  # after every input of this evaluation was read
        # The versions the save gives, read before it: a saved state is not this group's any more
        # (the store may hand it to a concurrent group, which changes it).
        saved = [(mpid, state.version + 1) for mpid, state in users.items()]
        store.save(
            workspace_id,
            users,
            decided.memberships,
            decided.history,
            applied_batch_ids=sorted(to_apply),
            now_ms=now_ms,
        )
        if len(self._saved) > _MAX_SAVES_KEPT:
            self._saved.clear()
        for mpid, version in saved:
            self._saved[workspace_id, mpid] = (version, saved_ns)

    def _noted(
        self, workspace_id: int, group: list[WorkItem], users: dict[int, UserState], ca_names: set[str]
    ) -> tuple[dict[int, Profile], Callable[[list[int]], dict[int, dict[str, str]]] | None]:
        """The profiles and (on request, for the users whose evaluation reads them) CA values noted by
        the earlier phases that are still current for this evaluation: no audience state saved since
        they were read, except by this phase here."""

        def unmoved(mpid: int, read_ns: int) -> bool:
            state = users.get(mpid)
            if state is None or state.version == 0:  # none stored: one saved meanwhile fails ours
                return True
            saved = self._saved.get((workspace_id, mpid))
            return saved is not None and saved[0] == state.version and saved[1] < read_ns

        profiles: dict[int, Profile] = {}
        for item in group:
            mpid = item.batch.mpid
            noted = item.notes.get(PROFILE_NOTE)
            if mpid is not None and noted is not None and mpid not in profiles and unmoved(mpid, noted[0]):
                profiles[mpid] = noted[1]
        ca_noted = group[0].notes.get(CALCULATED_NOTE)
        if ca_noted is None or not ca_names:
            return profiles, None
        read_ns: int = ca_noted[0]
        noted_values: NotedValues = ca_noted[1]

        def calculated(mpids: list[int]) -> dict[int, dict[str, str]]:
            return noted_values.values_of([m for m in mpids if m in users and unmoved(m, read_ns)], ca_names)

        return profiles, calculated
