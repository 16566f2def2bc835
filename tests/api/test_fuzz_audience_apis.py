"""Fuzzing the calculated-attribute, seeding, audience and audience-connection APIs over HTTP: mutated
valid bodies and arbitrary JSON get a 2xx or a 4xx whose `errors` body names what is wrong, never a 5xx."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.fermion_proc import FermionProcess
from support.fuzzing import json_values, mutations_of

CA_DEFINITION: dict[str, Any] = {
    "name": "Spent",
    "description": "fuzz",
    "draft_definition": {
        "recipe_type": "event",
        "datapoint": {
            "type": "event_attribute",
            "event_type": "custom_event",
            "custom_event_type": "transaction",
            "event_name": "Purchase",
            "attribute_name": "amount",
        },
        "conditions": [
            {
                "type": "number",
                "operator": "between",
                "attribute_name": "amount",
                "min_value": "1",
                "max_value": "9",
            }
        ],
        "calculation_type": "sum",
        "time_period": {"type": "within", "within": 7, "within_unit": "days"},
        "seeding": {"cutoff_date": "2020-01-02T00:00:00"},
    },
}

SEED: dict[str, Any] = {
    "environment": "production",
    "mpid": 42,
    "identities": {"customer_id": "fuzz"},
    "calculated_attributes": {
        "workspace": [
            {
                "attribute_name": "Spent",
                "calculation_type": "sum",
                "cutoff_date": "2020-01-02",
                "seed": {"value": 3},
            }
        ]
    },
    "user_attributes": {"workspace": [{"attribute_name": "tier", "attribute_value": "gold"}]},
}

AUDIENCE: dict[str, Any] = {
    "name": "Fuzzed",
    "external_name": "fuzzed",
    "criteria": {
        "and": [
            {"event": {"type": "custom_event", "name": "Buy", "window_days": 7}},
            {"not": {"identity": {"type": "email"}}},
            {
                "or": [
                    {
                        "user_attribute": {
                            "name": "tier",
                            "condition": {"type": "string", "operator": "exact_match", "value": "gold"},
                        }
                    },
                    {"consent": {"regulation": "ccpa"}},
                ]
            },
        ]
    },
}

CONNECTION: dict[str, Any] = {
    "output_id": 1,
    "settings": {"delivery_stream_name": "s", "region": "us-east-1", "identities_to_exclude": ["email"]},
}


def mutated(base: dict[str, Any]) -> st.SearchStrategy[Any]:
    return mutations_of(lambda _draw: base) | json_values


@pytest.fixture(scope="module")
def clients(fermion: FermionProcess) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    key, secret = fermion.input_creds()
    basic = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
    with (
        httpx.Client(base_url=fermion.base_url, headers=fermion.admin_headers, timeout=30) as admin,
        httpx.Client(base_url=fermion.base_url, headers={"Authorization": basic}, timeout=30) as s2s,
    ):
        yield admin, s2s


def check(r: httpx.Response) -> None:
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.status_code in (400, 404, 409, 413), r.text
        errors = r.json()["errors"]
        assert errors and all(e.get("message") for e in errors), r.text


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(body=mutated(CA_DEFINITION))
def test_calculated_attribute_definitions(
    clients: tuple[httpx.Client, httpx.Client], fermion: FermionProcess, body: Any
) -> None:
    admin, _ = clients
    base = f"/platform/v2/workspaces/{fermion.workspace_id}/calculatedattributes"
    created = admin.post(base, content=json.dumps(body).encode())
    check(created)
    if created.status_code < 300:
        ca_id = created.json()
        check(admin.put(f"{base}/{ca_id}", content=json.dumps(body).encode()))
        check(admin.delete(f"{base}/{ca_id}"))


@FUZZ
@given(body=mutated(SEED))
def test_seeding_api(clients: tuple[httpx.Client, httpx.Client], body: Any) -> None:
    _, s2s = clients
    check(s2s.post("/v2/calculatedattributes", content=json.dumps(body).encode()))
    check(s2s.post("/v2/bulkcalculatedattributes", content=json.dumps([body]).encode()))


@FUZZ
@given(body=mutated(AUDIENCE))
def test_audience_definitions(
    clients: tuple[httpx.Client, httpx.Client], fermion: FermionProcess, body: Any
) -> None:
    admin, _ = clients
    base = f"/api/v1/workspaces/{fermion.workspace_id}/audiences"
    created = admin.post(base, content=json.dumps(body).encode())
    check(created)
    if created.status_code < 300:
        audience_id = created.json()["id"]
        check(admin.put(f"{base}/{audience_id}", content=json.dumps(body).encode()))
        check(admin.delete(f"{base}/{audience_id}"))


@FUZZ
@given(body=mutated(CONNECTION))
def test_audience_connections(
    clients: tuple[httpx.Client, httpx.Client], fermion: FermionProcess, body: Any
) -> None:
    admin, _ = clients
    check(
        admin.post(
            f"/api/v1/workspaces/{fermion.workspace_id}/audiences/1/connections",
            content=json.dumps(body).encode(),
        )
    )
