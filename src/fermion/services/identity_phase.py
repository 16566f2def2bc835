"""The identity phase: gives every batch its MPID (IDSync), in bulk for the group.

A batch's own `mpid` is honoured (identities nobody holds yet are linked to it, silently: a client
that knows its MPID, such as the Web SDK, reports its own identity changes); otherwise its user and
device identities are resolved like an identify call under the workspace strategy, and identities
the batch newly links to its profile add `user_identity_change` events to it. Idempotent: a new MPID
derives from the batch id, and links remember the batch that made them, so reprocessing a batch
yields the same MPID and the same events (deduplicated by event id when stored).

Most batches come from users seen before, with nothing new about them: every identity they carry is
held by one and the same profile alone, which holds no login identity they fail to match. For them
`sole_match` gives what resolution would (that profile, rule "matched", nothing to write) without
resolving; it is asked once per set of identities in a group and reused while the group's view is
unchanged. Everything lives for one group only: each group loads what it rests on afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

from msgspec import structs

from fermion.identity.batch import BatchIdentity, attach, batch_identities, identity_change_events, linked_by
from fermion.identity.resolve import RequestKind, ResolveRequest, Screened, resolve, screen, sole_match
from fermion.identity.settings import Rules
from fermion.identity.types import Key
from fermion.identity.view import IdentityView
from fermion.model.events import Event
from fermion.model.ids import derived_id
from fermion.ports import IdentityConflict, IdentityStore
from fermion.services.identity import MAX_ATTEMPTS, IdentityBusy, IdentityService
from fermion.services.processing import ProcessingReport, WorkItem

NOTE = "identity"  # item.notes[NOTE]: the BatchIdentity of the batch, for later phases


@dataclass(slots=True, eq=False)
class _Identities:
    """One set of identities under one workspace's rules, screened once for all the group's batches
    that carry it (the same users send again and again). Compared and hashed by identity: the
    group's batches that carry it share this one object."""

    rules: Rules
    identities: list[tuple[str, str | None]]
    ids: Screened
    keys: list[Key]


_IdentityList = tuple[tuple[str, str | None], ...]
_Prepared = tuple[WorkItem, _Identities]  # a batch of the group, with its identities

# _Identities -> (view.writes, sole_match then, the batches that linked its keys to that profile):
# what the view said while it stays unchanged. Lives for one attempt at one organization's group.
_Match = tuple[int, int | None, frozenset[int | None]]
_Matches = dict[_Identities, _Match]


def _match(who: _Identities, view: IdentityView) -> _Match:
    found = sole_match(who.ids, view, who.rules)
    if found is None:
        return view.writes, None, frozenset()
    mpid, links = found
    return view.writes, mpid, frozenset(link.created_by for link in links)


class IdentityPhase:
    name = "identity"

    def __init__(self, service: IdentityService, store: IdentityStore) -> None:
        self._service = service
        self._store = store

    def run(self, items: list[WorkItem], now_ms: int, report: ProcessingReport) -> list[WorkItem]:
        by_org: dict[int, list[_Prepared]] = {}
        # Per workspace, for this group: its organization's batches, its rules (read once: the service
        # caches them for seconds anyway) and its batches' identity sets, each screened once.
        workspaces: dict[int, tuple[list[_Prepared], Rules, dict[_IdentityList, _Identities]]] = {}
        for item in items:
            workspace_id = item.record.workspace_id
            workspace = workspaces.get(workspace_id)
            if workspace is None:
                try:
                    org = self._service.org_of(workspace_id)
                except LookupError:  # the workspace is gone: keep the batch, with a stable stand-in MPID
                    item.batch = structs.replace(item.batch, mpid=item.batch.mpid or _stand_in(item))
                    continue
                rules = self._service.rules(workspace_id)
                workspace = workspaces[workspace_id] = (by_org.setdefault(org, []), rules, {})
            prepared, rules, screened = workspace
            identities = batch_identities(item.batch)
            memo_key = tuple(identities)
            who = screened.get(memo_key)
            if who is None:
                ids = screen(identities, rules)
                who = screened[memo_key] = _Identities(
                    rules, identities, ids, [(t, v) for t, (v, _) in ids.items()]
                )
            prepared.append((item, who))
        for org, group in by_org.items():
            self._run_org(org, group, now_ms)
        return items

    def _run_org(self, org: int, group: list[_Prepared], now_ms: int) -> None:
        keys: set[Key] = set()
        for who in dict.fromkeys(who for _, who in group):
            keys.update(who.keys)
        given = {item.batch.mpid for item, _ in group if item.batch.mpid}
        for attempt in range(MAX_ATTEMPTS):
            view = IdentityView(self._store.load(org, keys, given))
            matches: _Matches = {}
            outcomes = [self._one(org, p, view, now_ms, attempt, matches) for p in group]
            try:
                self._store.apply(org, view.changes())
            except IdentityConflict:
                continue
            for (item, _), (identity, events) in zip(group, outcomes, strict=True):
                batch = item.batch
                if events:
                    batch = structs.replace(batch, mpid=identity.mpid, events=[*batch.events, *events])
                else:
                    batch = structs.replace(batch, mpid=identity.mpid)
                item.batch = batch
                item.notes[NOTE] = identity
                held = view.profile(identity.mpid)  # every identity of the user is in the view
                item.identities = held.identities if held is not None else None
            return
        raise IdentityBusy(f"identity writes for organization {org} kept conflicting")

    def _one(
        self, org: int, p: _Prepared, view: IdentityView, now_ms: int, attempt: int, matches: _Matches
    ) -> tuple[BatchIdentity, list[Event]]:
        item, who = p
        record, batch = item.record, item.batch
        batch_id = record.batch_id
        if batch.mpid:  # 0 is the SDKs' "no user yet"
            added = attach(view, batch.mpid, who.ids, who.rules, record.workspace_id, now_ms, batch_id)
            return BatchIdentity(org, batch.mpid, False, given=True, added=added, rule="given_mpid"), []
        seen = matches.get(who)
        if seen is None or seen[0] != view.writes:
            seen = matches[who] = _match(who, view)
        _, known, creators = seen
        if known is not None:  # nothing new about this user: what resolve() decides, without it
            if batch_id not in creators:
                return BatchIdentity(org, known, False, given=False, added=[], rule="matched"), []
            added = linked_by(view, known, who.keys, batch_id)  # this batch, processed again
            identity = BatchIdentity(org, known, False, given=False, added=added, rule="matched")
            return identity, identity_change_events(batch_id, known, added, view, record.received_ms)
        request = ResolveRequest(RequestKind.BATCH, who.identities, record.workspace_id, created_by=batch_id)
        decision = resolve(request, view, who.rules, lambda: _batch_mpid(org, batch_id, attempt), now_ms)
        mpid = decision.mpid
        assert mpid is not None
        added = list(dict.fromkeys([*decision.added, *linked_by(view, mpid, who.keys, batch_id)]))
        rule = decision.explanation.rule if decision.explanation else ""
        identity = BatchIdentity(org, mpid, decision.created, given=False, added=added, rule=rule)
        return identity, identity_change_events(batch_id, mpid, added, view, record.received_ms)


def _batch_mpid(org: int, batch_id: int, attempt: int) -> int:
    """A new profile's MPID, derived from the batch that creates it (the same on reprocessing)."""
    mpid = derived_id("mpid", org, batch_id, attempt)
    return mpid if mpid not in (0, -1) else derived_id("mpid", org, batch_id, attempt, "again")


def _stand_in(item: WorkItem) -> int:
    return derived_id("mpid", item.record.workspace_id, "no-organization", item.record.batch_id)
