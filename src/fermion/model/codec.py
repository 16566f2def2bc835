"""Decode and encode batches losslessly: JSON keys the model does not declare are kept in each
struct's `extra` and written back out, and invalid input raises `BatchError` naming the JSON path.
"""

from __future__ import annotations

import re
from typing import Any, Final, cast

import msgspec
import msgspec.inspect as mi

from fermion.model.batch import Batch
from fermion.model.decode_paths import field_path, json_type
from fermion.model.enums import EVENT_TYPES
from fermion.model.events import CommerceEvent, CustomEvent, Event, ScreenViewEvent
from fermion.model.events_common import EXTRA_KEY, Id
from fermion.model.limits import json_problem, length_problem, out_of_range_integer

__all__ = [
    "BatchError",
    "FieldError",
    "batch_to_builtins",
    "decode_batch",
    "decode_batch_checked",
    "decode_batch_obj",
    "decode_bulk",
    "decode_plain_batch",
    "encode_batch",
    "event_name_of",
]

MISSING_EVENT_TYPE: Final = 'Required event field "event_type" is missing or empty.'


class FieldError(msgspec.Struct, frozen=True):
    """One problem: `field` is a JSON path like `events[2].event_type`, or `body` for the whole body."""

    field: str
    message: str


class BatchError(ValueError):
    """Invalid input. `errors` lists every problem found (at least one)."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


# ------------------------------------------------------------------------------------------ shapes
# A shape describes, for one struct type, which keys it declares and where nested structs sit, so
# both walks below only visit struct positions (never user maps such as custom_attributes).

_STRUCT, _LIST, _DICT, _EVENTS = 0, 1, 2, 3
_ID_INFO: Final = mi.type_info(Id)


class _Shape:
    __slots__ = ("child_names", "children", "ids", "known", "nulls")

    def __init__(self) -> None:
        self.known: frozenset[str] = frozenset()
        self.children: tuple[tuple[str, int, Any], ...] = ()
        self.child_names: frozenset[str] = frozenset()
        self.ids: tuple[str, ...] = ()
        self.nulls: tuple[str, ...] = ()


def _non_null(t: mi.Type) -> list[mi.Type]:
    if isinstance(t, mi.UnionType):
        return [m for m in t.types if not isinstance(m, mi.NoneType)]
    return [t]


def _build(info: mi.StructType, cache: dict[type, _Shape]) -> _Shape:
    if info.cls in cache:
        return cache[info.cls]
    shape = cache[info.cls] = _Shape()
    known: set[str] = set()
    ids: list[str] = []
    nulls: list[str] = []
    children: dict[str, tuple[str, int, Any]] = {}
    if info.tag_field is not None:
        known.add(info.tag_field)
    for f in info.fields:
        if f.encode_name == EXTRA_KEY:
            continue
        known.add(f.encode_name)
        members = _non_null(f.type)
        nullable = isinstance(f.type, mi.AnyType | mi.NoneType) or (
            isinstance(f.type, mi.UnionType) and len(members) < len(f.type.types)
        )
        if not f.required and not nullable:
            nulls.append(f.encode_name)  # e.g. `events`, `data`: null reads as absent
        if len(members) != 1:
            continue
        t = members[0]
        if t == _ID_INFO:
            ids.append(f.encode_name)
        elif isinstance(t, mi.StructType):
            children[f.encode_name] = (f.encode_name, _STRUCT, _build(t, cache))
        elif isinstance(t, mi.DictType) and isinstance(t.value_type, mi.StructType):
            children[f.encode_name] = (f.encode_name, _DICT, _build(t.value_type, cache))
        elif isinstance(t, mi.ListType) and isinstance(t.item_type, mi.StructType):
            children[f.encode_name] = (f.encode_name, _LIST, _build(t.item_type, cache))
        elif isinstance(t, mi.ListType) and isinstance(t.item_type, mi.UnionType):
            tags = {m.tag: _build(m, cache) for m in t.item_type.types if isinstance(m, mi.StructType)}
            if any([c[0] for c in env.children] != ["data"] for env in tags.values()):
                raise TypeError("event envelopes must have exactly one nested struct, `data`")
            children[f.encode_name] = (f.encode_name, _EVENTS, tags)
    shape.known, shape.ids, shape.nulls = frozenset(known), tuple(ids), tuple(nulls)
    shape.children, shape.child_names = tuple(children.values()), frozenset(children)
    return shape


_BATCH_SHAPE: Final = _build(cast(mi.StructType, mi.type_info(Batch)), {})
_INT_RE: Final = re.compile(r"-?[0-9]{1,20}")

# ------------------------------------------------------------------------------------------ decode
# Output equals input after JSON parsing except for these normalizations: numeric-string ids (the
# `Id` fields: mpid, origin_mpid, batch_id, event_id, session_id, previous/current_mpid) become
# ints; a declared field set to null is dropped (null means absent), and so is `"events": []`;
# a missing or null event `data` is written as `{}`; key order may change.
# Always encode through encode_batch/batch_to_builtins: plain msgspec would emit EXTRA_KEY as a key.


def _prep(d: dict[str, Any], shape: _Shape, errs: list[FieldError]) -> dict[str, Any]:
    """Return `d` ready for msgspec.convert: unknown keys moved under EXTRA_KEY, numeric-string ids
    made ints, null in non-nullable fields dropped. Copies on write; never mutates `d`."""
    out = d
    keys = d.keys()
    if not keys <= shape.known:
        known = shape.known
        out = {}
        extra = {}
        for k, v in d.items():
            if k in known:
                out[k] = v
            else:
                extra[k] = v
        out[EXTRA_KEY] = extra
    if not keys.isdisjoint(shape.child_names):
        for name, kind, sub in shape.children:
            v = d.get(name)
            if v is None:
                continue
            new = v
            if kind == _STRUCT:
                if type(v) is dict:
                    new = _prep(v, sub, errs)
            elif kind == _EVENTS:
                if type(v) is list:
                    new = _prep_events(v, sub, name, errs)
            elif kind == _LIST:
                if type(v) is list:
                    new = [_prep(x, sub, errs) if type(x) is dict else x for x in v]
            elif type(v) is dict:
                new = {k: _prep(x, sub, errs) if type(x) is dict else x for k, x in v.items()}
            if new is not v:
                if out is d:
                    out = dict(d)
                out[name] = new
    for name in shape.ids:
        v = d.get(name)
        if type(v) is str and _INT_RE.fullmatch(v):
            if out is d:
                out = dict(d)
            out[name] = int(v)
    for name in shape.nulls:
        if name in d and d[name] is None:
            if out is d:
                out = dict(d)
            del out[name]
    return out


def _prep_events(items: list[Any], tags: dict[str, _Shape], name: str, errs: list[FieldError]) -> list[Any]:
    out = items
    for i, ev in enumerate(items):
        if type(ev) is not dict:
            continue  # msgspec reports it
        et = ev.get("event_type")
        shape = tags.get(et) if type(et) is str else None
        if shape is None:
            errs.append(FieldError(f"{name}[{i}].event_type", _event_type_problem(et)))
            continue
        data = ev.get("data")
        if len(ev) == 2 and type(data) is dict:  # the usual {"event_type", "data"}: skip the envelope
            new_data = _prep(data, shape.children[0][2], errs)
            new = ev if new_data is data else {**ev, "data": new_data}
        else:
            new = _prep(ev, shape, errs)
        if new is not ev:
            if out is items:
                out = list(items)
            out[i] = new
    return out


def _event_type_problem(et: object) -> str:
    if et is None or et == "":
        return MISSING_EVENT_TYPE
    if not isinstance(et, str):
        return f'"event_type" must be a string, got {json_type(et)}.'
    return f'Unknown event_type "{et}"; expected one of: {", ".join(sorted(EVENT_TYPES))}.'


_ANY_DECODER: Final = msgspec.json.Decoder()
_BULK_DECODER: Final = msgspec.json.Decoder(list[msgspec.Raw])


def decode_batch(raw: bytes) -> Batch:
    """JSON bytes of one batch object -> Batch. Raises BatchError."""
    return _decode_obj(_parse(raw))[0]


def decode_batch_obj(obj: object) -> Batch:
    """An already-parsed JSON value -> Batch (the value is not modified). Raises BatchError."""
    return _decode_obj(obj)[0]


def decode_batch_checked(raw: bytes) -> tuple[Batch, bool]:
    """The ingest decoder: decode_batch plus `model.limits` (64-bit integers anywhere, value lengths),
    and whether the JSON needed none of the normalizations above (no unknown keys, no numeric-string
    ids, no nulls to drop): then decode_plain_batch gives the same Batch, faster."""
    obj = _parse(raw)
    batch, plain = _decode_obj(obj)
    problem = out_of_range_integer(raw, obj) or length_problem(len(raw), batch)
    if problem is not None:
        raise BatchError([FieldError(*problem)])
    return batch, plain


def _parse(raw: bytes) -> Any:
    try:
        return _ANY_DECODER.decode(raw)
    except msgspec.ValidationError as exc:  # e.g. a number out of range such as 1e400
        raise BatchError([FieldError("body", str(exc))]) from None
    except msgspec.DecodeError as exc:
        raise BatchError([FieldError("body", f"Invalid JSON: {exc}")]) from None
    except (UnicodeDecodeError, RecursionError) as exc:
        raise BatchError([FieldError("body", json_problem(exc))]) from None


_PLAIN_DECODER: Final = msgspec.json.Decoder(Batch)


def decode_plain_batch(raw: bytes) -> Batch:
    """A batch that decode_batch_checked found plain (ingest records it as InboundRecord.plain), in one
    typed pass; any other batch goes through decode_batch. Raises BatchError."""
    try:
        return _PLAIN_DECODER.decode(raw)
    except msgspec.DecodeError:
        return decode_batch(raw)


def _decode_obj(obj: object) -> tuple[Batch, bool]:
    if type(obj) is not dict:
        raise BatchError([FieldError("body", f"Expected a JSON object (one batch), got {json_type(obj)}.")])
    errs: list[FieldError] = []
    prepared = _prep(obj, _BATCH_SHAPE, errs)
    if errs:
        raise BatchError(errs)
    try:
        return msgspec.convert(prepared, Batch), prepared is obj
    except msgspec.ValidationError as exc:
        raise BatchError([FieldError(*field_path(str(exc), prepared))]) from None


def decode_bulk(raw: bytes) -> list[msgspec.Raw]:
    """A JSON array -> the raw JSON of each element, unvalidated. Raises BatchError."""
    try:
        return _BULK_DECODER.decode(raw)
    except msgspec.ValidationError as exc:  # (a subclass of DecodeError)
        if not str(exc).startswith("Expected `array`"):
            raise BatchError([FieldError("body", str(exc))]) from None
        kind = _KINDS.get(raw.lstrip()[:1], "number")
        raise BatchError([FieldError("body", f"Expected a JSON array of batches, got {kind}.")]) from None
    except msgspec.DecodeError as exc:
        raise BatchError([FieldError("body", f"Invalid JSON: {exc}")]) from None
    except (UnicodeDecodeError, RecursionError) as exc:
        raise BatchError([FieldError("body", json_problem(exc))]) from None


_KINDS: Final = {b"{": "object", b'"': "string", b"t": "bool", b"f": "bool", b"n": "null"}


# ------------------------------------------------------------------------------------------ encode

_ENCODER: Final = msgspec.json.Encoder()
_EXTRA_BYTES: Final = b'"' + EXTRA_KEY.encode() + b'"'


def _flatten(d: dict[str, Any], shape: _Shape) -> None:
    """Merge each struct's EXTRA_KEY dict back into it, in place (declared fields win)."""
    for name, kind, sub in shape.children:
        v = d.get(name)
        if v is None:
            continue
        if kind == _STRUCT:
            _flatten(v, sub)
        elif kind == _EVENTS:
            for ev in v:
                _flatten(ev, sub[ev["event_type"]])
        elif kind == _LIST:
            for x in v:
                _flatten(x, sub)
        else:
            for x in v.values():
                _flatten(x, sub)
    extra = d.pop(EXTRA_KEY, None)
    if extra:
        for k, v in extra.items():
            if k not in d:
                d[k] = v


def batch_to_builtins(batch: Batch) -> dict[str, Any]:
    """The batch as JSON-ready builtins, unknown fields merged back in."""
    obj: dict[str, Any] = msgspec.to_builtins(batch)
    _flatten(obj, _BATCH_SHAPE)
    return obj


def encode_batch(batch: Batch) -> bytes:
    """The batch as JSON bytes, unknown fields included (the key order may differ from the input)."""
    out = _ENCODER.encode(batch)
    if _EXTRA_BYTES not in out:  # no struct carries extras (a rare false positive only costs time)
        return out
    return _ENCODER.encode(batch_to_builtins(batch))


def event_name_of(event: Event) -> str:
    """Display name: custom event name, screen name, commerce action (or "impression"), else type."""
    if isinstance(event, CustomEvent):
        return event.data.event_name or event.event_type
    if isinstance(event, ScreenViewEvent):
        return event.data.screen_name or event.event_type
    if isinstance(event, CommerceEvent):
        d = event.data
        if d.product_action is not None and d.product_action.action:
            return d.product_action.action
        if d.promotion_action is not None and d.promotion_action.action:
            return d.promotion_action.action
        if d.product_impressions:
            return "impression"
    return event.event_type
