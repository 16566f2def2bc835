"""Evaluating a workspace's audiences for one user: apply events to criterion state, decide
membership, and say what changed (pure)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from fermion.audiences.criteria import (
    Changes,
    Compiled,
    EventCriterion,
    Test,
    UserView,
    compile_criteria,
    no_changes,
)
from fermion.audiences.event_leaf import MAX_DAYS as FULL_HISTORY_DAYS
from fermion.audiences.events import (
    EventFact,
    EventState,
    Window,
    count_and_next,
    fact_of,
    families_of,
    prune,
    prune_many,
)
from fermion.audiences.records import Audience, Kind
from fermion.audiences.touch import AffectIndex, Touch
from fermion.model.codec import event_name_of
from fermion.model.events import Event


@dataclass
class CompiledAudience:
    audience: Audience
    compiled: Compiled
    # Read per user and audience on the hot path, so worked out once: the id, the test, and how the
    # answer may change with time alone (real-time audiences): the event criteria's (key, window)
    # when only their counts time it, else `changes` when something else does (None: never).
    id: int = field(init=False)
    test: Test = field(init=False)
    count_timed: tuple[tuple[str, Window], ...] = field(init=False)
    other_timed: Changes | None = field(init=False)

    def __post_init__(self) -> None:
        compiled = self.compiled
        self.id = self.audience.id
        self.test = compiled.test
        timed = compiled.changes is not no_changes and self.audience.kind == Kind.REAL_TIME
        self.count_timed = (
            tuple((crit.key, crit.window) for crit in compiled.event_criteria)
            if timed and not compiled.other_timed
            else ()
        )
        self.other_timed = compiled.changes if timed and compiled.other_timed else None


@dataclass
class WorkspaceAudiences:
    """The compiled audiences of one workspace: `evaluated` (active real-time ones, referencing ones
    last, so they see this round's memberships) and `counted` (whose event criteria processing feeds:
    active and calculating real-time audiences)."""

    evaluated: list[CompiledAudience] = field(default_factory=list)
    counted: list[CompiledAudience] = field(default_factory=list)
    # Event criteria by (family, lower-case name); name None for criteria matching any name.
    by_family: dict[tuple[str, str | None], list[EventCriterion]] = field(default_factory=dict)
    windows: dict[str, Window] = field(default_factory=dict)
    uses_identities: bool = False
    calculated_names: set[str] = field(default_factory=set)  # CA names the evaluated audiences read
    # by_family's criteria for (family, name) plus those matching any name, filled as facts come.
    candidates: dict[tuple[str, str], tuple[EventCriterion, ...]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.counted


def compile_audience(audience: Audience) -> CompiledAudience | None:
    prefix = f"{audience.id}@{audience.activated_ms}"
    days = FULL_HISTORY_DAYS if audience.kind == Kind.STANDARD else 30
    compiled, _errors = compile_criteria(
        audience.id, audience.criteria, key_prefix=prefix, default_window_days=days
    )
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
    for c in out.evaluated:
        out.calculated_names |= c.compiled.calculated_names
    for a in kept:
        c = get(a)
        for crit in c.compiled.event_criteria if c is not None else ():
            out.windows.setdefault(crit.key, crit.window)
    families: dict[tuple[str, str | None], list[EventCriterion]] = {}
    for c in out.counted:
        for crit in c.compiled.event_criteria:
            families.setdefault((crit.family, crit.name), []).append(crit)
    out.by_family = families
    return out


def apply_events(
    ws: WorkspaceAudiences, state: EventState, facts: Iterable[EventFact], only: set[str] | None = None
) -> set[str]:
    """Count the facts into the user's state; `only` limits it to some criterion keys. Returns the
    keys that counted something."""
    changed: set[str] = set()
    memo = ws.candidates
    for fact in facts:
        for fam in fact.families:
            crits = memo.get((fam, fact.name))
            if crits is None:
                by_family = ws.by_family
                crits = memo[fam, fact.name] = (
                    *by_family.get((fam, fact.name), ()),
                    *by_family.get((fam, None), ()),
                )
            for crit in crits:
                key = crit.key
                if (only is None or key in only) and (crit.plain or crit.matches(fact)):
                    # record(), inlined: this runs per event and criterion
                    unit = crit.window.unit_ms
                    buckets = state.get(key)
                    if buckets is None:
                        buckets = state[key] = {}
                    bucket = fact.ts_ms // unit
                    buckets[bucket] = buckets.get(bucket, 0) + 1
                    changed.add(key)
    return changed


def count_events(
    ws: WorkspaceAudiences,
    state: EventState,
    events: Iterable[Event],
    received_ms: int,
    only: set[str] | None = None,
) -> set[str]:
    """apply_events(ws, state, facts_of(batch, received_ms), only) for a batch's events, in one pass:
    a fact is made only for criteria that need more than the event's family and name."""
    changed: set[str] = set()
    memo = ws.candidates
    for event in events:
        families = families_of(event)
        if not families:
            continue
        name = event_name_of(event).lower()
        fact: EventFact | None = None
        for fam in families:
            crits = memo.get((fam, name))
            if crits is None:
                by_family = ws.by_family
                crits = memo[fam, name] = (*by_family.get((fam, name), ()), *by_family.get((fam, None), ()))
            for crit in crits:
                key = crit.key
                if only is not None and key not in only:
                    continue
                if not crit.plain:
                    if fact is None:
                        fact = fact_of(event, families, received_ms)
                    if not crit.matches(fact):
                        continue
                unit = crit.window.unit_ms
                buckets = state.get(key)
                if buckets is None:
                    buckets = state[key] = {}
                bucket = (event.data.timestamp_unixtime_ms or received_ms) // unit
                buckets[bucket] = buckets.get(bucket, 0) + 1
                changed.add(key)
    return changed


