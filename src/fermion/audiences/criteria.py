"""Audience criteria: a JSON tree validated and compiled in one pass into fast closures.

Combinators: `{"and": [...]}`, `{"or": [...]}`, `{"not": c}`, `{"exclude": [a, b]}` (a and not b).
Leaves (a condition is `{"type", "operator", "value" | "values" | "min"/"max"}`, see conditions.py):
`{"event": {"type": family, "name"?, "custom_event_type"?, "product_action"?, "attributes"?: [{"name",
...condition}], "count"?: number condition, "window_days" | "window_hours" | "between_days": [N, M]}}`,
`{"user_attribute": {"name", "condition"}}`, `{"calculated_attribute": {"name", "condition"}}`,
`{"identity": {"type", "condition"?}}` (default: exists), `{"consent": {"regulation": "gdpr",
"purpose", "consented"?} | {"regulation": "ccpa", "opted_out"?}}`, `{"audience": {"id", "member"?}}`,
`{"device": {"field", "condition"?}}`, `{"first_seen": date condition}`. Each compiled node answers
"does the user match now" and "when may that answer change with time alone".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fermion.audiences.conditions import Condition, Errors, parse_condition
from fermion.audiences.event_leaf import parse_event
from fermion.audiences.events import DAY_MS, FAMILIES, HOUR_MS, EventFact, EventState, Window, count_and_next


@dataclass
class UserView:
    """Everything the criteria of a workspace's audiences read about one user."""

    mpid: int
    attributes: dict[str, Any] = field(default_factory=dict)
    consent: dict[tuple[str, str], bool] = field(default_factory=dict)
    identities: dict[str, str] = field(default_factory=dict)
    calculated: dict[str, str] = field(default_factory=dict)
    memberships: dict[int, bool] = field(default_factory=dict)
    device: dict[str, str] = field(default_factory=dict)
    first_seen_ms: int | None = None
    events: EventState = field(default_factory=dict)
    # Event-criterion (count, next change) for this evaluation's `now`, shared by test and changes.
    counts: dict[str, tuple[int, int | None]] = field(default_factory=dict)


Test = Callable[[UserView, int], bool]
Changes = Callable[[UserView, int], int | None]


@dataclass(frozen=True)
class EventCriterion:
    """One event leaf: which events it counts (matcher) and over which window."""

    key: str
    family: str
    name: str | None  # lower case; None matches any name
    matches: Callable[[EventFact], bool]
    window: Window
    # Matches every event of its family and name (None: any name): found by those, no call needed.
    plain: bool = False


@dataclass
class Compiled:
    test: Test
    changes: Changes
    event_criteria: list[EventCriterion] = field(default_factory=list)
    references: set[int] = field(default_factory=set)
    uses_identities: bool = False
    uses_profile: bool = False  # user attributes, consent, first seen, device platform
    uses_calculated: bool = False
    calculated_names: set[str] = field(default_factory=set)  # calculated attribute names read
    attributes: set[str] = field(default_factory=set)  # user attribute names read
    other_profile: bool = False  # consent, first seen, device
    # Something other than event counts changes with time (a relative date condition): without it,
    # `changes` is the earliest next change of the event criteria's counts (next_count_change).
    other_timed: bool = False
    event_keys: set[str] = field(default_factory=set)


DEVICE_FIELDS = (
    "platform",
    "os",
    "os_version",
    "device_model",
    "device_manufacturer",
    "brand",
    "carrier",
    "device_country",
    "locale_country",
    "locale_language",
    "app_version",
)


def no_changes(_: UserView, __: int) -> int | None:
    """The `changes` of criteria that time alone never changes (evaluation skips calling it)."""
    return None


_none = no_changes


def _earliest(times: list[int | None]) -> int | None:
    found = [t for t in times if t is not None]
    return min(found) if found else None


