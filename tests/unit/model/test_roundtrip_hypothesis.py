"""Property tests: random batches (built from the struct definitions, with random unknown fields)
survive encode/decode, and fixtures with random unknown fields injected come back out unchanged.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fermion.model.batch import Batch
from fermion.model.codec import (
    decode_batch,
    decode_batch_checked,
    decode_batch_obj,
    decode_plain_batch,
    encode_batch,
)
from fermion.model.events_common import EXTRA_KEY

FIXTURES = Path(__file__).parents[2] / "fixtures" / "batches"
FIXTURE_JSON = {p.stem: json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))}

keys = st.text(max_size=8)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)  # ingest refuses integers beyond
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=6,
)


def declared(info: mi.StructType) -> set[str]:
    names = {f.encode_name for f in info.fields}
    if info.tag_field is not None:
        names.add(info.tag_field)
    return names


def extras_for(info: mi.StructType) -> st.SearchStrategy[dict[str, Any]]:
    taken = declared(info)
    return st.dictionaries(keys.filter(lambda k: k not in taken), json_values, max_size=2)


_cache: dict[Any, st.SearchStrategy[Any]] = {}


def strategy(t: mi.Type) -> st.SearchStrategy[Any]:
    if isinstance(t, mi.StructType):
        if t.cls not in _cache:
            _cache[t.cls] = st.deferred(lambda: struct_strategy(t))
        return _cache[t.cls]
    if isinstance(t, mi.Metadata):
        return strategy(t.type)
    if isinstance(t, mi.IntType):
        return st.integers(min_value=t.ge, max_value=t.le)
    if isinstance(t, mi.UnionType):
        return st.one_of([strategy(m) for m in t.types])
    if isinstance(t, mi.ListType):
        return st.lists(strategy(t.item_type), max_size=3)
    if isinstance(t, mi.DictType):
        return st.dictionaries(keys, strategy(t.value_type), max_size=3)
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(t.values)
    simple: dict[type, st.SearchStrategy[Any]] = {
        mi.NoneType: st.none(),
        mi.BoolType: st.booleans(),
        mi.FloatType: st.floats(allow_nan=False, allow_infinity=False),
        mi.StrType: st.text(max_size=8),
        mi.AnyType: json_values,
    }
    return simple[type(t)]


def struct_strategy(info: mi.StructType) -> st.SearchStrategy[Any]:
    optional = {f.name: strategy(f.type) for f in info.fields if f.encode_name != EXTRA_KEY}
    return st.builds(
        lambda kwargs, extra: info.cls(**kwargs, extra=extra),
        st.fixed_dictionaries({}, optional=optional),
        extras_for(info),
    )


BATCH_INFO = mi.type_info(Batch)
assert isinstance(BATCH_INFO, mi.StructType)
batches = strategy(BATCH_INFO)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches)
def test_random_batches_survive_encode_decode(batch: Batch) -> None:
    raw = encode_batch(batch)
    assert decode_batch(raw) == batch
    assert decode_batch_obj(json.loads(raw)) == batch


def _member_for(t: mi.Type, value: Any) -> mi.Type | None:
    """The union member (or the type itself) that describes a JSON value, for walking fixtures."""
    if isinstance(t, mi.Metadata):
        return _member_for(t.type, value)
    if isinstance(t, mi.UnionType):
        for m in t.types:
            found = _member_for(m, value)
            if found is not None:
                return found
        return None
    if isinstance(t, mi.StructType):
        if not isinstance(value, dict):
            return None
        return t if t.tag is None or value.get(t.tag_field or "") == t.tag else None
    if isinstance(t, mi.ListType):
        return t if isinstance(value, list) else None
    if isinstance(t, mi.DictType):
        return t if isinstance(value, dict) else None
    return t


def inject(value: Any, t: mi.Type, draw: Any) -> None:
    """Add random unknown keys to every struct-typed object of `value`, in place."""
    found = _member_for(t, value)
    if isinstance(found, mi.StructType):
        fields = {f.encode_name: f.type for f in found.fields}
        for name in list(value):
            if name in fields:
                inject(value[name], fields[name], draw)
        value.update(draw(extras_for(found)))
    elif isinstance(found, mi.ListType):
        for item in value:
            inject(item, found.item_type, draw)
    elif isinstance(found, mi.DictType):
        for item in value.values():
            inject(item, found.value_type, draw)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(FIXTURE_JSON)), st.data())
def test_fixtures_with_random_unknown_fields_round_trip(name: str, data: st.DataObject) -> None:
    obj = copy.deepcopy(FIXTURE_JSON[name])
    inject(obj, BATCH_INFO, data.draw)
    raw = msgspec.json.encode(obj)
    batch = decode_batch(raw)
    assert json.loads(encode_batch(batch)) == json.loads(raw)
    assert decode_batch(encode_batch(batch)) == batch


def _assert_plain_path_agrees(raw: bytes) -> None:
    """decode_plain_batch (ingest found the JSON plain) gives exactly what decode_batch gives."""
    batch, plain = decode_batch_checked(raw)
    assert batch == decode_batch(raw)
    if plain:
        assert decode_plain_batch(raw) == batch


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches)
def test_plain_decoding_agrees_on_random_batches(batch: Batch) -> None:
    _assert_plain_path_agrees(encode_batch(batch))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(FIXTURE_JSON)), st.data())
def test_plain_decoding_agrees_on_fixtures(name: str, data: st.DataObject) -> None:
    obj = copy.deepcopy(FIXTURE_JSON[name])
    _assert_plain_path_agrees(msgspec.json.encode(obj))
    if data.draw(st.booleans()):
        inject(obj, BATCH_INFO, data.draw)
        _assert_plain_path_agrees(msgspec.json.encode(obj))


def test_what_is_not_plain() -> None:
    event = {"event_type": "custom_event", "data": {}}
    base: dict[str, Any] = {"environment": "production", "events": [event]}
    assert decode_batch_checked(msgspec.json.encode(base))[1] is True
    for changed in (
        {**base, "surprise": 1},  # an unknown key (kept under extra)
        {**base, "mpid": "42"},  # a numeric-string id (made an int)
        {**base, "events": None},  # null in a non-nullable field (dropped)
        {**base, "events": [{"event_type": "custom_event", "data": {"event_id": "7"}}]},
    ):
        assert decode_batch_checked(msgspec.json.encode(changed))[1] is False
