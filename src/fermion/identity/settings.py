"""Per-workspace IDSync settings: strategy, identity priority, unique/login/immutable identities,
blocked values and the per-type cap; their defaults, validation and the compiled `Rules`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import msgspec

from fermion.identity.types import DEFAULT_PRIORITY, MAX_VALUE_LENGTH, canonical_type, is_device_type


class Strategy(StrEnum):
    PROFILE_CONVERSION = "profile_conversion"
    PROFILE_LINK = "profile_link"
    PROFILE_ISOLATION = "profile_isolation"
    BEST_MATCH = "best_match"


_STRATEGY_NAMES: Final = {
    **{s.value: s for s in Strategy},
    "default": Strategy.PROFILE_CONVERSION,  # the reference's "Default IDSync configuration"
    "conversion": Strategy.PROFILE_CONVERSION,
    "link": Strategy.PROFILE_LINK,
    "isolation": Strategy.PROFILE_ISOLATION,
}
# Strategies whose aliasing the reference allows (spec 1.8).
ALIAS_STRATEGIES: Final = frozenset({Strategy.PROFILE_CONVERSION, Strategy.PROFILE_LINK})
DEFAULT_BLOCKED_VALUES: Final = ("-1", "null", "anonymous")
MAX_PER_TYPE_LIMIT: Final = 1000


class IdentitySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    strategy: Strategy = Strategy.PROFILE_CONVERSION
    identity_priority: tuple[str, ...] = DEFAULT_PRIORITY
    unique_identities: tuple[str, ...] = ("customer_id",)
    login_identities: tuple[str, ...] = ("customer_id",)
    immutable_identities: tuple[str, ...] = ()
    blocked_values: tuple[str, ...] = DEFAULT_BLOCKED_VALUES
    block_all_zeros: bool = True  # "0", "00000000-0000-0000-0000-000000000000", ...
    max_identities_per_type: int = 20


_STRATEGY_IDS: Final[dict[Strategy, tuple[str, ...]]] = {
    Strategy.PROFILE_CONVERSION: ("customer_id",),
    Strategy.PROFILE_LINK: ("customer_id", "email"),
    Strategy.PROFILE_ISOLATION: ("customer_id", "email"),
    Strategy.BEST_MATCH: (),
}
_STRATEGY_FIELDS: Final = ("unique_identities", "login_identities", "immutable_identities")
_TYPE_LIST_FIELDS: Final = ("identity_priority", *_STRATEGY_FIELDS)


def defaults_for(strategy: Strategy) -> IdentitySettings:
    ids = _STRATEGY_IDS[strategy]
    return IdentitySettings(strategy=strategy, unique_identities=ids, login_identities=ids)


class SettingsError(ValueError):
    """Invalid settings; `errors` lists (field, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = errors


def parse_strategy(name: object) -> Strategy | None:
    return _STRATEGY_NAMES.get(name.strip().lower().replace("-", "_")) if isinstance(name, str) else None


def updated(base: IdentitySettings | None, changes: dict[str, Any]) -> IdentitySettings:
    """`base` with `changes` applied (None base: the chosen strategy's defaults). A strategy change
    resets unique/login/immutable identities to the new strategy's defaults unless they are given."""
    errors: list[tuple[str, str]] = []
    unknown = sorted(set(changes) - set(IdentitySettings.__struct_fields__))
    errors += [(name, "unknown setting") for name in unknown]
    current = base or IdentitySettings()
    strategy = current.strategy
    if "strategy" in changes:
        parsed = parse_strategy(changes["strategy"])
        if parsed is None:
            errors.append(("strategy", f"must be one of {[s.value for s in Strategy]}"))
        else:
            strategy = parsed
    values: dict[str, Any] = msgspec.structs.asdict(current)
    if base is None or strategy is not current.strategy:
        values.update({f: getattr(defaults_for(strategy), f) for f in _STRATEGY_FIELDS})
    values["strategy"] = strategy
    for name in _TYPE_LIST_FIELDS:
        if name in changes:
            values[name] = _type_list(name, changes[name], errors)
    if "blocked_values" in changes:
        values["blocked_values"] = _blocked_values(changes["blocked_values"], errors)
    if "block_all_zeros" in changes:
        if not isinstance(changes["block_all_zeros"], bool):
            errors.append(("block_all_zeros", "must be true or false"))
        else:
            values["block_all_zeros"] = changes["block_all_zeros"]
    if "max_identities_per_type" in changes:
        cap = changes["max_identities_per_type"]
        if isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= MAX_PER_TYPE_LIMIT:
            errors.append(("max_identities_per_type", f"must be an integer from 1 to {MAX_PER_TYPE_LIMIT}"))
        else:
            values["max_identities_per_type"] = cap
    if errors:
        raise SettingsError(errors)
    settings = IdentitySettings(**values)
    errors += check(settings)
    if errors:
        raise SettingsError(errors)
    return settings


def _type_list(name: str, raw: object, errors: list[tuple[str, str]]) -> tuple[str, ...]:
    if not isinstance(raw, list | tuple):
        errors.append((name, "must be a list of identity types"))
        return ()
    out: list[str] = []
    for i, item in enumerate(raw):
        canonical = canonical_type(item) if isinstance(item, str) else None
        if canonical is None:
            errors.append((f"{name}[{i}]", "is not an identity type name"))
        elif canonical in out:
            errors.append((f"{name}[{i}]", f"{canonical} is listed twice"))
        else:
            out.append(canonical)
    return tuple(out)


def _blocked_values(raw: object, errors: list[tuple[str, str]]) -> tuple[str, ...]:
    if not isinstance(raw, list | tuple) or len(raw) > 1000:
        errors.append(("blocked_values", "must be a list of at most 1000 strings"))
        return ()
    out: list[str] = []
    for i, item in enumerate(raw):
        if not isinstance(item, str) or not item.strip() or len(item) > MAX_VALUE_LENGTH:
            errors.append(
                (f"blocked_values[{i}]", f"must be a non-empty string of at most {MAX_VALUE_LENGTH}")
            )
        elif item not in out:
            out.append(item)
    return tuple(out)


def check(s: IdentitySettings) -> list[tuple[str, str]]:
    """Rules between fields (the field-level checks are in `updated`)."""
    errors: list[tuple[str, str]] = []
    for name in ("unique_identities", "login_identities"):
        for t in getattr(s, name):
            if is_device_type(t):
                errors.append((name, f"{t} is a device identity; it cannot be unique or a login identity"))
        if s.strategy is Strategy.BEST_MATCH and getattr(s, name):
            errors.append((name, "best_match has no unique or login identities"))
    for t in s.immutable_identities:
        if t not in s.unique_identities or t not in s.login_identities:
            errors.append(("immutable_identities", f"{t} must also be a unique and a login identity"))
    return errors


@dataclass(frozen=True)
class Rules:
    """Settings compiled for fast checks during resolution."""

    settings: IdentitySettings
    unique: frozenset[str]
    login: frozenset[str]
    immutable: frozenset[str]
    blocked: frozenset[str]

    @staticmethod
    def of(settings: IdentitySettings) -> Rules:
        return Rules(
            settings=settings,
            unique=frozenset(settings.unique_identities),
            login=frozenset(settings.login_identities),
            immutable=frozenset(settings.immutable_identities),
            blocked=frozenset(v.strip().lower() for v in settings.blocked_values),
        )

    @property
    def strategy(self) -> Strategy:
        return self.settings.strategy

    def blocked_reason(self, value: str) -> str | None:
        """Why a value cannot identify anyone (placeholder values SDKs and apps send), else None."""
        folded = value.strip().lower()
        if folded in self.blocked:
            return f"{value!r} is a blocked value"
        if self.settings.block_all_zeros and folded and not folded.strip("0-:. ") and "0" in folded:
            return f"{value!r} is all zeros"
        return None
