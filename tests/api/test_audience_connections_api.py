"""Audience connections through a real server: the HTTP API (create, list, get, patch, delete, errors
naming the field, bearer auth and the workspace check, window replay refused, dead-letter replay
accepted) and the CLI (`fermion audience-connections create|list --json`)."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import httpx

from support.fermion_proc import FermionProcess, fermion_cmd, run_cli
from support.outputs_api import admin, input_id, ok

OUTPUT = {"access_key_id": "AKID", "secret_access_key": "very-secret"}


def firehose_output(fermion: FermionProcess) -> int:
    out = ok(
        admin(fermion, "POST", "/outputs", {"integration": "amazon_kinesis_firehose", "settings": OUTPUT})
    )
    assert out["settings"]["secret_access_key"] == "***"
    assert out["settings"]["send_remove_on_identity_change"] is True
    return int(out["id"])


def new_audience(fermion: FermionProcess, name: str) -> int:
    criteria = {"event": {"type": "custom_event", "name": "Buy"}}
    return int(ok(admin(fermion, "POST", "/audiences", {"name": name, "criteria": criteria}))["id"])


def fields(response: httpx.Response) -> set[str]:
    return {e["field"] for e in response.json()["errors"]}


def test_audience_connections_over_http(fermion: FermionProcess) -> None:
    output_id = firehose_output(fermion)
    aid = new_audience(fermion, "http")
    base = f"/audiences/{aid}/connections"
    created = admin(
        fermion, "POST", base, {"output_id": output_id, "settings": {"delivery_stream_name": "aud"}}
    )
    assert created.status_code == 201, created.text
    conn = created.json()
    assert conn["audience_id"] == aid and conn["output_id"] == output_id and conn["status"] == "active"
    assert conn["integration"] == "amazon_kinesis_firehose"
    assert conn["settings"] == {
        "delivery_stream_name": "aud",
        "aws_region": "us-east-1",
        "send_anonymous_users": True,
        "forward_email_addresses": True,
        "forward_customer_ids": True,
        "forward_idfas": True,
        "forward_google_advertising_ids": True,
        "identities_to_exclude": [],
    }
    listed = ok(admin(fermion, "GET", base))["connections"]
    assert [c["id"] for c in listed] == [conn["id"]]
    assert ok(admin(fermion, "GET", f"/audiences/{aid + 1000}/connections"))["connections"] == []
    got = ok(admin(fermion, "GET", f"{base}/{conn['id']}"))
    assert got["queue"] == {"pending": 0, "inflight": 0, "done": 0, "dead": 0}

    patched = ok(
        admin(
            fermion,
            "PATCH",
            f"{base}/{conn['id']}",
            {
                "status": "inactive",
                "settings": {"delivery_stream_name": "aud2", "send_anonymous_users": False},
            },
        )
    )
    assert patched["status"] == "inactive" and patched["settings"]["delivery_stream_name"] == "aud2"
    assert patched["settings"]["send_anonymous_users"] is False
    bad = admin(fermion, "PATCH", f"{base}/{conn['id']}", {"settings": {"identities_to_exclude": ["Nope"]}})
    assert bad.status_code == 400
    assert fields(bad) == {"settings.delivery_stream_name", "settings.identities_to_exclude"}
    bad = admin(fermion, "PATCH", f"{base}/{conn['id']}", {"status": "paused"})
    assert bad.status_code == 400 and fields(bad) == {"status"}

    # The ordinary connection routes work for it: dead-letter replay yes, window replay no.
    window = admin(fermion, "POST", f"/connections/{conn['id']}/replay", {"since_ms": 0})
    assert window.status_code == 400 and "input connections only" in window.text
    dead = admin(fermion, "POST", f"/connections/{conn['id']}/replay", {"dead_letters": True})
    assert dead.status_code == 202 and dead.json()["enqueued"] == 0

    deleted = admin(fermion, "DELETE", f"{base}/{conn['id']}")
    assert deleted.status_code == 204
    assert admin(fermion, "GET", f"{base}/{conn['id']}").status_code == 404
    assert admin(fermion, "DELETE", f"{base}/{conn['id']}").status_code == 404


def test_bad_requests_name_the_field(fermion: FermionProcess) -> None:
    output_id = firehose_output(fermion)
    base = f"/audiences/{new_audience(fermion, 'errors')}/connections"
    missing = admin(fermion, "POST", base, {"output_id": output_id, "settings": {"aws_region": "eu-west-1"}})
    assert missing.status_code == 400 and fields(missing) == {"settings.delivery_stream_name"}
    unknown = admin(fermion, "POST", base, {"output_id": 99999, "settings": {"delivery_stream_name": "s"}})
    assert unknown.status_code == 400 and fields(unknown) == {"output_id"}
    no_output = admin(fermion, "POST", base, {"settings": {}})
    assert no_output.status_code == 400 and "output_id" in fields(no_output)
    assert admin(fermion, "POST", "/audiences/0/connections", {"output_id": output_id}).status_code == 400
    settings = {"delivery_stream_name": "s"}
    nobody = admin(
        fermion, "POST", "/audiences/99999/connections", {"output_id": output_id, "settings": settings}
    )
    assert nobody.status_code == 404 and fields(nobody) == {"audience_id"}
    webhook = ok(
        admin(
            fermion,
            "POST",
            "/outputs",
            {"integration": "webhook", "settings": {"url": "http://127.0.0.1:9/h"}},
        )
    )
    wrong = admin(fermion, "POST", base, {"output_id": webhook["id"], "settings": {}})
    assert wrong.status_code == 400 and "not an audience output" in wrong.text
    first = admin(fermion, "POST", base, {"output_id": output_id, "settings": {"delivery_stream_name": "s"}})
    assert first.status_code == 201
    again = admin(fermion, "POST", base, {"output_id": output_id, "settings": {"delivery_stream_name": "s"}})
    assert again.status_code == 409
    # An input cannot be connected to an audience output.
    body: dict[str, Any] = {"input_id": input_id(fermion), "output_id": output_id, "settings": {}}
    assert admin(fermion, "POST", "/connections", body).status_code == 400


def test_auth_and_workspace_check(fermion: FermionProcess) -> None:
    url = f"{fermion.base_url}/api/v1/workspaces/{fermion.workspace_id}/audiences/1/connections"
    assert httpx.get(url, timeout=30).status_code == 401
    other = f"{fermion.base_url}/api/v1/workspaces/{fermion.workspace_id + 1000}/audiences/1/connections"
    assert httpx.get(other, headers=fermion.admin_headers, timeout=30).status_code == 404


def test_cli(fermion: FermionProcess) -> None:
    d, env, ws = fermion.data_dir, fermion.env, str(fermion.workspace_id)
    output_id = str(firehose_output(fermion))
    aid = str(new_audience(fermion, "cli"))
    conn = run_cli(
        d,
        "audience-connections",
        "create",
        "--workspace",
        ws,
        "--audience",
        aid,
        "--output",
        output_id,
        "--setting",
        "delivery_stream_name=cli-stream",
        "--setting",
        'identities_to_exclude=["Email"]',
        env=env,
    )
    assert conn["audience_id"] == int(aid) and conn["settings"]["identities_to_exclude"] == ["Email"]
    listed = run_cli(d, "audience-connections", "list", "--workspace", ws, "--audience", aid, env=env)
    assert [c["id"] for c in listed["connections"]] == [conn["id"]]
    assert listed["connections"][0]["queue"]["pending"] == 0
    failed = subprocess.run(
        fermion_cmd(
            "audience-connections",
            "create",
            "--workspace",
            ws,
            "--audience",
            aid,
            "--output",
            output_id,
            "--data-dir",
            str(d),
            "--json",
        ),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert failed.returncode == 2 and "settings.delivery_stream_name" in failed.stderr
    unknown = subprocess.run(
        fermion_cmd(
            *(
                "audience-connections",
                "create",
                "--workspace",
                ws,
                "--audience",
                "99999",
                "--output",
                output_id,
            ),
            *("--setting", "delivery_stream_name=s", "--data-dir", str(d), "--json"),
        ),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert unknown.returncode == 1 and "no audience 99999" in unknown.stderr
