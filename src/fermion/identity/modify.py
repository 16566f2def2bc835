"""Modify (spec 1.3 `/v1/{mpid}/modify`): add, replace or remove identities of one profile."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fermion.identity.settings import Rules
from fermion.identity.types import MAX_VALUE_LENGTH, Key, canonical_type
from fermion.identity.view import IdentityView


@dataclass(frozen=True)
class IdentityChange:
    identity_type: str  # as submitted (`customerid`, `email`, ...)
    old_value: str | None
    new_value: str | None


@dataclass
class ModifyResult:
    changed: list[str]  # submitted identity types, in request order
    added: list[Key]
    removed: list[Key]
    moved: list[tuple[str, str, int]]  # (type, value, from mpid) taken from other profiles


class ModifyError(ValueError):
    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = errors


def change_keys(changes: Sequence[IdentityChange]) -> list[Key]:
    """The identity values a modify touches (what to load before calling `modify`)."""
    keys: list[Key] = []
    for c in changes:
        t = canonical_type(c.identity_type)
        if t is not None:
            keys += [(t, v) for v in (c.old_value, c.new_value) if v]
    return keys


def modify(
    mpid: int, changes: Sequence[IdentityChange], view: IdentityView, rules: Rules, now_ms: int
) -> ModifyResult:
    """Apply every change or none (ModifyError names each bad one, as `identity_changes[i].field`)."""
    profile = view.profile(mpid)
    if profile is None:
        raise LookupError(mpid)
    errors: list[tuple[str, str]] = []
    plan: list[tuple[str, str | None, str | None]] = []
    for i, c in enumerate(changes):
        where = f"identity_changes[{i}]"
        t = canonical_type(c.identity_type)
        if t is None:
            errors.append((f"{where}.identity_type", "is not an identity type name"))
            continue
        if c.old_value is None and c.new_value is None:
            errors.append((f"{where}.new_value", "old_value and new_value cannot both be null"))
            continue
        if c.new_value is not None:
            why = _bad_value(c.new_value, rules)
            if why:
                errors.append((f"{where}.new_value", why))
                continue
        if t in rules.immutable and c.old_value != c.new_value and (c.old_value or profile.values(t)):
            errors.append((f"{where}.identity_type", f"{t} is immutable once set"))
            continue
        plan.append((t, c.old_value, c.new_value))
    if errors:
        raise ModifyError(errors)
    result = ModifyResult([c.identity_type for c in changes], [], [], [])
    for t, old, new in plan:
        if old == new:
            continue  # the Web SDK sends every identity, changed or not
        if old is not None and profile.holds((t, old)):
            view.unlink((t, old), mpid)
            result.removed.append((t, old))
        if new is None or profile.holds((t, new)):
            continue
        cap = rules.settings.max_identities_per_type
        if len(profile.values(t)) >= cap:
            raise ModifyError([("identity_changes", f"the profile would hold more than {cap} {t} values")])
        if t in rules.unique:
            for link in view.holders((t, new)):
                if link.mpid != mpid:
                    view.unlink((t, new), link.mpid)
                    result.moved.append((t, new, link.mpid))
        view.link((t, new), mpid, now_ms, None)
        result.added.append((t, new))
    return result


def _bad_value(value: str, rules: Rules) -> str | None:
    if not value.strip():
        return "must not be empty (use null to remove an identity)"
    if len(value) > MAX_VALUE_LENGTH:
        return f"must be at most {MAX_VALUE_LENGTH} characters"
    return rules.blocked_reason(value)
