"""The identity phase: gives every batch its MPID (IDSync), in bulk for the group.

A batch's own `mpid` is honoured (identities nobody holds yet are linked to it, silently: a client
that knows its MPID, such as the Web SDK, reports its own identity changes); otherwise its user and
device identities are resolved like an identify call under the workspace strategy, and identities
the batch newly links to its profile add `user_identity_change` events to it. Idempotent: a new MPID
derives from the batch id, and links remember the batch that made them, so reprocessing a batch
yields the same MPID and the same events (deduplicated by event id when stored).
"""

from __future__ import annotations

from dataclasses import dataclass

from msgspec import structs

from fermion.identity.batch import BatchIdentity, attach, batch_identities, identity_change_events, linked_by
from fermion.identity.resolve import RequestKind, ResolveRequest, keys_to_load, resolve
from fermion.identity.settings import Rules
from fermion.identity.types import Key
from fermion.identity.view import IdentityView
from fermion.model.events import Event
from fermion.model.ids import derived_id
from fermion.ports import IdentityConflict, IdentityStore
from fermion.services.identity import MAX_ATTEMPTS, IdentityBusy, IdentityService
from fermion.services.processing import ProcessingReport, WorkItem

NOTE = "identity"  # item.notes[NOTE]: the BatchIdentity of the batch, for later phases


@dataclass
class _Prepared:
    item: WorkItem
    rules: Rules
    identities: list[tuple[str, str | None]]
    keys: list[Key]


class IdentityPhase:
    name = "identity"

    def __init__(self, service: IdentityService, store: IdentityStore) -> None:
        self._service = service
        self._store = store

    def run(self, items: list[WorkItem], now_ms: int, report: ProcessingReport) -> list[WorkItem]:
        by_org: dict[int, list[_Prepared]] = {}
        for item in items:
            workspace_id = item.record.workspace_id
            try:
                org = self._service.org_of(workspace_id)
            except LookupError:  # the workspace is gone: keep the batch, with a stable stand-in MPID
                item.batch = structs.replace(item.batch, mpid=item.batch.mpid or _stand_in(item))
                continue
            rules = self._service.rules(workspace_id)
            identities = batch_identities(item.batch)
            prepared = _Prepared(item, rules, identities, keys_to_load(identities, rules))
            by_org.setdefault(org, []).append(prepared)
        for org, group in by_org.items():
            self._run_org(org, group, now_ms)
        return items

    def _run_org(self, org: int, group: list[_Prepared], now_ms: int) -> None:
        keys: set[Key] = set()
        given: set[int] = set()
        for p in group:
            keys.update(p.keys)
            if p.item.batch.mpid:
                given.add(p.item.batch.mpid)
        for attempt in range(MAX_ATTEMPTS):
            view = IdentityView(self._store.load(org, keys, given))
            outcomes = [self._one(org, p, view, now_ms, attempt) for p in group]
            try:
                self._store.apply(org, view.changes())
            except IdentityConflict:
                continue
            for p, (identity, events) in zip(group, outcomes, strict=True):
                batch = p.item.batch
                p.item.batch = structs.replace(batch, mpid=identity.mpid, events=[*batch.events, *events])
                p.item.notes[NOTE] = identity
            return
        raise IdentityBusy(f"identity writes for organization {org} kept conflicting")

    def _one(
        self, org: int, p: _Prepared, view: IdentityView, now_ms: int, attempt: int
    ) -> tuple[BatchIdentity, list[Event]]:
        record, batch = p.item.record, p.item.batch
        batch_id = record.batch_id
        if batch.mpid:  # 0 is the SDKs' "no user yet"
            added = attach(view, batch.mpid, p.identities, p.rules, record.workspace_id, now_ms, batch_id)
            return BatchIdentity(org, batch.mpid, False, given=True, added=added, rule="given_mpid"), []
        request = ResolveRequest(RequestKind.BATCH, p.identities, record.workspace_id, created_by=batch_id)
        decision = resolve(request, view, p.rules, lambda: _batch_mpid(org, batch_id, attempt), now_ms)
        mpid = decision.mpid
        assert mpid is not None
        added = list(dict.fromkeys([*decision.added, *linked_by(view, mpid, p.keys, batch_id)]))
        rule = decision.explanation.rule if decision.explanation else ""
        identity = BatchIdentity(org, mpid, decision.created, given=False, added=added, rule=rule)
        return identity, identity_change_events(batch_id, mpid, added, view, record.received_ms)


def _batch_mpid(org: int, batch_id: int, attempt: int) -> int:
    """A new profile's MPID, derived from the batch that creates it (the same on reprocessing)."""
    mpid = derived_id("mpid", org, batch_id, attempt)
    return mpid if mpid not in (0, -1) else derived_id("mpid", org, batch_id, attempt, "again")


def _stand_in(item: WorkItem) -> int:
    return derived_id("mpid", item.record.workspace_id, "no-organization", item.record.batch_id)
