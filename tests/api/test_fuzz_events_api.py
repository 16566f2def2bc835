"""Fuzzing the Events API over HTTP: any input gets 202 or a 4xx with an errors body, never a 5xx."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.batches import all_fixture_names, load_fixture
from support.fermion_proc import FermionProcess
from support.fuzzing import json_values, mutations_of

mutated_batches = mutations_of(lambda draw: load_fixture(draw(st.sampled_from(all_fixture_names()))))


@pytest.fixture(scope="module")
def client(fermion: FermionProcess) -> Iterator[httpx.Client]:
    key, secret = fermion.input_creds()
    auth = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
    with httpx.Client(base_url=fermion.base_url, headers={"Authorization": auth}, timeout=30) as c:
        yield c


def check(r: httpx.Response) -> None:
    assert r.status_code < 500, r.text
    assert r.status_code in (202, 400, 413), r.text
    if r.status_code != 202:
        errors = r.json()["errors"]
        assert errors and all(e["code"] and e["message"] and "field" in e for e in errors)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(body=mutated_batches)
def test_mutated_single_batches(client: httpx.Client, body: Any) -> None:
    check(client.post("/v2/events", content=json.dumps(body).encode()))


@FUZZ
@given(bodies=st.lists(mutated_batches, max_size=4))
def test_mutated_bulk_requests(client: httpx.Client, bodies: list[Any]) -> None:
    check(client.post("/v2/bulkevents", content=json.dumps(bodies).encode()))


@FUZZ
@given(raw=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_bytes(client: httpx.Client, raw: bytes) -> None:
    for path in ("/v2/events", "/v2/bulkevents", "/v2/bulkevents/historical"):
        check(client.post(path, content=raw))
