"""Real-time audiences delivered to Amazon Kinesis Firehose end to end: a Fermion server, a local moto
Firehose whose stream delivers to a recording endpoint; batches make a user join and leave (then the
audience is deleted), or a member gain an identity, and the stream receives the add, the removal, the
deletion message, and the remove + add."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from support.fermion_proc import FermionProcess
from support.outputs_api import admin, ok
from support.recorder import Recorder

STREAM = "realtime-audience"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FermionProcess]:
    proc = FermionProcess(tmp_path_factory.mktemp("audience-realtime"))
    proc.env = {**proc.env, "FERMION_CONFIG_CACHE_TTL_S": "0.3", "FERMION_DELIVERY_IDLE_POLL_S": "0.2"}
    proc.init()
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def firehose() -> Iterator[tuple[str, Recorder]]:
    """A moto server with one Firehose stream delivering to a recorder."""
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    url = f"http://{host}:{port}"
    client = boto3.client(
        "firehose",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )
    with Recorder() as destination:
        client.create_delivery_stream(
            DeliveryStreamName=STREAM,
            DeliveryStreamType="DirectPut",
            HttpEndpointDestinationConfiguration={
                "EndpointConfiguration": {"Url": destination.url("/stream")},
                "S3Configuration": {
                    "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                    "BucketARN": "arn:aws:s3:::firehose-backup",
                },
            },
        )
        try:
            yield url, destination
        finally:
            moto.stop()


def send(server: FermionProcess, identities: dict[str, str], **attributes: Any) -> None:
    key, secret = server.input_creds()
    batch = {
        "environment": "production",
        "user_identities": identities,
        "user_attributes": attributes,
        "events": [
            {"event_type": "custom_event", "data": {"event_name": "Visit", "custom_event_type": "other"}}
        ],
    }
    r = httpx.post(f"{server.base_url}/v2/events", json=batch, auth=(key, secret), timeout=30)
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


def wait_until(check: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check() and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture(scope="module")
def output_id(server: FermionProcess, firehose: tuple[str, Recorder]) -> int:
    settings = {"access_key_id": "t", "secret_access_key": "t", "endpoint_url": firehose[0]}
    body = {"integration": "amazon_kinesis_firehose", "settings": settings}
    return int(ok(admin(server, "POST", "/outputs", body))["id"])


def gold_audience(server: FermionProcess, output_id: int, name: str) -> int:
    """An active real-time audience of users whose tier is gold, connected to the Firehose output."""
    criteria = {
        "user_attribute": {
            "name": "tier",
            "condition": {"type": "string", "operator": "exact_match", "value": "gold"},
        }
    }
    audience = ok(
        admin(
            server, "POST", "/audiences", {"name": name, "external_name": f"{name}_ext", "criteria": criteria}
        )
    )
    aid = int(audience["id"])
    connected = admin(
        server,
        "POST",
        f"/audiences/{aid}/connections",
        {"output_id": output_id, "settings": {"delivery_stream_name": STREAM}},
    )
    assert connected.status_code == 201, connected.text
    assert admin(server, "POST", f"/audiences/{aid}/activate").status_code == 202
    wait_until(lambda: admin(server, "GET", f"/audiences/{aid}").json()["status"] == "active")
    return aid


def test_join_leave_and_delete(
    server: FermionProcess, firehose: tuple[str, Recorder], output_id: int
) -> None:
    destination = firehose[1]
    aid = gold_audience(server, output_id, "gold")
    started_s = int(time.time())
    send(server, {"customer_id": "cara"}, tier="gold")  # joins
    (joined,) = wait_for(destination, aid, 1)
    mpid = joined["UserIdentities"]["MPID"]
    assert joined["IsMember"] is True
    assert joined["AudienceName"] == "gold_ext"  # the external name
    assert joined["UserIdentities"] == {"CustomerId": "cara", "MPID": mpid}
    assert started_s - 1 <= int(joined["MembershipChangedTimestamp"]) <= time.time() + 1  # unix seconds

    send(server, {"customer_id": "cara"}, tier="silver")  # leaves
    left = wait_for(destination, aid, 2)[1]
    assert left["IsMember"] is False and left["UserIdentities"] == {"CustomerId": "cara", "MPID": mpid}

    assert admin(server, "DELETE", f"/audiences/{aid}").status_code in (200, 202, 204)
    deleted = wait_for(destination, aid, 3)[2]
    assert deleted == {
        "MembershipChangedTimestamp": deleted["MembershipChangedTimestamp"],
        "AudienceId": aid,
        "AudienceName": "gold_ext",
        "IsDeleted": True,
    }
    assert len(records(destination, aid)) == 3


def test_identity_change_sends_remove_then_add(
    server: FermionProcess, firehose: tuple[str, Recorder], output_id: int
) -> None:
    destination = firehose[1]
    aid = gold_audience(server, output_id, "gold_ids")
    send(server, {"customer_id": "dana"}, tier="gold")  # joins
    (joined,) = wait_for(destination, aid, 1)
    mpid = joined["UserIdentities"]["MPID"]
    assert joined["UserIdentities"] == {"CustomerId": "dana", "MPID": mpid}
    send(server, {"customer_id": "dana", "email": "dana@example.com"})  # a new identity: remove + add
    removal, add = wait_for(destination, aid, 3)[1:3]
    assert (removal["IsMember"], removal["UserIdentities"]) == (False, {"CustomerId": "dana", "MPID": mpid})
    assert (add["IsMember"], add["UserIdentities"]) == (
        True,
        {"CustomerId": "dana", "Email": "dana@example.com", "MPID": mpid},
    )
    assert len(records(destination, aid)) == 3