class _Compiler:
    def __init__(self, audience_id: int, key_prefix: str, default_days: int) -> None:
        self.audience_id = audience_id
        self.key_prefix = key_prefix
        self.default_days = default_days
        self.errors: Errors = []
        self.out = Compiled(test=lambda _v, _n: False, changes=_none)

    def node(self, body: Any, field: str) -> tuple[Test, Changes] | None:
        if not isinstance(body, dict) or len(body) != 1:
            self.errors.append((field, "must be an object with exactly one key (a combinator or criterion)"))
            return None
        ((kind, inner),) = body.items()
        handler = getattr(self, f"_c_{kind}", None)
        if handler is None:
            self.errors.append((f"{field}.{kind}", "unknown criterion"))
            return None
        result: tuple[Test, Changes] | None = handler(inner, f"{field}.{kind}")
        return result

    def _children(
        self, inner: Any, field: str, exact: int | None = None
    ) -> list[tuple[Test, Changes]] | None:
        if not isinstance(inner, list) or not inner or (exact is not None and len(inner) != exact):
            size = f"exactly {exact}" if exact else "at least one"
            self.errors.append((field, f"must be a list of {size} criteria"))
            return None
        built = [self.node(child, f"{field}[{i}]") for i, child in enumerate(inner)]
        return None if any(b is None for b in built) else [b for b in built if b is not None]

    def _c_and(self, inner: Any, field: str) -> tuple[Test, Changes] | None:
        return self._combine(inner, field, conjunction=True)

    def _c_or(self, inner: Any, field: str) -> tuple[Test, Changes] | None:
        return self._combine(inner, field, conjunction=False)

    def _combine(self, inner: Any, field: str, conjunction: bool) -> tuple[Test, Changes] | None:
        kids = self._children(inner, field)
        if kids is None:
            return None
        tests = [k[0] for k in kids]
        if len(tests) == 2:  # the common case, without a generator per evaluation
            first, second = tests
            if conjunction:
                return (lambda v, n: first(v, n) and second(v, n)), self._join(kids)
            return (lambda v, n: first(v, n) or second(v, n)), self._join(kids)
        if conjunction:
            return (lambda v, n: all(t(v, n) for t in tests)), self._join(kids)
        return (lambda v, n: any(t(v, n) for t in tests)), self._join(kids)

    def _c_not(self, inner: Any, field: str) -> tuple[Test, Changes] | None:
        kid = self.node(inner, field)
        if kid is None:
            return None
        test = kid[0]
        return (lambda v, n: not test(v, n)), kid[1]

    def _c_exclude(self, inner: Any, field: str) -> tuple[Test, Changes] | None:
        kids = self._children(inner, field, exact=2)
        if kids is None:
            return None
        keep, drop = kids[0][0], kids[1][0]
        return (lambda v, n: keep(v, n) and not drop(v, n)), self._join(kids)

    @staticmethod
    def _join(kids: list[tuple[Test, Changes]]) -> Changes:
        timed = [k[1] for k in kids if k[1] is not _none]
        if not timed:
            return _none
        if len(timed) == 1:
            return timed[0]
        if len(timed) == 2:  # the common case, without a list per evaluation
            first, second = timed

            def earlier(v: UserView, n: int) -> int | None:
                a, b = first(v, n), second(v, n)
                return b if a is None else a if b is None or a <= b else b

            return earlier
        return lambda v, n: _earliest([c(v, n) for c in timed])

    def _cond(self, inner: dict[str, Any], field: str, default_type: str | None = None) -> Condition | None:
        body = inner.get("condition", {"operator": "exists"} if default_type == "string" else None)
        return parse_condition(body, f"{field}.condition", self.errors, default_type)

    def _name(self, inner: Any, field: str, key: str = "name") -> str | None:
        if not isinstance(inner, dict):
            self.errors.append((field, "must be an object"))
            return None
        name = inner.get(key)
        if not isinstance(name, str) or not name.strip():
            self.errors.append((f"{field}.{key}", "is required (a non-empty string)"))
            return None
        return name

    def _valued(self, cond: Condition, read: Callable[[UserView], Any]) -> tuple[Test, Changes]:
        check, changes_at = cond.test, cond.changes_at
        self.out.other_timed |= changes_at is not None
        test: Test = lambda v, n: check(read(v), n)  # noqa: E731
        if changes_at is None:
            return test, _none
        return test, lambda v, n: changes_at(read(v), n)

    def _c_user_attribute(self, inner: Any, field: str) -> tuple[Test, Changes] | None:
        name = self._name(inner, field)
        cond = self._cond(inner, field) if name is not None else None
        if name is None or cond is None:
            return None
        self.out.uses_profile = True
        self.out.attributes.add(name)
        if cond.changes_at is None:  # the usual case: one closure, no reader call
            check = cond.test
            return (lambda v, n: check(v.attributes.get(name), n)), _none
        return self._valued(cond, lambda v: v.attributes.get(name))

    def _c_calculated_attribute(self, inner: Any, field: str) -> tuple[Test, Changes] | None:
        name = self._name(inner, field)
        cond = self._cond(inner, field) if name is not None else None
        if name is None or cond is None:
            return None
        self.out.uses_calculated = True
        self.out.calculated_names.add(name)
        if cond.changes_at is None:  # the usual case: one closure, no reader call
            check = cond.test
            return (lambda v, n: check(v.calculated.get(name), n)), _none
        return self._valued(cond, lambda v: v.calculated.get(name))

    def _c_identity(self, inner: Any, field: str) -> tuple[Test, Changes] | None:
        kind = self._name(inner, field, "type")
        cond = self._cond(inner, field, "string") if kind is not None else None
        if kind is None or cond is None:
            return None
        self.out.uses_identities = True
        if kind == "mpid":
            return self._valued(cond, lambda v: str(v.mpid))
        return self._valued(cond, lambda v: v.identities.get(kind))

    def _c_device(self, inner: Any, field: str) -> tuple[Test, Changes] | None:
        name = self._name(inner, field, "field")
        if name is not None and name not in DEVICE_FIELDS:
            self.errors.append((f"{field}.field", f"must be one of: {', '.join(DEVICE_FIELDS)}"))
            return None
        cond = self._cond(inner, field, "string") if name is not None else None
        if name is None or cond is None:
            return None
        self.out.uses_profile |= name == "platform"  # profiles know the platform of older devices
        self.out.other_profile = True
        return self._valued(cond, lambda v: v.device.get(name))

    def _c_first_seen(self, inner: Any, field: str) -> tuple[Test, Changes] | None:
        if not isinstance(inner, dict):
            self.errors.append((field, "must be an object"))
            return None
        cond = parse_condition({**inner, "type": "date"}, field, self.errors)
        if cond is None:
            return None
        self.out.uses_profile = self.out.other_profile = True
        return self._valued(cond, lambda v: v.first_seen_ms)

    def _c_consent(self, inner: Any, field: str) -> tuple[Test, Changes] | None:
        regulation = self._name(inner, field, "regulation")
        if regulation is None:
            return None
        regulation = regulation.lower()
        self.out.uses_profile = self.out.other_profile = True
        if regulation == "gdpr":
            purpose = self._name(inner, field, "purpose")
            wanted = inner.get("consented", True)
            if not isinstance(wanted, bool):
                self.errors.append((f"{field}.consented", "must be true or false"))
            if purpose is None or not isinstance(wanted, bool):
                return None
            key = ("gdpr", purpose.lower())
            return (lambda v, _n: v.consent.get(key) is wanted), _none
        if regulation == "ccpa":
            opted_out = inner.get("opted_out", True)
            if not isinstance(opted_out, bool):
                self.errors.append((f"{field}.opted_out", "must be true or false"))
                return None
            # CCPA's data_sale_opt_out: present and consented=true means opted out; absent lets data flow.
            return (lambda v, _n: (v.consent.get(("ccpa", "data_sale_opt_out")) is True) == opted_out), _none
        self.errors.append((f"{field}.regulation", "must be gdpr or ccpa"))
        return None

    def _c_audience(self, inner: Any, field: str) -> tuple[Test, Changes] | None:
        if not isinstance(inner, dict):
            self.errors.append((field, "must be an object"))
            return None
        ref = inner.get("id")
        member = inner.get("member", True)
        if isinstance(ref, bool) or not isinstance(ref, int) or ref <= 0:
            self.errors.append((f"{field}.id", "is required (an audience id)"))
            return None
        if ref == self.audience_id:
            self.errors.append((f"{field}.id", "an audience cannot reference itself"))
            return None
        if not isinstance(member, bool):
            self.errors.append((f"{field}.member", "must be true or false"))
            return None
        self.out.references.add(ref)
        return (lambda v, _n: v.memberships.get(ref, False) is member), _none

    def _c_event(self, inner: Any, field: str) -> tuple[Test, Changes] | None:
        parsed = parse_event(inner, field, self.errors, self.default_days)
        if parsed is None:
            return None
        family, name, matches, window, check, plain = parsed
        key = f"{self.key_prefix}.{len(self.out.event_criteria)}"
        self.out.event_criteria.append(EventCriterion(key, family, name, matches, window, plain))
        self.out.event_keys.add(key)

        # The count and next change are worked out once per evaluation (test and changes share them).
        def test(v: UserView, n: int) -> bool:
            hit = v.counts.get(key)
            if hit is None:
                hit = v.counts[key] = count_and_next(v.events, key, window, n)
            return check(hit[0])

        def changes(v: UserView, n: int) -> int | None:
            hit = v.counts.get(key)
            if hit is None:
                hit = v.counts[key] = count_and_next(v.events, key, window, n)
            return hit[1]

        return test, changes


