"""IDSync wire format: request bodies (msgspec), their validation into service arguments, and the
error body union every SDK can read (spec 1.5): `errors` (docs, Android), `Errors`/`ErrorCode`/
`StatusCode`/`RequestId` (what the Web SDK's fixtures show), top-level `code`/`message` (iOS)."""

from __future__ import annotations

import zlib
from typing import Any

import msgspec
import orjson
from starlette.responses import Response

from fermion.identity.alias import AliasRequest
from fermion.identity.modify import IdentityChange
from fermion.identity.types import canonical_type
from fermion.model.events_common import Int
from fermion.model.ids import to_signed64
from fermion.model.limits import MAX_DEVICE_ID_CHARS, identity_limit, json_problem

MAX_BODY_BYTES = 64 * 1024
_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND_ERROR",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


class WireError(Exception):
    """An answer other than success: status, (field, message) pairs, and an optional error code."""

    def __init__(self, status: int, errors: list[tuple[str, str]], code: str = "") -> None:
        super().__init__("; ".join(m for _, m in errors))
        self.status, self.errors, self.code = status, errors, code or _CODES.get(status, "ERROR")


def bad(field: str, message: str, code: str = "BAD_REQUEST") -> WireError:
    return WireError(400, [(field, message)], code)


def error_body(err: WireError, request_id: str) -> bytes:
    items: list[dict[str, Any]] = []
    for field, message in err.errors:
        item: dict[str, Any] = {"code": err.code, "message": message}
        if field:
            item["field"] = field
        items.append(item)
    return orjson.dumps(
        {
            "errors": items,
            "Errors": items,
            "ErrorCode": err.code,
            "StatusCode": err.status,
            "RequestId": request_id,
            "code": err.status,
            "message": items[0]["message"] if items else "",
        }
    )


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(value), status_code=status, headers=headers, media_type="application/json")


def body_bytes(raw: bytes, content_encoding: str | None) -> bytes:
    """The body, inflated when gzip/deflate encoded (Android gzips identity requests)."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise WireError(415, [("Content-Encoding", f"{encoding!r} is not supported")])
    inflater = zlib.decompressobj(zlib.MAX_WBITS if encoding == "deflate" else 16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(raw, MAX_BODY_BYTES + 1)
    except zlib.error as exc:
        raise bad("body", f"not valid {encoding}: {exc}") from None
    if len(body) > MAX_BODY_BYTES:
        raise WireError(413, [("body", f"at most {MAX_BODY_BYTES} bytes")])
    return body


class IdentityBody(msgspec.Struct):
    """identify / login / logout / search (spec 1.3); only `environment` is required."""

    environment: str | None = None
    known_identities: dict[str, Any] | None = None  # values checked in identities_of (names the key)
    previous_mpid: str | int | None = None
    client_sdk: Any = None
    context: Any = None
    request_id: Any = None
    request_timestamp_ms: Any = None


class _Change(msgspec.Struct):
    identity_type: str | None = None
    old_value: str | None = None
    new_value: str | None = None


class ModifyBody(msgspec.Struct):
    identity_changes: list[_Change] | None = None
    environment: str | None = None
    client_sdk: Any = None
    context: Any = None
    request_id: Any = None
    request_timestamp_ms: Any = None


class _AliasData(msgspec.Struct):
    source_mpid: str | int | None = None
    destination_mpid: str | int | None = None
    start_unixtime_ms: Int | None = None
    end_unixtime_ms: Int | None = None
    scope: str | None = None
    device_application_stamp: str | None = None


class AliasBody(msgspec.Struct):
    data: _AliasData | None = None
    request_id: str | None = None
    request_type: str | None = None
    environment: str | None = None
    api_key: str | None = None


def decode(body: bytes, kind: type[Any]) -> Any:
    if not body.strip():
        raise bad("body", "a JSON object is required")
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `$")
        field = where.rstrip("`").lstrip(".") or "body"
        raise bad(field.replace("`", ""), message) from None
    except msgspec.DecodeError as exc:
        raise bad("body", f"not valid JSON: {exc}") from None
    except (UnicodeDecodeError, RecursionError) as exc:
        raise bad("body", json_problem(exc)) from None


def environment(value: str | None, required: bool = True) -> str:
    if value is None and not required:
        return "production"
    if not isinstance(value, str) or value.lower() not in ("production", "development"):
        raise bad("environment", 'must be "production" or "development"')
    return value.lower()


def mpid_of(value: object, field: str, allow_zero: bool = False) -> int | None:
    """A signed 64-bit MPID from a decimal string or number (unsigned spellings fold in)."""
    if value is None:
        return None
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    try:
        number = int(text, 10)
    except ValueError:
        raise bad(field, "must be a 64-bit integer MPID (a decimal string)") from None
    if not -(2**63) <= number < 2**64:
        raise bad(field, "must be a 64-bit integer MPID (a decimal string)")
    number = to_signed64(number)
    if number == 0 and not allow_zero:
        return None  # Android's temporary MPID before the first identify
    return number


def identities_of(body: IdentityBody, required: bool) -> list[tuple[str, str | None]]:
    known = body.known_identities or {}
    for key, value in known.items():
        if value is not None and not isinstance(value, str):
            raise bad(f"known_identities.{key}", "must be a string or null")
        _check_length(f"known_identities.{key}", key, value)
    if required and not any(v for v in known.values()):
        raise bad("known_identities", "knownIdentities is empty.", "LOOKUP_ERROR")
    return list(known.items())


def changes_of(body: ModifyBody) -> list[IdentityChange]:
    if body.identity_changes is None:
        raise bad("identity_changes", "is required")
    out: list[IdentityChange] = []
    for i, c in enumerate(body.identity_changes):
        if not c.identity_type:
            raise bad(f"identity_changes[{i}].identity_type", "is required")
        _check_length(f"identity_changes[{i}].new_value", c.identity_type, c.new_value)
        out.append(IdentityChange(c.identity_type, c.old_value, c.new_value))
    return out


def _check_length(field: str, key: str, value: str | None) -> None:
    """400 for an identity value over its type's limit (`model.limits`, as the Events API)."""
    limit = identity_limit(canonical_type(key) or key)
    if value is not None and len(value) > limit:
        raise bad(field, f"must be at most {limit} characters")


def alias_of(body: AliasBody, fallback_request_id: str) -> AliasRequest:
    data = body.data
    if data is None:
        raise bad("data", "is required")
    stamp = data.device_application_stamp
    if stamp is not None and len(stamp) > MAX_DEVICE_ID_CHARS:
        raise bad("data.device_application_stamp", f"must be at most {MAX_DEVICE_ID_CHARS} characters")
    source = mpid_of(data.source_mpid, "data.source_mpid")
    destination = mpid_of(data.destination_mpid, "data.destination_mpid")
    missing = [
        (f"data.{name}", "is required")
        for name, value in (
            ("source_mpid", source),
            ("destination_mpid", destination),
            ("start_unixtime_ms", data.start_unixtime_ms),
            ("end_unixtime_ms", data.end_unixtime_ms),
        )
        if value is None
    ]
    if missing:
        raise WireError(400, missing)
    assert source is not None and destination is not None
    assert data.start_unixtime_ms is not None and data.end_unixtime_ms is not None
    return AliasRequest(
        source_mpid=source,
        destination_mpid=destination,
        start_ms=data.start_unixtime_ms,
        end_ms=data.end_unixtime_ms,
        request_id=(body.request_id or fallback_request_id)[:200],
        scope=data.scope or "device",
        environment=environment(body.environment, required=False),
        device_application_stamp=data.device_application_stamp,
    )
