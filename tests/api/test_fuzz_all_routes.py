"""Fuzzing every public route over HTTP (every operation of the served OpenAPI document, plus the
Events API, IDSync, Alias and Web SDK paths it describes once): hostile paths, query strings, headers
and bodies get a 4xx, never a 5xx, and the server still answers afterwards.

The run is deterministic and bounded (FERMION_FUZZ_SEED and FERMION_FUZZ_ROUNDS widen it when hunting).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from support.fermion_proc import FermionProcess
from support.hostile import (
    DESTRUCTIVE_SUFFIXES,
    NASTY_BODIES,
    PATH_INTS,
    Credentials,
    Generator,
    HostileRequest,
)

SEED = int(os.environ.get("FERMION_FUZZ_SEED", "20261207"))
ROUNDS = int(os.environ.get("FERMION_FUZZ_ROUNDS", "4"))  # random requests per operation
METHODS = ("get", "post", "put", "patch", "delete", "head")

# Paths the OpenAPI document describes once that are served under other prefixes too.
EXTRA_OPERATIONS: list[tuple[str, str, str]] = [
    ("POST", "/identity/v1/identify", "/v1/identify"),
    ("POST", "/identity/v1/{mpid}/modify", "/v1/{mpid}/modify"),
    ("POST", "/v1/identity/{key}/alias", "/v1/identity/{key}/Alias"),
    ("POST", "/webevents/v3/JS/{key}/events", "/v3/JS/{key}/events"),
    ("GET", "/tags/JS/v2/{key}/config", "/JS/v2/{key}/config"),
    ("POST", "/v1/JS/{key}/Forwarding", "/v2/JS/{key}/Forwarding"),
    ("OPTIONS", "/v1/identify", "/v1/identify"),
]


@pytest.fixture(scope="module")
def openapi(fermion: FermionProcess) -> dict[str, Any]:
    r = httpx.get(fermion.base_url + "/openapi.json", timeout=30)
    assert r.status_code == 200
    document: dict[str, Any] = r.json()
    return document


@pytest.fixture(scope="module")
def client(fermion: FermionProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fermion.base_url, timeout=60) as c:
        yield c


def credentials(fermion: FermionProcess) -> Credentials:
    key, secret = fermion.input_creds()
    basic = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
    return Credentials(fermion.info["admin_token"], basic, fermion.input_creds("web")[0])


def operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = [
        (method.upper(), path, operation)
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]
    for method, path, described in EXTRA_OPERATIONS:
        item = openapi["paths"].get(described, {})
        found.append((method, path, item.get("post") or item.get("get") or {}))
    return found


def send(client: httpx.Client, request: HostileRequest) -> httpx.Response:
    built = client.build_request(
        request.method,
        request.path,
        params=request.params,
        headers={k.encode(): v.encode() for k, v in request.headers.items()},  # raw UTF-8 in headers too
        content=request.content,
    )
    if request.path.endswith("/stream"):  # server-sent events: the status is all that is needed
        response = client.send(built, stream=True)
        response.close()
        return response
    return client.send(built)


def describe(request: HostileRequest, response: httpx.Response) -> str:
    body = (request.content or b"")[:120]
    return f"{response.status_code} {request.method} {request.path[:150]} {request.params} {body!r}"


def still_answers(client: httpx.Client) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_every_route_answers_hostile_requests_with_4xx(
    fermion: FermionProcess, openapi: dict[str, Any], client: httpx.Client
) -> None:
    generator = Generator(openapi, credentials(fermion), SEED)
    ops = operations(openapi)
    assert len(ops) > 60, "the OpenAPI document lost routes"
    failures = []
    for _ in range(ROUNDS):
        for method, path, operation in ops:
            request = generator.request(method, path, operation)
            try:
                response = send(client, request)
            except httpx.TransportError as exc:
                failures.append(f"{type(exc).__name__} {request.method} {request.path[:150]}")
                continue
            if response.status_code >= 500:
                failures.append(describe(request, response))
    still_answers(client)
    assert not failures, f"{len(failures)} requests failed:\n" + "\n".join(failures[:40])


def test_every_body_route_refuses_malformed_json_with_4xx(
    fermion: FermionProcess, openapi: dict[str, Any], client: httpx.Client
) -> None:
    """Each route that takes a body, with valid credentials and ids, gets each of the nastiest bodies."""
    generator = Generator(openapi, credentials(fermion), SEED)
    failures = []
    for method, template, operation in operations(openapi):
        if method not in ("POST", "PUT", "PATCH") or template.endswith(DESTRUCTIVE_SUFFIXES):
            continue
        path = template
        for param in operation.get("parameters", []):
            if param.get("in") == "path":
                path = path.replace(
                    "{" + param["name"] + "}", generator.path_value(param, False, ordinary=True)
                )
        for body in NASTY_BODIES:
            request = HostileRequest(method, path, {}, generator.headers(path, ordinary=True), body)
            response = send(client, request)
            if response.status_code >= 500:
                failures.append(describe(request, response))
    still_answers(client)
    assert not failures, f"{len(failures)} requests failed:\n" + "\n".join(failures[:40])


def test_ids_beyond_64_bits_in_paths_get_400_naming_the_parameter(
    fermion: FermionProcess, openapi: dict[str, Any], client: httpx.Client
) -> None:
    headers = {"Authorization": f"Bearer {fermion.info['admin_token']}"}
    failures = []
    for method, template, operation in operations(openapi):
        ints = [
            p["name"]
            for p in operation.get("parameters", [])
            if p.get("in") == "path" and p.get("schema", {}).get("type") == "integer"
        ]
        for name in ints:
            for value in PATH_INTS[4:6]:  # 2**63, -2**63 - 1
                path = template.replace("{" + name + "}", value)
                for other in ints:
                    path = path.replace("{" + other + "}", "1")
                r = client.request(method, path, headers=headers, content=b"{}" if method != "GET" else None)
                named = method == "HEAD" or name in [e.get("field") for e in r.json().get("errors", [])]
                if r.status_code != 400 or not named:
                    failures.append(f"{r.status_code} {method} {path} {r.text[:200]}")
    still_answers(client)
    assert not failures, "\n".join(failures[:40])
