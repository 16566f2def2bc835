"""Identity resolution (spec 1.9) as a pure function over an IdentityView: which profile a request's
identities name under the workspace strategy, and which identities to link, move or skip.

Lookup walks the request's identities in priority order; the first type that matches decides the
candidates and lower types only break ties. A profile holding a login (or immutable) identity is a
candidate only when the request carries a matching one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from fermion.identity.explain import Explanation, IdentityFinding
from fermion.identity.records import LinkRow, NewProfile
from fermion.identity.settings import Rules, Strategy
from fermion.identity.types import MAX_VALUE_LENGTH, Key, canonical_type, is_device_type, priority_rank
from fermion.identity.view import IdentityView, Profile


class RequestKind(StrEnum):
    IDENTIFY = "identify"
    LOGIN = "login"
    LOGOUT = "logout"
    SEARCH = "search"
    BATCH = "batch"  # an Events API batch without an mpid: resolved like identify


@dataclass(frozen=True)
class ResolveRequest:
    kind: RequestKind
    identities: Sequence[tuple[str, str | None]]  # (key as submitted, value)
    workspace_id: int
    previous_mpid: int | None = None
    created_by: int | None = None  # the batch id, so reprocessing recognises its own writes


@dataclass
class Decision:
    mpid: int | None  # None only when a search found nobody
    created: bool
    is_logged_in: bool
    matched: list[tuple[str, str]]  # (key as submitted, value) already held by the profile
    added: list[Key] = field(default_factory=list)
    explanation: Explanation | None = None


Screened = dict[str, tuple[str, str]]  # canonical type -> (value, key as submitted)
Guard = Callable[[Profile | None], str | None]


def screen(
    identities: Sequence[tuple[str, str | None]], rules: Rules, ex: Explanation | None = None
) -> Screened:
    """The usable identities, one per type: named, non-empty, not blocked (findings note the rest)."""
    if ex is None:
        return _screen_quietly(identities, rules)
    out: Screened = {}
    for key, value in identities:
        identity_type = canonical_type(key)
        finding = IdentityFinding(key=key, identity_type=identity_type, value=value)
        ex.findings.append(finding)
        if identity_type is None:
            finding.status, finding.reason = "ignored", "not an identity type name"
        elif value is None or not value.strip():
            finding.status, finding.reason = "ignored", "empty value"
        elif len(value) > MAX_VALUE_LENGTH:
            finding.status, finding.reason = "ignored", f"longer than {MAX_VALUE_LENGTH} characters"
        elif (why := rules.blocked_reason(value)) is not None:
            finding.status, finding.reason = "blocked", why
        elif identity_type in out:
            same = out[identity_type][0] == value
            finding.status = "ignored"
            finding.reason = "given twice" if same else f"a second {identity_type} in one request"
        else:
            out[identity_type] = (value, key)
    return out


def _screen_quietly(identities: Sequence[tuple[str, str | None]], rules: Rules) -> Screened:
    """`screen` without findings (what the identity phase and attach need, for every batch); the
    same tests in the same order, so both keep the same identities."""
    out: Screened = {}
    for key, value in identities:
        identity_type = canonical_type(key)
        if (
            identity_type is None
            or value is None
            or not value.strip()
            or len(value) > MAX_VALUE_LENGTH
            or rules.blocked_reason(value) is not None
            or identity_type in out
        ):
            continue
        out[identity_type] = (value, key)
    return out


def keys_to_load(identities: Sequence[tuple[str, str | None]], rules: Rules) -> list[Key]:
    return [(t, v) for t, (v, _) in screen(identities, rules).items()]


def resolve(
    req: ResolveRequest, view: IdentityView, rules: Rules, new_mpid: Callable[[], int], now_ms: int
) -> Decision:
    """Decide the request's MPID and make its identity writes on `view` (search writes nothing)."""
    ex = Explanation(rules.strategy.value, req.kind.value)
    ids = screen(req.identities, rules, ex)
    order = sorted(ids, key=lambda t: priority_rank(rules.settings.identity_priority, t))
    findings = {t: f for f in ex.findings if (t := f.identity_type) in ids and f.status == "not_found"}
    run = _Run(req, view, rules, ids, order, findings, ex, new_mpid, now_ms)
    strategy, kind = rules.strategy, req.kind
    if kind is RequestKind.LOGOUT and strategy is not Strategy.BEST_MATCH:
        return run.logout()
    types = order
    if kind is RequestKind.SEARCH and rules.immutable:
        types = [t for t in order if t in rules.immutable]  # spec 1.7: only immutable ids match
    # Search is a lookup, not a session: the login guard (whose profile a device may become) is moot.
    mpid = run.lookup(types, _no_guard if kind is RequestKind.SEARCH else run.login_guard)
    if kind is RequestKind.SEARCH:
        if mpid is None:
            ex.decide("not_found", "No profile matched the identities.")
            return Decision(None, False, False, [], explanation=ex)
        ex.decide("matched", f"Matched by {ex.decided_by}.")
        return run.finish(mpid, created=False, addable=[])
    login = [t for t in order if t in rules.login]
    if mpid is not None:
        profile = view.profile(mpid)
        new_login = profile is not None and not any(profile.holds((t, ids[t][0])) for t in login)
        if login and new_login and strategy in (Strategy.PROFILE_LINK, Strategy.PROFILE_ISOLATION):
            ex.decide(
                "new_login_identity",
                f"{strategy.value}: the request's login identity ({', '.join(login)}) is not on the"
                f" profile matched by {ex.decided_by}, so a new known profile starts.",
            )
            return run.finish(run.create(), created=True, addable=order)
        ex.decide("matched", f"Matched by {ex.decided_by}; the request's other identities are added.")
        return run.finish(mpid, created=False, addable=order)
    previous = view.profile(req.previous_mpid) if req.previous_mpid is not None else None
    continues = strategy in (Strategy.PROFILE_CONVERSION, Strategy.BEST_MATCH) or not login
    if previous is not None and continues and not _login_types_held(previous, rules):
        ex.decide(
            "continue_previous",
            "No profile matched; the current anonymous profile (previous_mpid) keeps its MPID"
            " and takes the request's identities.",
        )
        return run.finish(previous.mpid, created=False, addable=order)
    ex.decide("no_match", "No profile matched the identities; a new profile was created.")
    return run.finish(run.create(), created=True, addable=order)


