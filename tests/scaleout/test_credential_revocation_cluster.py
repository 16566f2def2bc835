"""Revocation reaches every API process: with two API processes on one PostgreSQL database, an input
deactivated or given a new secret through one, an OAuth client revoked and an admin token deleted
through one, stop working on the other within seconds (each process's credential directory keeps an
entry at most config_cache_ttl_s; the default, 5 s, here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import scaleout
from support.cluster import Cluster, RoleProcess
from support.credential_routes import DEADLINE_S, assert_open, input_routes, wait_open, wait_refused
from support.waiting import wait_until


@pytest.fixture
def two_apis(tmp_path: Path) -> Iterator[tuple[Cluster, RoleProcess, RoleProcess]]:
    problem = scaleout.postgres_problem() or scaleout.nats_problem()
    if problem:
        scaleout.skip_or_fail(problem)
    database, url = scaleout.create_database()
    stream = scaleout.new_stream_name()
    env = {"FERMION_DATABASE_URL": url, "FERMION_NATS_URL": scaleout.NATS_URL, "FERMION_NATS_STREAM": stream}
    cluster = Cluster(tmp_path, env)
    try:
        cluster.init()
        yield cluster, cluster.start("api-1", "api"), cluster.start("api-2", "api")
    finally:
        cluster.close()
        scaleout.delete_stream(stream)
        scaleout.drop_database(database)


def admin(cluster: Cluster, api: RoleProcess, method: str, path: str, **kw: Any) -> httpx.Response:
    kw.setdefault("headers", cluster.admin_headers)
    return httpx.request(method, f"{api.url}/api/v1{path}", timeout=30, **kw)


def deleted_through_one(
    two_apis: tuple[Cluster, RoleProcess, RoleProcess], headers: dict[str, str], path: str
) -> None:
    """A credential (sent as `headers`) works on the other process, is deleted at `path` through one,
    and the other refuses it (401) within the deadline."""
    cluster, one, other = two_apis
    workspace = f"/workspaces/{cluster.info['workspace_id']}"
    assert admin(cluster, other, "GET", workspace, headers=headers).status_code == 200
    assert admin(cluster, one, "DELETE", path).status_code == 204
    assert wait_until(
        lambda: admin(cluster, other, "GET", workspace, headers=headers).status_code == 401,
        DEADLINE_S,
        0.25,
    )


def test_a_change_through_one_api_process_reaches_the_other(
    two_apis: tuple[Cluster, RoleProcess, RoleProcess],
) -> None:
    cluster, one, other = two_apis
    ws = cluster.info["workspace_id"]
    r = admin(cluster, one, "POST", f"/workspaces/{ws}/inputs", json={"platform": "custom"})
    assert r.status_code == 201, r.text
    inp = r.json()
    on_other = input_routes(other.url, inp["key"], inp["secret"])
    assert_open(on_other)  # the other process now holds these credentials

    r = admin(cluster, one, "PATCH", f"/workspaces/{ws}/inputs/{inp['id']}", json={"active": False})
    assert r.status_code == 200, r.text
    wait_refused(on_other)
    r = admin(cluster, one, "PATCH", f"/workspaces/{ws}/inputs/{inp['id']}", json={"active": True})
    assert r.status_code == 200, r.text
    wait_open(on_other)

    r = admin(cluster, other, "POST", f"/workspaces/{ws}/inputs/{inp['id']}/rotate-secret")
    assert r.status_code == 200, r.text
    wait_refused(input_routes(one.url, inp["key"], inp["secret"]))
    wait_open(input_routes(one.url, inp["key"], r.json()["secret"]))

    # An OAuth client revoked through one process; its token used on the other.
    client = admin(cluster, one, "POST", "/oauth-clients", json={}).json()
    form = {"grant_type": "client_credentials", **{k: client[k] for k in ("client_id", "client_secret")}}
    token = httpx.post(f"{other.url}/oauth/token", data=form, timeout=30).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    deleted_through_one(two_apis, bearer, f"/oauth-clients/{client['client_id']}")

    # An admin token deleted through one process, used on the other.
    made = admin(cluster, other, "POST", "/admin-tokens").json()
    headers = {"Authorization": f"Bearer {made['token']}"}
    deleted_through_one(two_apis, headers, f"/admin-tokens/{made['token_id']}")
