"""Deciding memberships for a set of users: loads what the criteria read in bulk (profiles, CA values,
memberships, identities when needed), evaluates, and turns transitions into membership changes,
history and rows. Shared by the processing phase, the re-check job and calculations over history."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from fermion.audiences.criteria import UserView
from fermion.audiences.evaluate import (
    CompiledAudience,
    Outcome,
    WorkspaceAudiences,
    build_workspace,
    evaluate_transitions,
)
from fermion.audiences.records import Audience, HistoryEntry, Kind, Membership, Status, UserState
from fermion.audiences.touch import AffectIndex, Touch
from fermion.model.audiences import ChangeAction, MembershipChange, change_id_of
from fermion.ports import ConfigStore, IdentityLookup, ProfileStore
from fermion.ports.audiences import AudienceStore
from fermion.ports.calculated import CalculatedValues
from fermion.profiles.state import Profile


class NoCalculatedValues:
    """CalculatedValues when no calculated attributes are wired: nobody has any."""

    def values_for(self, workspace_id: int, mpids: Sequence[int], now_ms: int) -> dict[int, dict[str, str]]:
        return {}


@dataclass
class Decisions:
    """What one round of evaluation produced for a workspace."""

    memberships: list[Membership] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    changes: list[MembershipChange] = field(default_factory=list)


def view_of(
    mpid: int,
    profile: Profile | None,
    state: UserState | None,
    calculated: dict[str, str] | None = None,
    memberships: dict[int, bool] | None = None,
) -> UserView:
    # Built in one call with every field given (made per user evaluated: no default factories).
    attributes: dict[str, Any] = {}
    consent: dict[tuple[str, str], bool] = {}
    first_seen: int | None = None
    device: dict[str, str] = {}
    if profile is not None:
        attributes = profile.live_attributes()
        if profile.consent:
            consent = {k: c.consented for k, c in profile.consent.items()}
        if profile.header is not None:
            first_seen = profile.header.first_seen_ms
        if "platform" not in (state.device if state else {}):
            platforms = [d.platform for d in profile.devices.values() if d.platform]
            if platforms:
                device = {"platform": platforms[-1]}
    events: dict[str, dict[int, int]] = {}
    if state is not None:
        events = state.events
        device = {**device, **state.device} if device else dict(state.device)
    return UserView(
        mpid,
        attributes,
        consent,
        {},
        {} if calculated is None else calculated,
        {} if memberships is None else memberships,
        device,
        first_seen,
        events,
        {},
    )


class AudienceEngine:
    def __init__(
        self,
        store: AudienceStore,
        config: ConfigStore,
        profiles: ProfileStore,
        identities: IdentityLookup,
        calculated: CalculatedValues | None = None,
    ) -> None:
        self.store = store
        self._config = config
        self._profiles = profiles
        self._identities = identities
        self._calculated = calculated or NoCalculatedValues()
        self._cache: dict[int, tuple[tuple[object, ...], WorkspaceAudiences]] = {}
        self._orgs: dict[int, int] = {}
        self._known: dict[int, set[int]] = {}  # ids of each workspace's audiences (not deleted)

    def invalidate(self, workspace_id: int) -> None:
        self._cache.pop(workspace_id, None)

    def workspace(self, workspace_id: int) -> WorkspaceAudiences:
        """The workspace's compiled audiences. The definitions are read every time (one small indexed
        query), so a group processed after an activation committed always sees it: that is what splits
        history between the calculation job and this phase. Compiling is cached by version."""
        signature = tuple(self.store.versions(workspace_id))
        hit = self._cache.get(workspace_id)
        if hit is not None and hit[0] == signature:
            return hit[1]
        all_ = self._store_list(workspace_id)
        self._known[workspace_id] = {a.id for a in all_}
        signature = tuple((a.id, a.status.value, a.activated_ms, a.updated_ms) for a in all_)
        real_time = [a for a in all_ if a.kind == Kind.REAL_TIME]
        built = build_workspace(
            [a for a in real_time if a.status == Status.ACTIVE],
            [a for a in real_time if a.status == Status.CALCULATING],
            [a for a in all_ if a.kind == Kind.STANDARD and a.status in (Status.CALCULATING, Status.ACTIVE)],
        )
        self._cache[workspace_id] = (signature, built)
        return built

    def _store_list(self, workspace_id: int) -> list[Audience]:
        return self.store.list_audiences([workspace_id])

    def org_of(self, workspace_id: int) -> int:
        org = self._orgs.get(workspace_id)
        if org is None:
            ws = self._config.get_workspace(workspace_id)
            org = ws.org_id if ws is not None else 0
            self._orgs[workspace_id] = org
        return org

    def identities_of(self, workspace_id: int, mpid: int) -> dict[str, str]:
        """Canonical identity type -> value (the most recently linked value of a type), plus "mpid"."""
        found = dict(self._identities.identities_of(self.org_of(workspace_id), mpid))
        found["mpid"] = str(mpid)
        return found

    def decide(
        self,
        workspace_id: int,
        audiences: Sequence[CompiledAudience],
        users: dict[int, UserState],
        mpids: Iterable[int],
        now_ms: int,
        versions: dict[int, int],
        identity_hints: Set[int] = frozenset(),
        publish: bool = True,
        all_audiences: bool = True,
        touches: dict[int, Touch] | None = None,
        known_profiles: Mapping[int, Profile] | None = None,
        known_calculated: Mapping[int, dict[str, str]] | None = None,
        noted_calculated: Callable[[list[int]], Mapping[int, dict[str, str]]] | None = None,
    ) -> Decisions:
        """Evaluate `audiences` for the users. `versions[mpid]` names what caused the evaluation (a
        batch's receive time, a re-check time), so evaluating the same cause again yields the same
        change ids; users in `identity_hints` may have new identities (members get an identity change
        if so). With publish=False transitions are stored but no changes are produced.

        Each user's re-check time (`users[mpid].next_check_ms`, the earliest time an answer may change
        with time alone) is set from these audiences; with all_audiences=False (some of the workspace's
        audiences only) it can only move earlier. With `touches`, only the audiences reading what
        changed for a user are evaluated (the others keep their answer; see evaluate.Touch).
        `known_profiles` / `known_calculated`: current profiles / CA values of some users (from the
        earlier phases), which are then not read again; `noted_calculated` gives the CA values it knows
        of those of the users given whose evaluation reads them (the others are read)."""
        out = Decisions()
        ordered = sorted(set(mpids))
        if not ordered:
            return out
        states = {m: users.setdefault(m, UserState()) for m in ordered}
        touch_of = touches.get if touches is not None else (lambda _m: None)
        index = AffectIndex(audiences)
        # The audiences each partially touched user's changes affect (no entry: every audience).
        chosen_of: dict[int, set[int]] = {}
        for mpid in ordered:
            touch = touch_of(mpid)
            if touch is not None and not touch.everything:
                chosen_of[mpid] = index.positions(touch)
        profiles = dict(known_profiles or {})
        need_profiles = [
            m
            for m in self._needing(audiences, index, ordered, chosen_of, "uses_profile")
            if m not in profiles
        ]
        if need_profiles:
            profiles.update(self._profiles.load(workspace_id, need_profiles))
        calculated = dict(known_calculated or {})
        need_ca = [
            m
            for m in self._needing(audiences, index, ordered, chosen_of, "uses_calculated")
            if m not in calculated
        ]
        if need_ca and noted_calculated is not None:
            calculated.update(noted_calculated(need_ca))
            need_ca = [m for m in need_ca if m not in calculated]
        if need_ca:
            calculated.update(self._calculated.values_for(workspace_id, need_ca, now_ms))
        uses_identities = any(c.compiled.uses_identities for c in audiences)
        by_id = {c.audience.id: c for c in audiences}
        live = set(by_id)
        decided: list[tuple[int, list[Outcome], dict[str, str] | None]] = []
        for mpid in ordered:
            state = states[mpid]
            view = view_of(
                mpid, profiles.get(mpid), state, calculated.get(mpid, {}), dict.fromkeys(state.members, True)
            )
            ids: dict[str, str] | None = None
            if uses_identities:
                ids = view.identities = self.identities_of(workspace_id, mpid)
            touch = touch_of(mpid)
            partial = not all_audiences or (touch is not None and not touch.everything)
            next_check = state.next_check_ms if partial else None
            transitions, check = evaluate_transitions(
                audiences, view, state.members, now_ms, touch, index, chosen_of.get(mpid)
            )
            if check is not None and (next_check is None or check < next_check):
                next_check = check
            state.next_check_ms = next_check
            if transitions or not live.issuperset(state.members):
                # Memberships of audiences not evaluated here stay, unless the audience is gone.
                known = self._known.get(workspace_id) if all_audiences else None
                kept = [a for a in state.members if a not in live and (known is None or a in known)]
                state.members = sorted(
                    {*kept, *(a for a, member in view.memberships.items() if member and a in live)}
                )
            if mpid in identity_hints:
                # Every audience the user stays a member of (evaluated now or not) re-checks the
                # identities it last sent.
                moved = {o.audience.id for o in transitions}
                transitions += [
                    Outcome(by_id[a].audience, True, True, None)
                    for a in state.members
                    if a in by_id and a not in moved
                ]
            if transitions:
                decided.append((mpid, transitions, ids))
        if not decided:
            return out
        # Rows as last written, for the identities a removal or an identity change compares with (an
        # addition needs none).
        wanted = [(m, o.audience.id) for m, found, _ in decided for o in found if not o.joined]
        previous = (
            self.store.memberships_of(
                workspace_id, sorted({m for m, _ in wanted}), sorted({a for _, a in wanted})
            )
            if wanted
            else {}
        )
        for mpid, transitions, ids in decided:
            rows = previous.get(mpid, {})
            version = versions.get(mpid, now_ms)
            for outcome in transitions:
                a = outcome.audience
                before = rows.get(a.id) if rows else None
                sent = before.identities if before is not None else {}
                member, was_member = outcome.member, outcome.was_member
                if member and not was_member:
                    action = ChangeAction.ADD
                elif was_member and not member:
                    action = ChangeAction.REMOVE
                else:
                    ids = ids if ids is not None else self.identities_of(workspace_id, mpid)
                    if ids == sent:
                        continue
                    action = ChangeAction.IDENTITY_CHANGE
                ids = ids if ids is not None else self.identities_of(workspace_id, mpid)
                out.memberships.append(
                    Membership(
                        audience_id=a.id,
                        workspace_id=workspace_id,
                        mpid=mpid,
                        member=member,
                        joined_ms=now_ms if action is ChangeAction.ADD else 0,  # 0: keeps the stored time
                        left_ms=now_ms if action is ChangeAction.REMOVE else 0,
                        identities=sent if action is ChangeAction.REMOVE else ids,
                    )
                )
                out.history.append(
                    HistoryEntry(audience_id=a.id, mpid=mpid, action=action, changed_ms=now_ms)
                )
                if publish:
                    out.changes.append(self.change(a, mpid, action, version, now_ms, ids, sent))
        return out

    @staticmethod
    def _needing(
        audiences: Sequence[CompiledAudience],
        index: AffectIndex,
        mpids: list[int],
        chosen_of: dict[int, set[int]],
        flag: str,
    ) -> list[int]:
        """The users for whom an audience reading `flag`'s data will be evaluated (audiences that
        reference others count whenever anything is evaluated for the user)."""
        readers = {pos for pos, c in enumerate(audiences) if getattr(c.compiled, flag)}
        if not readers:
            return []
        referencing = not readers.isdisjoint(index.referencing)

        def needs(chosen: set[int] | None) -> bool:
            if chosen is None:
                return True
            return not readers.isdisjoint(chosen) or (referencing and bool(chosen))

        return [mpid for mpid in mpids if needs(chosen_of.get(mpid))]

    @staticmethod
    def change(
        audience: Audience,
        mpid: int,
        action: ChangeAction,
        version_ms: int,
        changed_ms: int,
        identities: dict[str, str],
        previous: dict[str, str],
    ) -> MembershipChange:
        return MembershipChange(
            change_id=change_id_of(audience.id, mpid, action.value, version_ms),
            workspace_id=audience.workspace_id,
            audience_id=audience.id,
            audience_name=audience.display_name,
            action=action,
            mpid=mpid,
            changed_ms=changed_ms,
            identities=identities if action != ChangeAction.REMOVE or not previous else previous,
            previous_identities=previous if action == ChangeAction.IDENTITY_CHANGE else {},
        )