def next_count_change(criteria: list[EventCriterion], v: UserView, n: int) -> int | None:
    """`changes` of criteria timed by event counts alone (not other_timed), without the closures'
    calls: every combinator takes the earliest time of its children, so the tree's answer is the
    earliest next change of any event criterion's count."""
    best: int | None = None
    counts = v.counts
    for crit in criteria:
        key = crit.key
        hit = counts.get(key)
        if hit is None:
            hit = counts[key] = count_and_next(v.events, key, crit.window, n)
        t = hit[1]
        if t is not None and (best is None or t < best):
            best = t
    return best


def compile_criteria(
    audience_id: int,
    criteria: Any,
    field: str = "criteria",
    key_prefix: str | None = None,
    default_window_days: int = 30,
) -> tuple[Compiled | None, Errors]:
    """The compiled criteria, or None and the errors (each naming its field, e.g.
    `criteria.and[1].event.window_days`). Event-criterion state keys start with `key_prefix`
    (default: the audience id), so a re-activated audience starts from fresh counts. An event
    criterion without a window looks back `default_window_days` (30 for real-time audiences; standard
    audiences cover the full history)."""
    compiler = _Compiler(audience_id, key_prefix or str(audience_id), default_window_days)
    built = compiler.node(criteria, field)
    if built is None or compiler.errors:
        return None, compiler.errors or [(field, "invalid")]
    compiler.out.test, compiler.out.changes = built
    return compiler.out, []


__all__ = ["DAY_MS", "FAMILIES", "HOUR_MS", "Compiled", "EventCriterion", "UserView", "compile_criteria"]
