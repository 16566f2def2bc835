"""Field paths of decode errors: msgspec names where a batch failed (`$.events[0].data...`, `[...]` for
a map key); this renders that path against the parsed JSON as the codec names fields."""

from __future__ import annotations

import json
import re
from typing import Any, Final

_AT: Final = re.compile(r"(?P<msg>.*) - at `\$(?P<path>.*)`", re.S)
_TOKEN: Final = re.compile(r"\.(\w+)|\[(\d+)\]|\[\.\.\.\]")
_GOT: Final = re.compile(r"got `(\w+)`")
_IDENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def field_path(text: str, obj: Any) -> tuple[str, str]:
    """(field path, message) of a msgspec validation error message, the path rendered against `obj`
    (the parsed JSON) as the codec names fields: `events[0].data.event_name`, `user_attributes["a b"]`."""
    m = _AT.fullmatch(text)
    if m is None:
        return "body", text
    message, path = m["msg"], m["path"]
    tokens = [(t.group(1), t.group(2)) for t in _TOKEN.finditer(path)]
    resolved = _resolve(obj, tokens, message)
    if resolved is None:  # fall back to msgspec's own rendering
        return path.lstrip(".").replace("[...]", "[*]") or "body", message
    return "".join(resolved).lstrip(".") or "body", message


def _resolve(obj: Any, tokens: list[tuple[str | None, str | None]], message: str) -> list[str] | None:
    """Render the path; a `[...]` (msgspec's unnamed map key) becomes the first key that fits."""
    if not tokens:
        got = _GOT.search(message)
        return [] if got is None or json_type(obj) == got.group(1) else None
    (name, index), rest = tokens[0], tokens[1:]
    if name is not None:
        if not isinstance(obj, dict) or name not in obj:
            return None
        tail = _resolve(obj[name], rest, message)
        return None if tail is None else [f".{name}", *tail]
    if index is not None:
        if not isinstance(obj, list) or int(index) >= len(obj):
            return None
        tail = _resolve(obj[int(index)], rest, message)
        return None if tail is None else [f"[{index}]", *tail]
    if not isinstance(obj, dict):
        return None
    for key, value in obj.items():
        tail = _resolve(value, rest, message)
        if tail is not None:
            seg = f".{key}" if _IDENT.fullmatch(key) else f"[{json.dumps(key, ensure_ascii=False)}]"
            return [seg, *tail]
    return None


def json_type(v: object) -> str:
    """The JSON type name of a decoded value, as error messages say it."""
    for t, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"), (list, "array")):
        if isinstance(v, t):
            return name
    return "object" if isinstance(v, dict) else "null" if v is None else type(v).__name__
