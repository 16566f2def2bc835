"""Schemathesis against the served OpenAPI document: every operation, with valid credentials, gets a
few generated requests (valid and invalid per the schema), and none is answered with a 5xx.
"""

from __future__ import annotations

import base64
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from support.fermion_proc import FermionProcess

# Per operation (valid and invalid requests drawn together): bounded, ~30 s for the whole document.
EXAMPLES = 2


def auth_headers(fermion: FermionProcess, path: str) -> dict[str, str]:
    if path.startswith(("/api/", "/platform/", "/userprofile/", "/v1/audiences", "/v1/workspace/")):
        return {"Authorization": f"Bearer {fermion.info['admin_token']}"}
    key, secret = fermion.input_creds()
    basic = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
    return {"Authorization": basic, "x-mp-key": fermion.input_creds("web")[0]}


def exercise(fermion: FermionProcess, operation: Any, failures: list[str]) -> None:
    """A few generated requests (schema-valid and schema-invalid) to one operation."""
    headers = auth_headers(fermion, operation.path)
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def call(case: Any) -> None:
        response = case.call(base_url=fermion.base_url, headers=headers, timeout=60)
        if response.status_code >= 500:
            body = repr(case.body)[:200]
            failures.append(f"{response.status_code} {case.method} {case.formatted_path} {body}")

    call()


def test_no_operation_answers_with_a_server_error(fermion: FermionProcess) -> None:
    schema = schemathesis.openapi.from_url(fermion.base_url + "/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.endswith("/stream"):
            continue  # server-sent events never end; their parameters are those of the listing beside them
        operations += 1
        exercise(fermion, operation, failures)
    assert operations > 60, "the OpenAPI document lost routes"
    assert not failures, f"{len(failures)} server errors:\n" + "\n".join(failures[:40])