def sole_match(ids: Screened, view: IdentityView, rules: Rules) -> tuple[int, list[LinkRow]] | None:
    """The commonest outcome of a BATCH request, without resolving it: when every screened identity
    is held by one and the same profile alone, and that profile holds no login or immutable identity
    the request leaves unmatched, resolve() would match that profile by the priority walk (one
    candidate: no tie-break, no new login) and add nothing (rule "matched"). Gives the profile and
    the links of the identities to it; None: resolve."""
    mpid: int | None = None
    links: list[LinkRow] = []
    for identity_type, (value, _) in ids.items():
        link = view.sole_holder((identity_type, value))
        if link is None or (mpid is not None and link.mpid != mpid):
            return None
        mpid = link.mpid
        links.append(link)
    if mpid is None:
        return None
    profile = view.profile(mpid)
    if profile is None or _unmatched_login(rules, profile, ids) is not None:
        return None
    return mpid, links


def _unmatched_login(rules: Rules, profile: Profile, ids: Screened) -> str | None:
    """Why a profile cannot be the request's (it holds login/immutable identities the request does
    not match), else None: the login guard of the priority walk."""
    for group, label in ((rules.immutable, "immutable"), (rules.login, "login")):
        if not group:
            continue
        held = [t for t in group if profile.values(t)]
        if held and not any(t in ids and ids[t][0] in profile.values(t) for t in held):
            return f"holds a {label} identity ({', '.join(sorted(held))}) the request does not match"
    return None


def _no_guard(_: Profile | None) -> str | None:
    return None


def _login_types_held(profile: Profile, rules: Rules) -> list[str]:
    return [t for t in rules.login if profile.values(t)]


