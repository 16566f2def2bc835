"""IdentityStore contract (SQLite and PostgreSQL): lookups, optimistic writes and their conflicts,
settings, alias records, event re-attribution, and racing writers creating exactly one MPID."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from sqlalchemy import Engine, func, select

from fermion.adapters.sql import SqlConfigStore, SqlEventStore
from fermion.adapters.sql.event_alias import SqlEventReattribution
from fermion.adapters.sql.identity_store import SqlIdentityStore
from fermion.adapters.sql.schema_identity import identity_keys, identity_profiles
from fermion.identity.alias import AliasRequest
from fermion.identity.records import IdentityConflict, NewProfile
from fermion.identity.resolve import RequestKind
from fermion.identity.settings import IdentitySettings, Strategy, defaults_for
from fermion.identity.view import IdentityView
from fermion.model.codec import decode_batch
from fermion.model.records import InboundRecord, ProcessedBatch, StoredEvent
from fermion.ports import IdentityStore
from fermion.services.identity import IdentityService
from fermion.services.identity_phase import IdentityPhase
from fermion.services.processing import ProcessingReport, WorkItem

ORG = 5
T0 = 1_700_000_000_000


@pytest.fixture
def store(sql_engine: Engine) -> SqlIdentityStore:
    return SqlIdentityStore(sql_engine)


def create(store: IdentityStore, mpid: int, *pairs: tuple[str, str], created_by: int | None = None) -> None:
    view = IdentityView(store.load(ORG, pairs, [mpid]))
    view.create_profile(NewProfile(mpid, T0, 1, created_by))
    for key in pairs:
        view.link(key, mpid, T0, created_by)
    store.apply(ORG, view.changes())


def test_find_mpid_and_identities_of(store: SqlIdentityStore) -> None:
    create(store, 11, ("customer_id", "c-1"), ("email", "a@example.com"))
    assert store.find_mpid(ORG, "customer_id", "c-1") == 11
    assert store.find_mpid(ORG, "customerid", "c-1") == 11  # the IDSync spelling
    assert store.find_mpid(ORG, "email", "nobody@example.com") is None
    assert store.find_mpid(ORG + 1, "customer_id", "c-1") is None  # identities are per organization
    assert sorted(store.identities_of(ORG, 11)) == [("customer_id", "c-1"), ("email", "a@example.com")]
    assert store.identities_of(ORG, 999) == []
    assert store.existing_mpids(ORG, [11, 12]) == frozenset({11})
    assert store.home_workspace(ORG, 11) == 1  # the workspace it was created through
    assert store.home_workspace(ORG, 999) is None and store.home_workspace(ORG + 1, 11) is None


def test_find_mpid_prefers_the_most_recent_holder(store: SqlIdentityStore) -> None:
    create(store, 21, ("device_application_stamp", "d"))
    view = IdentityView(store.load(ORG, [("device_application_stamp", "d")]))
    view.create_profile(NewProfile(22, T0 + 1, 1, None))
    view.link(("device_application_stamp", "d"), 22, T0 + 1, None)
    store.apply(ORG, view.changes())
    assert store.find_mpid(ORG, "device_application_stamp", "d") == 22


def test_load_returns_holders_and_their_whole_profiles(store: SqlIdentityStore) -> None:
    create(store, 31, ("customer_id", "c"), ("email", "e"))
    snap = store.load(ORG, [("email", "e"), ("email", "missing")], [77])
    assert {(r.identity_type, r.value, r.mpid) for r in snap.links} == {
        ("customer_id", "c", 31),
        ("email", "e", 31),
    }
    assert snap.profiles == []  # profile rows only for the MPIDs asked for
    assert [p.mpid for p in store.load(ORG, [], [31, 77]).profiles] == [31]


def test_claiming_a_new_identity_twice_conflicts(store: SqlIdentityStore) -> None:
    first = IdentityView(store.load(ORG, [("customer_id", "x")]))
    second = IdentityView(store.load(ORG, [("customer_id", "x")]))
    for view, mpid in ((first, 41), (second, 42)):
        view.create_profile(NewProfile(mpid, T0, 1, None))
        view.link(("customer_id", "x"), mpid, T0, None)
    store.apply(ORG, first.changes())
    with pytest.raises(IdentityConflict):
        store.apply(ORG, second.changes())
    assert store.existing_mpids(ORG, [41, 42]) == frozenset({41})  # nothing of the loser was written


def test_a_value_whose_holders_changed_conflicts(store: SqlIdentityStore) -> None:
    create(store, 51, ("email", "e"))
    create(store, 52)
    stale = IdentityView(store.load(ORG, [("email", "e")], [52]))
    fresh = IdentityView(store.load(ORG, [("email", "e")], [52]))
    fresh.unlink(("email", "e"), 51)
    fresh.link(("email", "e"), 52, T0, None)
    store.apply(ORG, fresh.changes())
    assert store.identities_of(ORG, 51) == [] and store.identities_of(ORG, 52) == [("email", "e")]
    stale.link(("email", "e"), 52, T0, None)  # decided on the old state
    stale.unlink(("email", "e"), 51)
    with pytest.raises(IdentityConflict):
        store.apply(ORG, stale.changes())


def test_a_profile_whose_identities_changed_conflicts(store: SqlIdentityStore) -> None:
    create(store, 61, ("device_application_stamp", "d"))
    a = IdentityView(store.load(ORG, [("customer_id", "a")], [61]))
    b = IdentityView(store.load(ORG, [("customer_id", "b")], [61]))
    a.link(("customer_id", "a"), 61, T0, None)
    b.link(("customer_id", "b"), 61, T0, None)  # both convert the same anonymous profile
    store.apply(ORG, a.changes())
    with pytest.raises(IdentityConflict):
        store.apply(ORG, b.changes())


def test_fresh_mpid_must_be_unused_unless_the_same_batch_made_it(store: SqlIdentityStore) -> None:
    create(store, 71, created_by=900)
    for created_by, conflicts in ((901, True), (None, True), (900, False)):
        view = IdentityView(store.load(ORG, []))
        view.create_profile(NewProfile(71, T0, 1, created_by, fresh=True))
        if conflicts:
            with pytest.raises(IdentityConflict):
                store.apply(ORG, view.changes())
        else:
            store.apply(ORG, view.changes())
    view = IdentityView(store.load(ORG, []))
    view.create_profile(NewProfile(71, T0, 1, None, fresh=False))  # a given MPID may exist already
    store.apply(ORG, view.changes())


def test_settings_round_trip(store: SqlIdentityStore) -> None:
    assert store.get_settings(3) is None
    settings = msgspec.structs.replace(defaults_for(Strategy.PROFILE_LINK), blocked_values=("x",))
    store.save_settings(3, settings)
    store.save_settings(3, settings)
    assert store.get_settings(3) == settings
    store.save_settings(3, IdentitySettings())
    assert store.get_settings(3) == IdentitySettings()


def test_alias_records_are_kept_once_per_request_id(store: SqlIdentityStore) -> None:
    req = AliasRequest(source_mpid=1, destination_mpid=2, start_ms=T0, end_ms=T0 + 10, request_id="r-1")
    assert store.find_alias(ORG, "r-1") is None
    assert store.record_alias(ORG, 1, req, "applied", "applied", 3) == ("applied", "applied", 3)
    assert store.record_alias(ORG, 1, req, "rejected", "later", 0) == ("applied", "applied", 3)
    assert store.find_alias(ORG, "r-1") == ("applied", "applied", 3)
    history = store.alias_history(ORG, [2])
    assert [(h.source_mpid, h.destination_mpid, h.status) for h in history] == [(1, 2, "applied")]
    assert store.alias_history(ORG + 1, [2]) == []


def test_reassign_mpid_moves_only_the_window(sql_engine: Engine) -> None:
    events = SqlEventStore(sql_engine)

    def stored(event_id: int, ts: int) -> StoredEvent:
        return StoredEvent(
            event_id=event_id, event_type="custom_event", event_name="e", timestamp_ms=ts, payload=b"{}"
        )

    events.save(
        [
            ProcessedBatch(
                batch_id=1,
                workspace_id=1,
                input_id=1,
                environment="production",
                mpid=100,
                received_ms=T0,
                historical=False,
                source_request_id=None,
                device_ids=[],
                events=[stored(1, T0), stored(2, T0 + 50), stored(3, T0 + 100)],
                payload=b"{}",
            )
        ]
    )
    moved = SqlEventReattribution(sql_engine).reassign_mpid(1, 100, 200, T0, T0 + 100)
    assert moved == 2
    assert [e.event_id for e in events.events(1, mpid=200)] == [1, 2]
    assert [e.event_id for e in events.events(1, mpid=100)] == [3]
    assert SqlEventReattribution(sql_engine).reassign_mpid(2, 100, 200, 0, 2 * T0) == 0


def _race(threads: int, work: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(threads)
    results: list[Any] = [None] * threads
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait()
            results[n] = work(n)
        except BaseException as exc:  # reported below
            errors.append(exc)

    pool = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)
    assert not errors, errors
    return results


def test_racing_writers_claim_a_new_identity_once(store: SqlIdentityStore, sql_engine: Engine) -> None:
    changes = []
    for n in range(6):  # every writer decides before any of them writes
        view = IdentityView(store.load(ORG, [("customer_id", "race")]))
        view.create_profile(NewProfile(1000 + n, T0, 1, None))
        view.link(("customer_id", "race"), 1000 + n, T0, None)
        changes.append(view.changes())

    def work(n: int) -> bool:
        try:
            store.apply(ORG, changes[n])
        except IdentityConflict:
            return False
        return True

    won = _race(6, work)
    assert won.count(True) == 1
    with sql_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(identity_profiles)).scalar() == 1


def test_racing_identify_calls_create_exactly_one_mpid(sql_engine: Engine) -> None:
    config = SqlConfigStore(sql_engine)
    org = config.create_organization("o")
    ws = config.create_workspace(config.create_account(org.id, "a").id, "w")
    service = IdentityService(SqlIdentityStore(sql_engine), config)

    def work(n: int) -> int | None:
        ids = [("customerid", "never-seen"), ("device_application_stamp", f"das-{n}")]
        return service.resolve(ws.id, RequestKind.IDENTIFY, ids).mpid

    mpids = _race(8, work)
    assert len(set(mpids)) == 1 and mpids[0] is not None
    store = SqlIdentityStore(sql_engine)
    assert store.find_mpid(org.id, "customer_id", "never-seen") == mpids[0]
    assert len(store.identities_of(org.id, mpids[0])) == 9  # the customer id and all eight devices
    with sql_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(identity_profiles)).scalar() == 1
        assert conn.execute(select(func.count()).select_from(identity_keys)).scalar() == 9


def _phase_item(batch_id: int, workspace_id: int, body: dict[str, Any]) -> WorkItem:
    payload = msgspec.json.encode(
        {"events": [{"event_type": "custom_event", "data": {"event_name": "e"}}], **body}
    )
    record = InboundRecord(
        batch_id=batch_id,
        workspace_id=workspace_id,
        input_id=1,
        environment="production",
        received_ms=T0,
        source_ip="",
        request_id="r",
        historical=False,
        payload=payload,
    )
    return WorkItem(record=record, batch=decode_batch(payload))


def test_two_workers_give_batches_of_one_new_customer_one_mpid(sql_engine: Engine) -> None:
    config = SqlConfigStore(sql_engine)
    org = config.create_organization("o")
    ws = config.create_workspace(config.create_account(org.id, "a").id, "w")
    store = SqlIdentityStore(sql_engine)
    phases = [IdentityPhase(IdentityService(store, config), store) for _ in range(2)]  # two workers
    groups = [
        [
            _phase_item(
                100 * w + n, ws.id, {"user_identities": {"customerid": "shared"}, "mp_deviceid": f"d{w}{n}"}
            )
            for n in range(5)
        ]
        for w in range(2)
    ]
    _race(2, lambda w: phases[w].run(groups[w], T0, ProcessingReport()))
    mpids = {item.batch.mpid for group in groups for item in group}
    assert len(mpids) == 1 and None not in mpids
    links_before = sorted(store.identities_of(org.id, mpids.pop()))  # type: ignore[arg-type]
    assert len(links_before) == 11  # the customer id and ten device stamps
    again = [
        _phase_item(n, ws.id, {"user_identities": {"customerid": "shared"}, "mp_deviceid": f"d0{n}"})
        for n in range(5)
    ]
    phases[0].run(again, T0, ProcessingReport())  # reprocessing: same MPID, no new rows
    assert {item.batch.mpid for item in again} == {groups[0][0].batch.mpid}
    assert sorted(store.identities_of(org.id, groups[0][0].batch.mpid or 0)) == links_before
