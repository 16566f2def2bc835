"""A real-time audience delivered to Amazon Kinesis Firehose end to end: a Fermion server, a local moto
Firehose whose stream delivers to a recording endpoint; batches make a user join, leave, rejoin and
change identities, and the stream receives the add, the removal, and the remove + add."""

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


def records(destination: Recorder) -> list[dict[str, Any]]:
    return [
        json.loads(base64.b64decode(record["data"]))
        for request in destination.accepted()
        for record in request.json()["records"]
    ]


def wait_for(destination: Recorder, count: int, timeout_s: float = 60) -> list[dict[str, Any]]:
    destination.wait_until(lambda d: len(records(d)) >= count, timeout_s)
    return records(destination)


def wait_until(check: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check() and time.monotonic() < deadline:
        time.sleep(0.1)


def test_membership_changes_reach_firehose(server: FermionProcess, firehose: tuple[str, Recorder]) -> None:
    moto_url, destination = firehose
    output = ok(
        admin(
            server,
            "POST",
            "/outputs",
            {
                "integration": "amazon_kinesis_firehose",
                "settings": {"access_key_id": "t", "secret_access_key": "t", "endpoint_url": moto_url},
            },
        )
    )
    criteria = {
        "user_attribute": {
            "name": "tier",
            "condition": {"type": "string", "operator": "exact_match", "value": "gold"},
        }
    }
    audience = ok(
        admin(
            server, "POST", "/audiences", {"name": "Gold", "external_name": "gold_tier", "criteria": criteria}
        )
    )
    aid = audience["id"]
    connected = admin(
        server,
        "POST",
        f"/audiences/{aid}/connections",
        {"output_id": output["id"], "settings": {"delivery_stream_name": STREAM}},
    )
    assert connected.status_code == 201, connected.text
    assert admin(server, "POST", f"/audiences/{aid}/activate").status_code == 202
    wait_until(lambda: admin(server, "GET", f"/audiences/{aid}").json()["status"] == "active")

    started_s = int(time.time())
    send(server, {"customer_id": "cara"}, tier="gold")  # joins
    (joined,) = wait_for(destination, 1)
    mpid = joined["UserIdentities"]["MPID"]
    assert joined["IsMember"] is True and joined["AudienceId"] == aid
    assert joined["AudienceName"] == "gold_tier"  # the external name
    assert joined["UserIdentities"] == {"CustomerId": "cara", "MPID": mpid}
    assert started_s - 1 <= int(joined["MembershipChangedTimestamp"]) <= time.time() + 1  # unix seconds

    send(server, {"customer_id": "cara"}, tier="silver")  # leaves
    left = wait_for(destination, 2)[1]
    assert left["IsMember"] is False and left["UserIdentities"] == {"CustomerId": "cara", "MPID": mpid}

    send(server, {"customer_id": "cara"}, tier="gold")  # rejoins
    assert wait_for(destination, 3)[2]["IsMember"] is True
    send(server, {"customer_id": "cara", "email": "cara@example.com"})  # a new identity: remove + add
    removal, add = wait_for(destination, 5)[3:5]
    assert (removal["IsMember"], removal["UserIdentities"]) == (False, {"CustomerId": "cara", "MPID": mpid})
    assert (add["IsMember"], add["UserIdentities"]) == (
        True,
        {"CustomerId": "cara", "Email": "cara@example.com", "MPID": mpid},
    )
    assert len(records(destination)) == 5
