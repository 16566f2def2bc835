"""Hostile HTTP requests for the route fuzz test: values and bodies an attacker or a broken client sends
(integers beyond 64 bits, invalid UTF-8, deep nesting, 100,000-digit numbers, NaN, odd strings), built
from the served OpenAPI document so that every route, present and future, is covered.

Bodies are JSON with sentinel strings that are swapped for raw bytes after encoding, so the hostile
tokens can sit anywhere in an otherwise plausible body.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

# Sentinel string -> raw JSON text it becomes in the encoded body.
RAW_TOKENS: dict[str, bytes] = {
    "\x00BIG_INT": b"9" * 100_000,
    "\x00NEG_BIG_INT": b"-" + b"1" * 30,
    "\x00HUGE_FLOAT": b"1e999999",
    "\x00NAN": b"NaN",
    "\x00INF": b"-Infinity",
    "\x00BAD_UTF8": b'"\xff\xfe\xc3("',
    "\x00SURROGATE": b'"\\ud800x"',
    "\x00DEEP_LIST": b"[" * 5000 + b"]" * 5000,
    "\x00DEEP_OBJECT": b'{"a":' * 3000 + b"1" + b"}" * 3000,
}

HOSTILE_JSON: list[Any] = [
    2**64,
    2**63,
    -(2**63) - 1,
    -1,
    0,
    10**30,
    1.5,
    -0.0,
    1e308,
    True,
    None,
    "",
    "a" * 5000,
    "\u202e\u0000",
    "18446744073709551616",
    "-9223372036854775809",
    "NaN",
    "2026-13-45T99:99:99",
    [],
    {},
    [None],
    {"": None},
    *RAW_TOKENS,
]

# Values for integer path and query parameters (the first ones are ordinary).
PATH_INTS = ["1", "2", "3", "18446744073709551616", "9223372036854775808", "-9223372036854775809"]
PATH_INTS += ["-1", "0", "1e3", "0x10", "NaN", "1.5", "9" * 400, "%00", "abc"]
PATH_STRINGS = ["1", "x", "18446744073709551616", "-1", "%FF%FE", "%ED%A0%80", "..", "a" * 3000]
PATH_STRINGS += ["%00", "%20", "' OR 1=1 --", "<script>", "%E2%80%AE", "NaN"]

RAW_BODIES: list[bytes] = [
    b"",
    b"{",
    b"null",
    b"[]",
    b"{}",
    b"\xff\xfe",
    b'{"a": "\xff"}',
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b"9" * 100_000,
    b'{"x": 1e999999}',
    b'{"x": NaN}',
    b'{"x": -Infinity}',
    b"\x1f\x8b\x08\x00garbage",
    b"grant_type=client_credentials&client_id=%FF&client_secret=\x00",
    b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xff\r\n',
]

# Operations (besides DELETEs) that would take away credentials the rest of a run needs.
DESTRUCTIVE_SUFFIXES = ("/rotate-secret", "/inputs/{input_id}")

# The ones every body route gets in turn (the rest are drawn at random).
NASTY_BODIES: list[bytes] = [RAW_BODIES[i] for i in (1, 5, 6, 7, 8, 9, 10, 11)]


@dataclass
class Credentials:
    admin_token: str
    input_basic: str  # "Basic ..." of a server-to-server input
    web_key: str  # key of a Web (browser) input


@dataclass
class HostileRequest:
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None


def encode(value: Any) -> bytes:
    """JSON with the RAW_TOKENS sentinels replaced by their raw bytes."""
    text = json.dumps(value, allow_nan=True).encode()
    for sentinel, raw in RAW_TOKENS.items():
        quoted = json.dumps(sentinel).encode()
        if quoted in text:
            text = text.replace(quoted, raw)
    return text


class Generator:
    def __init__(self, openapi: dict[str, Any], creds: Credentials, seed: int) -> None:
        self._components = openapi.get("components", {}).get("schemas", {})
        self._creds = creds
        self.rng = random.Random(seed)

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self._components.get(schema["$ref"].rsplit("/", 1)[-1], {})
        return schema

    def instance(self, schema: dict[str, Any], depth: int = 0) -> Any:
        """A value shaped like `schema`, with a hostile value in place of some of its parts."""
        rng = self.rng
        if rng.random() < 0.15 or depth > 6:
            return rng.choice(HOSTILE_JSON)
        schema = self._resolve(schema)
        for key in ("anyOf", "oneOf", "allOf"):
            if schema.get(key):
                return self.instance(rng.choice(schema[key]), depth + 1)
        if schema.get("enum"):
            return rng.choice(schema["enum"])
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            props: dict[str, Any] = schema.get("properties", {})
            return {name: self.instance(sub, depth + 1) for name, sub in props.items() if rng.random() < 0.8}
        if kind == "array":
            return [self.instance(schema.get("items", {}), depth + 1) for _ in range(rng.randint(0, 3))]
        if kind == "integer":
            return rng.choice([1, 2, 0, -1, 2**63 - 1, 2**64, -(2**64)])
        if kind == "number":
            return rng.choice([1.5, 0, -1e300, "\x00NAN", "\x00HUGE_FLOAT"])
        if kind == "boolean":
            return rng.choice([True, False])
        if kind == "string":
            return rng.choice(["x", "", "1", "a" * 300, "\u0000", "18446744073709551616", "2020-01-01"])
        return rng.choice(HOSTILE_JSON)

    def body(self, operation: dict[str, Any]) -> bytes | None:
        rng = self.rng
        content: dict[str, Any] = operation.get("requestBody", {}).get("content", {})
        media: dict[str, Any] = next(iter(content.values()), {})
        schema = media.get("schema")
        roll = rng.random()
        if roll < 0.3:
            return rng.choice(RAW_BODIES)
        if roll < 0.4:
            return encode(rng.choice(HOSTILE_JSON))
        if schema is None:
            return encode({"a": rng.choice(HOSTILE_JSON)}) if rng.random() < 0.5 else None
        return encode(self.instance(schema))

    def headers(self, path: str, ordinary: bool = False) -> dict[str, str]:
        rng = self.rng
        creds = self._creds
        if path.startswith(("/api/", "/platform/", "/userprofile/", "/v1/audiences", "/v1/workspace/")):
            auth = f"Bearer {creds.admin_token}"
        else:
            auth = creds.input_basic
        headers = {"Authorization": auth, "x-mp-key": creds.web_key}
        roll = 1.0 if ordinary else rng.random()
        if roll < 0.1:
            headers["Authorization"] = rng.choice(
                ["Basic !!!", "Basic /w==", "Bearer \u00ff", "Basic", "x" * 9000]
            )
        elif roll < 0.2:
            headers["Content-Encoding"] = rng.choice(["gzip", "deflate", "br", "x"])
        elif roll < 0.3:
            headers["Content-Type"] = rng.choice(
                [
                    "application/x-www-form-urlencoded",
                    "multipart/form-data; boundary=x",
                    "text/plain",
                    "a/b;;=",
                ]
            )
        elif roll < 0.4:
            headers["Date"] = rng.choice(["Mon, 99 Foo 2020 99:99:99 GMT", "0", "2026-12-07T00:00:00"])
            headers["x-mp-signature"] = rng.choice(["zz", "", "0" * 64])
        headers.setdefault("Content-Type", "application/json")
        return headers

    def path_value(self, param: dict[str, Any], destructive: bool, ordinary: bool = False) -> str:
        """A value for a path parameter; never an existing id for destructive operations, which would
        take away the credentials and objects the rest of the run needs."""
        rng = self.rng
        name = param["name"]
        integer = self._resolve(param.get("schema", {})).get("type") == "integer"
        if name in ("key", "api_key") and (ordinary or rng.random() < 0.7):
            return self._creds.web_key
        values = PATH_INTS if integer else PATH_STRINGS
        if ordinary:
            return values[0]
        if destructive:
            return rng.choice(values[3:])
        return rng.choice(values[:3]) if rng.random() < 0.5 else rng.choice(values)

    def request(self, method: str, template: str, operation: dict[str, Any]) -> HostileRequest:
        rng = self.rng
        destructive = method == "DELETE" or template.endswith(DESTRUCTIVE_SUFFIXES)
        path = template
        params: dict[str, str] = {}
        for param in operation.get("parameters", []):
            where = param.get("in")
            if where == "path":
                path = path.replace("{" + param["name"] + "}", self.path_value(param, destructive))
            elif where == "query" and rng.random() < 0.5:
                params[param["name"]] = rng.choice(PATH_INTS + PATH_STRINGS[1:])
        content = self.body(operation) if method in ("POST", "PUT", "PATCH") else None
        return HostileRequest(method, path, params, self.headers(path), content)
