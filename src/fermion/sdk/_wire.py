"""Shared plumbing of the SDK models: JSON value types, enum coercion and None-omitting serialisation."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

#: A scalar accepted as a custom attribute, custom flag or user attribute value.
Scalar = str | int | float | bool | None
#: Custom attributes and flags: a flat map of name to scalar.
Attributes = Mapping[str, Scalar]

E = TypeVar("E", bound=Enum)


def coerce(enum_cls: type[E], value: E | str) -> E:
    """Turn a wire string into its enum member; raise ValueError for a value the enum lacks."""
    if isinstance(value, enum_cls):
        return value
    try:
        return enum_cls(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in enum_cls)
        raise ValueError(f"invalid {enum_cls.__name__} {value!r}; expected one of: {allowed}") from None


def coerce_optional(enum_cls: type[E], value: E | str | None) -> E | None:
    return None if value is None else coerce(enum_cls, value)


def to_wire(value: Any) -> Any:
    """Convert a model, enum, container or scalar into plain JSON-ready Python values."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, WireModel):
        return value.to_dict()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    raise TypeError(f"cannot serialise {type(value).__name__} to the Events API JSON format")


class WireModel:
    """Base of every dataclass model: `to_dict()` emits its fields in order, leaving out None."""

    def __post_init__(self) -> None:
        self._coerce()

    def _coerce(self) -> None:
        """Normalise enum-valued fields given as strings (also re-run by `to_dict`, after assignments)."""

    def to_dict(self) -> dict[str, Any]:
        self._coerce()
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = to_wire(value)
        return out
