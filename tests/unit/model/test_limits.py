"""The ingest limits (model.limits) through the ingest decoder: integers beyond 64 bits anywhere,
look-alikes that are not integers, lengths at and over the reference's limits, malformed JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fermion.model.codec import BatchError, FieldError, decode_batch, decode_batch_checked

TOP, BOTTOM = 2**63 - 1, -(2**63)


def problem(body: Any) -> FieldError:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(BatchError) as caught:
        decode_batch_checked(raw)
    assert len(caught.value.errors) == 1
    return caught.value.errors[0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mpid": TOP + 1}, "mpid"),
        ({"mpid": str(BOTTOM - 1)}, "mpid"),
        ({"user_attributes": {"a": [1, 2, TOP + 1]}}, "user_attributes.a[2]"),
        ({"user_attributes": {"a b": {"c": BOTTOM - 1}}}, 'user_attributes["a b"].c'),
        ({"future": [{"x": 10**30}]}, "future[0].x"),
        ({"integration_attributes": {"k": {"v": 2**64}}}, "integration_attributes.k.v"),
        (
            {"events": [{"event_type": "custom_event", "data": {"custom_flags": {"f": 2**64}}}]},
            "events[0].data.custom_flags.f",
        ),
    ],
)
def test_integers_beyond_64_bits_are_refused_where_they_are(body: Any, field: str) -> None:
    assert problem(body).field == field


@pytest.mark.parametrize(
    "body",
    [
        {"mpid": TOP, "user_attributes": {"a": [TOP, BOTTOM]}, "x": {"y": BOTTOM}},
        {"mpid": str(BOTTOM), "x": "id 123456789012345678901234567890"},
        {"x": "99999999999999999999999", "y": 1.99999999999999999999999},
        {"x": 9.999999999999999999999e5, "y": -99999999999999999999.5},
    ],
)
def test_in_range_integers_and_look_alikes_pass(body: Any) -> None:
    decode_batch_checked(json.dumps(body).encode())


def test_the_worker_decoder_does_not_apply_ingest_limits() -> None:
    long_value = json.dumps({"user_attributes": {"a": "v" * 5000}}).encode()
    assert problem(long_value).field == "user_attributes.a"
    assert decode_batch(long_value).user_attributes == {"a": "v" * 5000}  # stored data still replays


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"x": "\xff"}', "UTF-8"),
        (b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested"),
        (b'{"x": NaN}', "Invalid JSON"),
        (b'{"x": -Infinity}', "Invalid JSON"),
        (b'{"x": 1e999}', "out of range"),
        (b'{"x": 1' + b"0" * 100_000 + b"}", "out of range"),
    ],
)
def test_malformed_json_is_a_body_error(raw: bytes, message: str) -> None:
    err = problem(raw)
    assert err.field == "body" and message in err.message


def test_non_finite_numeric_strings_are_no_numbers() -> None:
    from fermion.calculated.state import MAX_FLOAT, bounded
    from fermion.model.values import number_or_none

    assert [number_or_none(v) for v in ("NaN", "Infinity", " -inf ", "1e400", "1e308")] == [None] * 4 + [
        1e308
    ]
    assert bounded(MAX_FLOAT * 2) == MAX_FLOAT and bounded(-MAX_FLOAT * 2) == -MAX_FLOAT
    assert bounded(1.5) == 1.5
