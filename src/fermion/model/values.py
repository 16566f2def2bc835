"""Reading loosely typed attribute values: numbers from numbers or numeric strings, instants from ISO
8601 text (both calculated attributes and audience criteria compare values this way)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any


def number_or_none(value: Any) -> float | None:
    """A number, or a string holding one (surrounding blanks allowed); booleans are not numbers."""
    kind = type(value)  # exact types first: audience conditions call this per user and criterion
    if kind is float:
        return value  # type: ignore[no-any-return]
    if kind is int:
        return float(value)
    if kind is str:
        try:
            number = float(value.strip())
        except ValueError:
            return None
        # "NaN" and "Infinity" parse, but are no measurement (and would poison sums and averages).
        return number if math.isfinite(number) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def iso_to_ms(text: Any) -> int | None:
    """An ISO 8601 date or date-time (naive means UTC; `Z` accepted) as epoch ms; None if not one."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)
