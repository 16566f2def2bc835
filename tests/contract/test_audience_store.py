"""Contract tests of the audience store (SQLite and PostgreSQL), and of the audience phase over the
real stores: idempotent under redelivery, history, re-check times, calculation over history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import Engine

from fermion.adapters.sql import SqlConfigStore, SqlEventStore, audience_store
from fermion.adapters.sql.audience_store import SqlAudienceStore
from fermion.adapters.sql.profile_store import SqlProfileStore
from fermion.audiences.records import Audience, HistoryEntry, Kind, Membership, Status, UserState
from fermion.model.audiences import ChangeAction, MembershipChange
from fermion.pipeline.store_rows import to_processed
from fermion.ports import NoIdentities
from fermion.ports.audiences import AlreadyApplied, StaleState
from fermion.profiles.state import Profile
from fermion.services.audience_admin import AudienceAdmin
from fermion.services.audience_engine import AudienceEngine
from fermion.services.audience_jobs import AudienceJobs
from fermion.services.audience_phase import AudiencePhase
from fermion.services.processing import ProcessingReport, WorkItem
from fermion.services.profile_phase import ProfilePhase
from support.work_items import work_item

NOW = 1_780_000_000_000


class CollectingSink:
    """A MembershipSink that keeps what it is given (delivery is another area's concern)."""

    def __init__(self) -> None:
        self.changes: list[MembershipChange] = []

    def publish(self, changes: Sequence[MembershipChange], now_ms: int) -> None:
        self.changes.extend(changes)


class HeldLease:
    def hold(self) -> bool:
        return True

    def release(self) -> None:
        return None


def new_audience(store: SqlAudienceStore, criteria: Any, **kw: Any) -> Audience:
    return store.create(Audience(id=0, workspace_id=1, account_id=1, name="a", draft_criteria=criteria, **kw))


def test_definitions_round_trip(sql_engine: Engine) -> None:
    store = SqlAudienceStore(sql_engine)
    a = new_audience(store, {"identity": {"type": "email"}}, external_name="ext", kind=Kind.STANDARD)
    b = new_audience(store, {"not": {"identity": {"type": "email"}}})
    got = store.get(a.id)
    assert got is not None and got.draft_criteria == {"identity": {"type": "email"}} and got.criteria is None
    assert (got.kind, got.status, got.display_name) == (Kind.STANDARD, Status.DRAFT, "ext")
    got.status, got.criteria, got.boundary_seq = Status.ACTIVE, got.draft_criteria, 9
    store.update(got)
    assert store.get(a.id) == got
    assert [x.id for x in store.list_audiences([1])] == [a.id, b.id]
    assert store.list_audiences([2]) == []
    b.status = Status.DELETED
    store.update(b)
    assert store.get(b.id) is None and [x.id for x in store.list_audiences()] == [a.id]


def test_state_memberships_history_and_markers(sql_engine: Engine) -> None:
    store = SqlAudienceStore(sql_engine)
    users = {
        5: UserState(events={"1@0.0": {20_000: 2}}, device={"platform": "iOS"}, next_check_ms=NOW + 5),
        6: UserState(next_check_ms=NOW),
    }
    rows = [
        Membership(
            audience_id=1, workspace_id=1, mpid=5, member=True, joined_ms=10, identities={"email": "e"}
        ),
        Membership(audience_id=1, workspace_id=1, mpid=6),
        Membership(audience_id=2, workspace_id=1, mpid=5, member=True),
    ]
    history = [HistoryEntry(audience_id=1, mpid=5, action="add", changed_ms=NOW)]
    store.save(1, users, rows, history, applied_batch_ids=[100, 101], now_ms=NOW)
    for state in users.values():
        state.version = 1  # the first stored version
    assert store.load_users(1, [5, 6, 7]) == users and store.load_users(2, [5]) == {}
    assert store.memberships_of(1, [5])[5][1] == rows[0]
    assert store.unapplied(1, [100, 102]) == {102} and store.unapplied(2, [100]) == {100}
    with pytest.raises(AlreadyApplied):
        store.save(1, {7: UserState()}, [], [], applied_batch_ids=[101, 103])
    assert store.load_users(1, [7]) == {} and store.unapplied(1, [103]) == {103}  # nothing written
    assert store.due(NOW, 10) == [(1, 6, NOW)]
    assert [m.mpid for m in store.members(1, None, 10)] == [5] and store.members(1, 5, 10) == []
    assert (store.size(1), store.size(2), store.size(3)) == (1, 1, 0)
    assert store.history(1, 5, 10) == history and store.history(1, 6, 10) == []
    assert store.change_counts(1, NOW) == (1, 0) and store.change_counts(1, NOW + 1) == (0, 0)
    assert store.mpids_with_state(1, None, 10) == [5, 6] and store.mpids_with_state(1, 5, 10) == [6]
    # A change carries only its own time; the other stored time is kept.
    store.save(1, {}, [Membership(audience_id=1, workspace_id=1, mpid=5, left_ms=20)], [])
    assert store.size(1) == 0 and 1 not in store.memberships_of(1, [5])[5]
    store.save(1, {}, [Membership(audience_id=1, workspace_id=1, mpid=5, member=True, joined_ms=30)], [])
    again = store.memberships_of(1, [5])[5][1]
    assert (again.joined_ms, again.left_ms, again.identities) == (30, 20, {})


def item(batch_id: int, mpid: int, events: list[dict[str, Any]], new: bool = True, **attrs: Any) -> WorkItem:
    body = {"environment": "production", "mpid": str(mpid), "user_attributes": attrs, "events": events}
    item = work_item(body, batch_id=batch_id, received_ms=NOW)
    item.notes["new"] = new
    return item


def buy(ts: int = NOW) -> dict[str, Any]:
    return {
        "event_type": "custom_event",
        "data": {"event_name": "Buy", "custom_event_type": "other", "timestamp_unixtime_ms": ts},
    }


def setup(sql_engine: Engine) -> tuple[SqlAudienceStore, AudienceEngine, CollectingSink, AudienceAdmin]:
    config = SqlConfigStore(sql_engine)
    org = config.create_organization("o")
    account = config.create_account(org.id, "a")
    config.create_workspace(account.id, "w")
    store = SqlAudienceStore(sql_engine)
    engine = AudienceEngine(store, config, SqlProfileStore(sql_engine), NoIdentities())
    sink = CollectingSink()
    return store, engine, sink, AudienceAdmin(store, engine, sink, clock=lambda: NOW)


def test_phase_counts_each_batch_once_under_redelivery(sql_engine: Engine) -> None:
    store, engine, sink, admin = setup(sql_engine)
    twice = {
        "event": {
            "type": "custom_event",
            "name": "buy",
            "count": {"operator": "greater_or_equal", "value": 2},
        }
    }
    a = admin.create(1, 1, {"name": "twice", "criteria": twice})
    admin.activate(a)
    jobs = AudienceJobs(engine, SqlEventStore(sql_engine), sink, HeldLease(), clock=lambda: NOW)
    jobs.tick()  # nothing stored: the calculation finishes at once
    assert store.get(a.id).status == Status.ACTIVE  # type: ignore[union-attr]
    phase = AudiencePhase(engine, sink)
    phase.run([item(1, 5, [buy()])], NOW, ProcessingReport())
    phase.run([item(1, 5, [buy()], new=False)], NOW, ProcessingReport())  # redelivered: not counted again
    assert store.size(a.id) == 0 and sink.changes == []
    phase.run([item(2, 5, [buy()])], NOW, ProcessingReport())
    assert store.size(a.id) == 1
    assert [(c.action, c.mpid, c.identities) for c in sink.changes] == [(ChangeAction.ADD, 5, {"mpid": "5"})]
    assert [h.action for h in store.history(a.id, 5, 10)] == ["add"]
    # Time passes: the re-check job drops the user once the 30-day window has expired.
    next_check = store.load_users(1, [5])[5].next_check_ms
    assert next_check is not None and next_check > NOW + 29 * 86_400_000
    AudienceJobs(engine, SqlEventStore(sql_engine), sink, HeldLease(), clock=lambda: next_check).tick()
    assert store.size(a.id) == 0 and sink.changes[-1].action == ChangeAction.REMOVE
    admin.delete(a)
    assert sink.changes[-1].action == ChangeAction.DELETE and sink.changes[-1].mpid == 0


def test_activation_over_history_then_live(sql_engine: Engine) -> None:
    store, engine, sink, admin = setup(sql_engine)
    events = SqlEventStore(sql_engine)
    old = item(10, 8, [buy(NOW - 86_400_000)])
    events.save([to_processed(old.batch, old.record)])
    a = admin.create(1, 1, {"name": "buyers", "criteria": {"event": {"type": "custom_event", "name": "Buy"}}})
    admin.activate(a)
    assert store.get(a.id).boundary_seq == store.max_seq(1) > 0  # type: ignore[union-attr]
    # A batch stored before activation but processed after it is the calculation's, not the phase's.
    AudiencePhase(engine, sink).run([old], NOW, ProcessingReport())
    AudienceJobs(engine, events, sink, HeldLease(), clock=lambda: NOW).tick()
    got = store.get(a.id)
    assert got is not None and got.status == Status.ACTIVE and got.progress_seq == got.boundary_seq
    assert [m.mpid for m in store.members(a.id, None, 10)] == [8]
    key = next(iter(store.load_users(1, [8])[8].events))
    assert sum(store.load_users(1, [8])[8].events[key].values()) == 1
    assert store.stored_seqs(1, [10, 11]) == {10: got.boundary_seq}


def test_a_stale_state_is_not_saved(sql_engine: Engine) -> None:
    store = SqlAudienceStore(sql_engine)
    store.save(1, {5: UserState(device={"os": "a"}), 6: UserState()}, [], [])
    first, second = store.load_users(1, [5, 6]), store.load_users(1, [5, 6])
    assert first[5].version == 1
    first[5].device = {"os": "b"}
    store.save(1, first, [], [])
    second[5].device = {"os": "c"}  # loaded before the save above
    with pytest.raises(StaleState):
        store.save(1, second, [], [], applied_batch_ids=[9])
    assert store.load_users(1, [5])[5].device == {"os": "b"} and store.unapplied(1, [9]) == {9}
    with pytest.raises(StaleState):
        store.save(1, {7: UserState(), 6: UserState()}, [], [])  # 6 exists already
    assert store.load_users(1, [7]) == {}


def test_a_kept_state_stands_for_its_row_only_at_the_version_saved(sql_engine: Engine) -> None:
    """A store hands a state it saved out again instead of decoding the row, only while the row is
    still at the version that save gave it; a state whose save failed is not handed out again."""
    ours, theirs = SqlAudienceStore(sql_engine), SqlAudienceStore(sql_engine)  # two workers
    ours.save(1, {5: UserState(device={"os": "a"}), 6: UserState(device={"os": "a"})}, [], [])
    loaded = ours.load_users(1, [5, 6])
    assert loaded[5].device == {"os": "a"} and loaded[5].version == 1
    loaded[5].device = {"os": "b"}
    ours.save(1, {5: loaded[5]}, [], [])
    again = ours.load_users(1, [5])
    assert again[5] is loaded[5] and again[5].version == 2 and again[5].device == {"os": "b"}
    ours.save(1, again, [], [])
    other = theirs.load_users(1, [5])
    assert other[5].device == {"os": "b"} and other[5].version == 3
    other[5].device = {"os": "c"}
    theirs.save(1, other, [], [])
    assert ours.load_users(1, [5])[5].device == {"os": "c"}  # saved by the other worker meanwhile
    mine = ours.load_users(1, [6])
    theirs.save(1, theirs.load_users(1, [6]), [], [])
    mine[6].device = {"os": "x"}
    with pytest.raises(StaleState):
        ours.save(1, mine, [], [])
    fresh = ours.load_users(1, [6])[6]
    assert fresh is not mine[6] and fresh.device == {"os": "a"} and fresh.version == 2


def test_kept_states_are_bounded(sql_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audience_store, "_STATES_KEPT", 4)
    store = SqlAudienceStore(sql_engine)
    store.save(1, {m: UserState(device={"os": str(m)}) for m in range(1, 7)}, [], [])
    store.save(1, {m: UserState(device={"os": str(m)}) for m in range(7, 13)}, [], [])
    assert len(store._states) <= 2 + 6  # the newer half of the limit, and the last save's users
    loaded = store.load_users(1, list(range(1, 13)))
    assert {m: s.device["os"] for m, s in loaded.items()} == {m: str(m) for m in range(1, 13)}
    assert all(s.version == 1 for s in loaded.values())


class CountingProfiles(SqlProfileStore):
    """The real profile store, counting the users the audience phase reads again."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.read: list[int] = []

    def load(self, workspace_id: int, mpids: Sequence[int]) -> dict[int, Profile]:
        self.read.extend(mpids)
        return super().load(workspace_id, mpids)


def test_a_noted_profile_is_used_only_while_no_other_worker_saved_the_user(sql_engine: Engine) -> None:
    store, _engine, sink, admin = setup(sql_engine)
    profiles = CountingProfiles(sql_engine)
    engine = AudienceEngine(store, SqlConfigStore(sql_engine), profiles, NoIdentities())
    gold = {
        "user_attribute": {
            "name": "tier",
            "condition": {"type": "string", "operator": "exact_match", "value": "gold"},
        }
    }
    a = admin.create(1, 1, {"name": "gold", "criteria": gold})
    admin.activate(a)
    AudienceJobs(engine, SqlEventStore(sql_engine), sink, HeldLease(), clock=lambda: NOW).tick()
    merge = ProfilePhase(SqlProfileStore(sql_engine))
    here, elsewhere = AudiencePhase(engine, sink), AudiencePhase(engine, sink)  # two worker processes
    stale = merge.run([item(1, 5, [], tier="silver")], NOW, ProcessingReport())
    newer = merge.run([item(2, 5, [], tier="gold")], NOW, ProcessingReport())
    elsewhere.run(newer, NOW, ProcessingReport())  # a user new to audiences: the noted profile serves
    assert store.size(a.id) == 1 and profiles.read == []
    # The other worker saved the user after this group's profile was read: read it again, so the
    # older profile does not undo the newer answer.
    here.run(stale, NOW, ProcessingReport())
    assert store.size(a.id) == 1 and profiles.read == [5]
    # This worker saved the user last, before the next group's profile was read: the note serves.
    here.run(merge.run([item(3, 5, [], tier="silver")], NOW, ProcessingReport()), NOW, ProcessingReport())
    assert store.size(a.id) == 0 and profiles.read == [5]
    assert [c.action for c in sink.changes] == [ChangeAction.ADD, ChangeAction.REMOVE]
