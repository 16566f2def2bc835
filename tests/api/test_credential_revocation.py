"""Credentials can be revoked while the server runs: a deactivated input, a rotated input secret, a
revoked OAuth client and a deleted admin token stop working on every route within seconds (the
credential directory's entries expire after config_cache_ttl_s; here its default, 5 s), whether the
change came through the API or a CLI command (another process). Through real HTTP, in both modes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx

from support.credential_routes import (
    DEADLINE_S,
    assert_open,
    input_routes,
    wait_open,
    wait_refused,
    web_route,
)
from support.fermion_proc import FermionProcess, fermion_cmd
from support.servers import module_server
from support.waiting import wait_until

# env={}: the default config_cache_ttl_s, not the 0.3 s other tests use.
server = module_server("revocation", env={})


def admin(server: FermionProcess, method: str, path: str, **kw: Any) -> httpx.Response:
    kw.setdefault("headers", server.admin_headers)
    return httpx.request(method, f"{server.base_url}/api/v1{path}", timeout=30, **kw)


def new_input(server: FermionProcess, platform: str = "custom") -> dict[str, Any]:
    r = admin(server, "POST", f"/workspaces/{server.workspace_id}/inputs", json={"platform": platform})
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def test_deactivated_input_is_refused_everywhere_and_reactivation_restores_it(server: FermionProcess) -> None:
    base, ws = server.base_url, server.workspace_id
    inp, web = new_input(server), new_input(server, "web")
    routes = {**input_routes(base, inp["key"], inp["secret"]), "websdk": web_route(base, web["key"])}
    assert_open(routes)  # every route has now read (and keeps) these credentials
    for i in (inp, web):
        r = admin(server, "PATCH", f"/workspaces/{ws}/inputs/{i['id']}", json={"active": False})
        assert r.status_code == 200 and r.json()["active"] is False, r.text
        assert "secret" not in r.json()
    wait_refused(routes)
    for i in (inp, web):
        r = admin(server, "PATCH", f"/workspaces/{ws}/inputs/{i['id']}", json={"active": True})
        assert r.status_code == 200 and r.json()["active"] is True, r.text
    wait_open(routes)


def test_rotated_secret_stops_the_old_one_and_opens_the_new_one(server: FermionProcess) -> None:
    base, ws = server.base_url, server.workspace_id
    inp = new_input(server)
    old = input_routes(base, inp["key"], inp["secret"])
    assert_open(old)
    r = admin(server, "POST", f"/workspaces/{ws}/inputs/{inp['id']}/rotate-secret")
    assert r.status_code == 200, r.text
    rotated = r.json()
    assert rotated["key"] == inp["key"] and rotated["secret"] != inp["secret"] and rotated["active"]
    listed = admin(server, "GET", f"/workspaces/{ws}/inputs").json()["inputs"]
    assert all("secret" not in i for i in listed)  # answered once, never again
    wait_refused(old)
    wait_open(input_routes(base, inp["key"], rotated["secret"]))


def test_changes_made_by_cli_commands_reach_the_running_server(server: FermionProcess) -> None:
    base, data_dir = server.base_url, server.data_dir
    inp = new_input(server)
    routes = input_routes(base, inp["key"], inp["secret"])
    assert_open(routes)
    rotated = cli(server, data_dir, "inputs", "rotate-secret", str(inp["id"]))
    assert rotated["id"] == inp["id"] and rotated["secret"] != inp["secret"]
    wait_refused(routes)
    fresh = input_routes(base, inp["key"], rotated["secret"])
    wait_open(fresh)
    assert cli(server, data_dir, "inputs", "deactivate", str(inp["id"]))["active"] is False
    wait_refused(fresh)
    assert cli(server, data_dir, "inputs", "activate", str(inp["id"]))["active"] is True
    wait_open(fresh)
    assert cli(server, data_dir, "inputs", "delete", str(inp["id"])) == {"id": inp["id"], "deleted": True}
    wait_refused(fresh)
    assert all(i["id"] != inp["id"] for i in cli(server, data_dir, "inputs", "list")["inputs"])


def test_deleted_input_is_refused_and_gone(server: FermionProcess) -> None:
    base, ws = server.base_url, server.workspace_id
    inp = new_input(server)
    routes = input_routes(base, inp["key"], inp["secret"])
    assert_open(routes)
    assert admin(server, "DELETE", f"/workspaces/{ws}/inputs/{inp['id']}").status_code == 204
    wait_refused(routes)
    assert admin(server, "GET", f"/workspaces/{ws}/inputs/{inp['id']}").status_code == 404
    assert admin(server, "DELETE", f"/workspaces/{ws}/inputs/{inp['id']}").status_code == 404


def test_input_routes_validate_and_stay_in_their_workspace(server: FermionProcess) -> None:
    ws = server.workspace_id
    inp = new_input(server)
    path = f"/workspaces/{ws}/inputs/{inp['id']}"
    for bad in ({}, {"active": "maybe"}, {"active": False, "secret": "x"}):
        r = admin(server, "PATCH", path, json=bad)
        assert r.status_code in (400, 422), (bad, r.text)
    for missing in (f"/workspaces/{ws}/inputs/999999", f"/workspaces/{ws}/inputs/{2**63}"):
        assert admin(server, "PATCH", missing, json={"active": False}).status_code in (400, 404, 422)
    assert admin(server, "PATCH", path, json={"active": False}, headers={}).status_code == 401


def oauth_token(base: str, client_id: str, secret: str) -> httpx.Response:
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    return httpx.post(f"{base}/oauth/token", data=data, timeout=30)


def test_revoked_oauth_client_and_its_tokens_stop_working(server: FermionProcess) -> None:
    base, ws = server.base_url, server.workspace_id
    for revoke_by_cli in (False, True):
        r = admin(server, "POST", "/oauth-clients", json={"workspace_ids": [ws]})
        assert r.status_code == 201, r.text
        client = r.json()
        listed = admin(server, "GET", "/oauth-clients").json()["clients"]
        assert client["client_id"] in [c["client_id"] for c in listed]
        assert all("client_secret" not in c and "secret_hash" not in c for c in listed)
        token = oauth_token(base, client["client_id"], client["client_secret"]).json()["access_token"]

        def reads_workspace(tok: str = token) -> int:
            return admin(
                server, "GET", f"/workspaces/{ws}", headers={"Authorization": f"Bearer {tok}"}
            ).status_code

        assert reads_workspace() == 200
        if revoke_by_cli:
            out = cli(server, server.data_dir, "credentials", "revoke", client["client_id"])
            assert out == {"client_id": client["client_id"], "revoked": True}
        else:
            assert admin(server, "DELETE", f"/oauth-clients/{client['client_id']}").status_code == 204
        assert wait_until(lambda: reads_workspace() == 401, DEADLINE_S, 0.25)
        assert oauth_token(base, client["client_id"], client["client_secret"]).status_code == 401
    # An OAuth token cannot manage credentials; only admin tokens can.
    r = admin(server, "POST", "/oauth-clients", json={})
    other = r.json()
    tok = oauth_token(base, other["client_id"], other["client_secret"]).json()["access_token"]
    assert (
        admin(server, "GET", "/oauth-clients", headers={"Authorization": f"Bearer {tok}"}).status_code == 403
    )


def test_deleted_admin_token_stops_working(server: FermionProcess) -> None:
    ws = server.workspace_id
    for revoke_by_cli in (False, True):
        r = admin(server, "POST", "/admin-tokens")
        assert r.status_code == 201, r.text
        made = r.json()
        headers = {"Authorization": f"Bearer {made['token']}"}
        assert admin(server, "GET", f"/workspaces/{ws}", headers=headers).status_code == 200
        assert made["token_id"] in [
            t["token_id"] for t in admin(server, "GET", "/admin-tokens").json()["tokens"]
        ]
        if revoke_by_cli:
            out = cli(server, server.data_dir, "tokens", "revoke", made["token_id"])
            assert out == {"token_id": made["token_id"], "revoked": True}
        else:
            assert admin(server, "DELETE", f"/admin-tokens/{made['token_id']}").status_code == 204
        assert wait_until(
            lambda h=headers: admin(server, "GET", f"/workspaces/{ws}", headers=h).status_code == 401,  # type: ignore[misc]
            DEADLINE_S,
            0.25,
        )
    assert admin(server, "DELETE", "/admin-tokens/tok_0000000000000000").status_code == 404
    assert admin(server, "GET", f"/workspaces/{ws}").status_code == 200  # the init token still works


def cli(server: FermionProcess, data_dir: Path, *args: str) -> Any:
    """A `fermion ... --json` command (another process than the server), its output parsed."""
    out = subprocess.run(
        fermion_cmd(*args, "--data-dir", str(data_dir), "--json"),
        capture_output=True,
        text=True,
        env={**os.environ, **server.env},
        timeout=120,
    )
    assert out.returncode == 0, (args, out.stderr[-3000:])
    return json.loads(out.stdout)


def test_an_input_with_connections_is_not_deleted(server: FermionProcess) -> None:
    ws = server.workspace_id
    inp = new_input(server)
    out = admin(
        server,
        "POST",
        f"/workspaces/{ws}/outputs",
        json={"integration": "webhook", "settings": {"url": "https://partner.example/hook"}},
    ).json()
    body = {"input_id": inp["id"], "output_id": out["id"], "settings": {}}
    conn = admin(server, "POST", f"/workspaces/{ws}/connections", json=body).json()
    r = admin(server, "DELETE", f"/workspaces/{ws}/inputs/{inp['id']}")
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "input_id", r.text
    failed = subprocess.run(
        fermion_cmd("inputs", "delete", str(inp["id"]), "--data-dir", str(server.data_dir), "--json"),
        capture_output=True,
        text=True,
        env={**os.environ, **server.env},
        timeout=120,
    )
    assert failed.returncode != 0 and str(conn["id"]) in failed.stderr
    assert admin(server, "GET", f"/workspaces/{ws}/inputs/{inp['id']}").status_code == 200
