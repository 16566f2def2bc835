"""Evaluating a workspace's audiences for one user: apply events to criterion state, decide
membership, and say what changed (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from fermion.audiences.criteria import Compiled, EventCriterion, UserView, compile_criteria
from fermion.audiences.events import EventFact, EventState, Window, prune, record
from fermion.audiences.records import Audience, Membership


@dataclass
class CompiledAudience:
    audience: Audience
    compiled: Compiled


@dataclass
class WorkspaceAudiences:
    """The compiled audiences of one workspace: `evaluated` (active real-time ones, referencing ones
    last, so they see this round's memberships) and `counted` (whose event criteria processing feeds:
    active and calculating real-time audiences)."""

    evaluated: list[CompiledAudience] = field(default_factory=list)
    counted: list[CompiledAudience] = field(default_factory=list)
    by_family: dict[str, list[EventCriterion]] = field(default_factory=dict)
    windows: dict[str, Window] = field(default_factory=dict)
    uses_identities: bool = False

    @property
    def empty(self) -> bool:
        return not self.counted


def compile_audience(audience: Audience) -> CompiledAudience | None:
    prefix = f"{audience.id}@{audience.activated_ms}"
    compiled, _errors = compile_criteria(audience.id, audience.criteria, key_prefix=prefix)
    return None if compiled is None else CompiledAudience(audience, compiled)


def build_workspace(
    evaluated: Iterable[Audience], counted: Iterable[Audience] = (), kept: Iterable[Audience] = ()
) -> WorkspaceAudiences:
    """`kept`: audiences whose criterion state must survive pruning though processing does not feed
    it (standard audiences, whose state the calculation job builds)."""
    out = WorkspaceAudiences()
    cache: dict[int, CompiledAudience] = {}

    def get(a: Audience) -> CompiledAudience | None:
        if a.id not in cache:
            found = compile_audience(a)
            if found is None:
                return None
            cache[a.id] = found
        return cache[a.id]

    for a in evaluated:
        c = get(a)
        if c is not None:
            out.evaluated.append(c)
    out.evaluated.sort(key=lambda c: (bool(c.compiled.references), c.audience.id))
    for a in [*(c.audience for c in out.evaluated), *counted]:
        c = get(a)
        if c is None or any(x.audience.id == a.id for x in out.counted):
            continue
        out.counted.append(c)
        out.uses_identities |= c.compiled.uses_identities
        for crit in c.compiled.event_criteria:
            out.windows[crit.key] = crit.window
    for a in kept:
        c = get(a)
        for crit in c.compiled.event_criteria if c is not None else ():
            out.windows.setdefault(crit.key, crit.window)
    families: dict[str, list[EventCriterion]] = {}
    for c in out.counted:
        for crit in c.compiled.event_criteria:
            families.setdefault(crit.family, []).append(crit)
    out.by_family = families
    return out


def apply_events(
    ws: WorkspaceAudiences, state: EventState, facts: Iterable[EventFact], only: set[str] | None = None
) -> bool:
    """Count the facts into the user's state; `only` limits it to some criterion keys. True if any
    counted."""
    changed = False
    for fact in facts:
        for fam in fact.families:
            for crit in ws.by_family.get(fam, ()):
                if (only is None or crit.key in only) and crit.matches(fact):
                    record(state, crit.key, fact.ts_ms, crit.window.unit_ms)
                    changed = True
    return changed


def prune_state(ws: WorkspaceAudiences, state: EventState, now_ms: int) -> None:
    prune(state, ws.windows, now_ms)


@dataclass(frozen=True)
class Outcome:
    audience: Audience
    member: bool
    was_member: bool
    next_check_ms: int | None
    previous: Membership | None

    @property
    def joined(self) -> bool:
        return self.member and not self.was_member

    @property
    def left(self) -> bool:
        return self.was_member and not self.member


def evaluate_user(
    audiences: Sequence[CompiledAudience],
    view: UserView,
    current: dict[int, Membership],
    now_ms: int,
) -> list[Outcome]:
    """Every audience's decision for the user. `view.memberships` is updated as audiences are decided,
    so audiences referencing others (evaluated last) see the new answers."""
    outcomes = []
    for c in audiences:
        aid = c.audience.id
        previous = current.get(aid)
        was = previous is not None and previous.member
        member = c.compiled.test(view, now_ms)
        view.memberships[aid] = member
        next_check = c.compiled.changes(view, now_ms)
        outcomes.append(Outcome(c.audience, member, was, next_check, previous))
    return outcomes