def prune_state(ws: WorkspaceAudiences, state: EventState, now_ms: int) -> None:
    prune(state, ws.windows, now_ms)


def prune_states(
    ws: WorkspaceAudiences, states: Iterable[tuple[EventState, Collection[str] | None]], now_ms: int
) -> None:
    """Prune many users' states, each only at the given criterion keys (None: all of them)."""
    prune_many(states, ws.windows, now_ms)


class Outcome:
    """One audience's decision for one user (a plain slotted class: this is made per user and audience
    on the hot path)."""

    __slots__ = ("audience", "member", "next_check_ms", "was_member")

    def __init__(self, audience: Audience, member: bool, was_member: bool, next_check_ms: int | None) -> None:
        self.audience = audience
        self.member = member
        self.was_member = was_member
        self.next_check_ms = next_check_ms

    @property
    def joined(self) -> bool:
        return self.member and not self.was_member

    @property
    def left(self) -> bool:
        return self.was_member and not self.member


def _visit_order(
    audiences: Sequence[CompiledAudience],
    touch: Touch | None,
    index: AffectIndex | None,
    chosen: set[int] | None,
) -> tuple[Iterable[int], set[int] | None]:
    """The positions to visit, in list order, and the chosen ones (None: all are)."""
    if touch is None or touch.everything:
        return range(len(audiences)), None
    index = index or AffectIndex(audiences)
    chosen = index.positions(touch) if chosen is None else chosen
    # Only the chosen ones and those that may follow a referenced change.
    return (sorted(chosen.union(index.referencing)) if index.referencing else sorted(chosen)), chosen


def evaluate_user(
    audiences: Sequence[CompiledAudience],
    view: UserView,
    members: Iterable[int],
    now_ms: int,
    touch: Touch | None = None,
    index: AffectIndex | None = None,
    chosen: set[int] | None = None,
) -> list[Outcome]:
    """The decisions of the audiences the touch affects (all without one; `chosen`: the touch's
    positions when the caller has them). `view.memberships` is updated as audiences are decided, so
    audiences referencing others (evaluated last) see the new answers, and are re-evaluated when a
    referenced membership changed."""
    outcomes = []
    changed: set[int] = set()
    was_in = set(members)
    order, chosen = _visit_order(audiences, touch, index, chosen)
    for pos in order:
        c = audiences[pos]
        if chosen is not None and pos not in chosen and not c.compiled.references & changed:
            continue
        aid = c.audience.id
        was = aid in was_in
        member = c.compiled.test(view, now_ms)
        if member != was:
            changed.add(aid)
        view.memberships[aid] = member
        outcomes.append(Outcome(c.audience, member, was, c.compiled.changes(view, now_ms)))
    return outcomes


def evaluate_transitions(
    audiences: Sequence[CompiledAudience],
    view: UserView,
    members: Iterable[int],
    now_ms: int,
    touch: Touch | None = None,
    index: AffectIndex | None = None,
    chosen: set[int] | None = None,
) -> tuple[list[Outcome], int | None]:
    """evaluate_user for the hot path: only the joins and leaves, and the earliest time a real-time
    audience evaluated here may change its answer with time alone."""
    transitions = []
    changed: set[int] = set()
    was_in = set(members)
    next_check: int | None = None
    order, chosen = _visit_order(audiences, touch, index, chosen)
    memberships, counts, events = view.memberships, view.counts, view.events
    for pos in order:
        c = audiences[pos]
        if chosen is not None and pos not in chosen:
            references = c.compiled.references
            if not references or references.isdisjoint(changed):
                continue
        aid = c.id
        was = aid in was_in
        member = c.test(view, now_ms)
        memberships[aid] = member
        if member != was:
            changed.add(aid)
            transitions.append(Outcome(c.audience, member, was, None))
        if c.count_timed:
            # next_count_change, inlined: the earliest next change of any event criterion's count
            # (the test has usually worked the counts out already).
            for key, window in c.count_timed:
                hit = counts.get(key)
                if hit is None:
                    hit = counts[key] = count_and_next(events, key, window, now_ms)
                check = hit[1]
                if check is not None and (next_check is None or check < next_check):
                    next_check = check
        elif c.other_timed is not None:
            check = c.other_timed(view, now_ms)
            if check is not None and (next_check is None or check < next_check):
                next_check = check
    return transitions, next_check