@dataclass
class _Run:
    req: ResolveRequest
    view: IdentityView
    rules: Rules
    ids: Screened
    order: list[str]
    findings: dict[str, IdentityFinding]
    ex: Explanation
    new_mpid: Callable[[], int]
    now_ms: int

    def login_guard(self, profile: Profile | None) -> str | None:
        return None if profile is None else _unmatched_login(self.rules, profile, self.ids)

    def anonymous_guard(self, profile: Profile | None) -> str | None:
        if profile is not None and _login_types_held(profile, self.rules):
            return "a known profile; logout returns to an anonymous one"
        return None

    def lookup(self, types: list[str], guard: Guard) -> int | None:
        """The profile the identities name (priority walk, then tie-breaks), or None."""
        kept_by_type: dict[str, list[int]] = {}
        for t in types:
            finding = self.findings[t]
            kept: list[int] = []
            finding.mpids.clear()
            finding.excluded.clear()
            for link in self.view.holders((t, self.ids[t][0])):
                finding.mpids.append(link.mpid)
                why = guard(self.view.profile(link.mpid))
                if why is None:
                    kept.append(link.mpid)
                else:
                    finding.excluded[link.mpid] = why
            finding.status = "matched" if kept else ("excluded" if finding.mpids else "not_found")
            kept_by_type[t] = kept
        candidates: list[int] = []
        for t in types:
            kept = kept_by_type[t]
            if not kept:
                continue
            if not candidates:
                candidates, self.ex.decided_by = kept, t
            else:
                narrower = [m for m in candidates if m in kept]
                if narrower and len(narrower) < len(candidates):
                    candidates = narrower
                    self.ex.narrowed_by.append(t)
            if len(candidates) == 1:
                break
        if len(candidates) <= 1:
            return candidates[0] if candidates else None
        if self.req.previous_mpid in candidates:
            self.ex.tie_break = "previous_mpid: the request's current profile is among the candidates"
            return self.req.previous_mpid
        self.ex.tie_break = "newest: several profiles matched equally; the most recently created wins"
        return max(candidates, key=lambda m: (self._created_ms(m), m))

    def _created_ms(self, mpid: int) -> int:
        profile = self.view.profile(mpid)
        return profile.created_ms if profile is not None else 0

    def logout(self) -> Decision:
        devices = [t for t in self.order if is_device_type(t)]
        if self.rules.strategy is Strategy.PROFILE_ISOLATION:
            mpid = self.lookup(devices, self.anonymous_guard)
            if mpid is not None:
                self.ex.decide(
                    "logout_device_profile",
                    "profile_isolation: logout returns to the device's anonymous profile.",
                )
                return self.finish(mpid, created=False, addable=self._anonymous_types(), logged_out=True)
        self.ex.decide("logout_new_profile", "Logout starts a new anonymous profile for the device.")
        return self.finish(self.create(), created=True, addable=self._anonymous_types(), logged_out=True)

    def _anonymous_types(self) -> list[str]:
        skipped = [t for t in self.order if t in self.rules.login]
        for t in skipped:
            self.ex.skipped.append((t, self.ids[t][0], "login identities are ignored on logout"))
        return [t for t in self.order if t not in self.rules.login]

    def create(self) -> int:
        mpid = self.new_mpid()
        self.view.create_profile(
            NewProfile(mpid, self.now_ms, self.req.workspace_id, self.req.created_by, fresh=True)
        )
        self.ex.created = True
        return mpid

    def finish(self, mpid: int, created: bool, addable: list[str], logged_out: bool = False) -> Decision:
        profile = self.view.profile(mpid)
        assert profile is not None, "resolution chose a profile that was not loaded"
        matched = [(self.ids[t][1], self.ids[t][0]) for t in self.order if profile.holds((t, self.ids[t][0]))]
        added = [key for t in addable if (key := self._add(profile, t)) is not None]
        if logged_out:
            logged_in = False
        elif self.rules.login:
            logged_in = any(profile.holds((t, self.ids[t][0])) for t in self.ids if t in self.rules.login)
        else:  # no login identities (best match): a profile named by a user identity counts as known
            logged_in = any(profile.holds((t, self.ids[t][0])) for t in self.ids if not is_device_type(t))
        return Decision(mpid, created, logged_in, matched, added, self.ex)

    def _add(self, profile: Profile, identity_type: str) -> Key | None:
        value = self.ids[identity_type][0]
        key = (identity_type, value)
        if profile.holds(key):
            return None
        if identity_type in self.rules.immutable and profile.values(identity_type):
            self.ex.skipped.append((identity_type, value, "the profile's immutable identity cannot change"))
            return None
        cap = self.rules.settings.max_identities_per_type
        if len(profile.values(identity_type)) >= cap:
            self.ex.skipped.append((identity_type, value, f"the profile already holds {cap} values"))
            return None
        if identity_type in self.rules.unique:
            for link in self.view.holders(key):
                if link.mpid != profile.mpid:
                    self.view.unlink(key, link.mpid)
                    self.ex.moved.append((identity_type, value, link.mpid))
        self.view.link(key, profile.mpid, self.now_ms, self.req.created_by)
        self.ex.added.append(key)
        return key
