"""Audience connections and real-time audiences delivered to Amazon Kinesis Firehose, through one real
server: the connections API (create, list, get, patch, delete, errors naming the field, auth and the
workspace check, replay rules) and CLI (`fermion audience-connections create|list --json`); then a
local moto Firehose whose stream delivers to a recording endpoint: batches make a user join and leave
(then the audience is deleted), or a member gain an identity, and the stream receives the add, the
removal, the deletion message, and the remove + add."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from support.fermion_proc import FermionProcess, fermion_cmd, run_cli
from support.moto_aws import create_http_stream, moto_server
from support.outputs_api import admin, input_id, ok
from support.recorder import Recorder
from support.servers import module_server
from support.waiting import wait_until

STREAM = "realtime-audience"


fermion = module_server(
    "audience-realtime",
    more_env={
        "FERMION_CONFIG_CACHE_TTL_S": "0.3",
        "FERMION_DELIVERY_IDLE_POLL_S": "0.2",
        "FERMION_AUDIENCE_RECHECK_S": "0.3",
    },
)


@pytest.fixture(scope="module")
def firehose() -> Iterator[tuple[str, Recorder]]:
    """A moto server with one Firehose stream delivering to a recorder."""
    with moto_server("firehose") as (url, client), Recorder() as destination:
        create_http_stream(client, STREAM, destination.url("/stream"))
        yield url, destination


def send(fermion: FermionProcess, identities: dict[str, str], **attributes: Any) -> None:
    key, secret = fermion.input_creds()
    batch = {
        "environment": "production",
        "user_identities": identities,
        "user_attributes": attributes,
        "events": [
            {"event_type": "custom_event", "data": {"event_name": "Visit", "custom_event_type": "other"}}
        ],
    }
    r = httpx.post(f"{fermion.base_url}/v2/events", json=batch, auth=(key, secret), timeout=30)
    assert r.status_code == 202, r.text


def records(destination: Recorder, audience_id: int) -> list[dict[str, Any]]:
    """What the stream received for one audience, in order."""
    found = [
        json.loads(base64.b64decode(record["data"]))
        for request in destination.accepted()
        for record in request.json()["records"]
    ]
    return [r for r in found if r["AudienceId"] == audience_id]


def wait_for(
    destination: Recorder, audience_id: int, count: int, timeout_s: float = 60
) -> list[dict[str, Any]]:
    destination.wait_until(lambda d: len(records(d, audience_id)) >= count, timeout_s)
    return records(destination, audience_id)


@pytest.fixture(scope="module")
def output_id(fermion: FermionProcess, firehose: tuple[str, Recorder]) -> int:
    settings = {"access_key_id": "t", "secret_access_key": "t", "endpoint_url": firehose[0]}
    body = {"integration": "amazon_kinesis_firehose", "settings": settings}
    return int(ok(admin(fermion, "POST", "/outputs", body))["id"])


def gold_audience(fermion: FermionProcess, output_id: int, name: str) -> int:
    """An active real-time audience of users whose tier is gold, connected to the Firehose output."""
    criteria = {
        "user_attribute": {
            "name": "tier",
            "condition": {"type": "string", "operator": "exact_match", "value": "gold"},
        }
    }
    audience = ok(
        admin(
            fermion,
            "POST",
            "/audiences",
            {"name": name, "external_name": f"{name}_ext", "criteria": criteria},
        )
    )
    aid = int(audience["id"])
    connected = admin(
        fermion,
        "POST",
        f"/audiences/{aid}/connections",
        {"output_id": output_id, "settings": {"delivery_stream_name": STREAM}},
    )
    assert connected.status_code == 201, connected.text
    assert admin(fermion, "POST", f"/audiences/{aid}/activate").status_code == 202
    wait_until(lambda: admin(fermion, "GET", f"/audiences/{aid}").json()["status"] == "active")
    return aid


def test_join_leave_and_delete(
    fermion: FermionProcess, firehose: tuple[str, Recorder], output_id: int
) -> None:
    destination = firehose[1]
    aid = gold_audience(fermion, output_id, "gold")
    started_s = int(time.time())
    send(fermion, {"customer_id": "cara"}, tier="gold")  # joins
    (joined,) = wait_for(destination, aid, 1)
    mpid = joined["UserIdentities"]["MPID"]
    assert joined["IsMember"] is True
    assert joined["AudienceName"] == "gold_ext"  # the external name
    assert joined["UserIdentities"] == {"CustomerId": "cara", "MPID": mpid}
    assert started_s - 1 <= int(joined["MembershipChangedTimestamp"]) <= time.time() + 1  # unix seconds

    send(fermion, {"customer_id": "cara"}, tier="silver")  # leaves
    left = wait_for(destination, aid, 2)[1]
    assert left["IsMember"] is False and left["UserIdentities"] == {"CustomerId": "cara", "MPID": mpid}

    assert admin(fermion, "DELETE", f"/audiences/{aid}").status_code in (200, 202, 204)
    deleted = wait_for(destination, aid, 3)[2]
    assert deleted == {
        "MembershipChangedTimestamp": deleted["MembershipChangedTimestamp"],
        "AudienceId": aid,
        "AudienceName": "gold_ext",
        "IsDeleted": True,
    }
    assert len(records(destination, aid)) == 3


def test_identity_change_sends_remove_then_add(
    fermion: FermionProcess, firehose: tuple[str, Recorder], output_id: int
) -> None:
    destination = firehose[1]
    aid = gold_audience(fermion, output_id, "gold_ids")
    send(fermion, {"customer_id": "dana"}, tier="gold")  # joins
    (joined,) = wait_for(destination, aid, 1)
    mpid = joined["UserIdentities"]["MPID"]
    assert joined["UserIdentities"] == {"CustomerId": "dana", "MPID": mpid}
    send(fermion, {"customer_id": "dana", "email": "dana@example.com"})  # a new identity: remove + add
    removal, add = wait_for(destination, aid, 3)[1:3]
    assert (removal["IsMember"], removal["UserIdentities"]) == (False, {"CustomerId": "dana", "MPID": mpid})
    assert (add["IsMember"], add["UserIdentities"]) == (
        True,
        {"CustomerId": "dana", "Email": "dana@example.com", "MPID": mpid},
    )
    assert len(records(destination, aid)) == 3


# -- the connections API and CLI ---------------------------------------------------------------------

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
    plain = ok(admin(fermion, "GET", f"/connections/{conn['id']}"))
    assert (plain["audience_id"], plain["input_id"]) == (aid, None)
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
    human = subprocess.run(
        fermion_cmd("connections", "list", "--workspace", ws, "--data-dir", str(d)),
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    ).stdout
    assert f"{conn['id']}\taudience {aid} -> output {output_id}\t" in human
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
