"""Amazon Kinesis Firehose audience output through the real pieces: AudienceDelivery queues membership
changes, the sender's lanes map and send them with boto3 (AwsTransport) to a local moto Firehose whose
streams deliver to a recording HTTP endpoint (what the stream received, in order, base64-decoded by
moto); a recording HTTP server standing in for Firehose covers throttling, 5xx, dead letters, replay."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fermion.adapters.delivery import AwsTransport
from fermion.delivery.audience_forwarding import AudienceDelivery
from fermion.delivery.outputs import DeliveryError
from fermion.delivery.replay import ReplayService
from fermion.delivery.retry import RetryPolicy
from fermion.delivery.sender import Sender, SenderOptions
from fermion.delivery.stages import ConnectionHooks
from fermion.model.audiences import ChangeAction, MembershipChange, change_id_of
from fermion.model.delivery import Connection
from support.delivery_env import DeliveryEnv
from support.moto_aws import create_http_stream, moto_server
from support.recorder import Recorder

AUDIENCE = 31
THROTTLED = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'


@pytest.fixture(scope="module")
def moto() -> Iterator[tuple[str, Any, Recorder]]:
    """A moto server and a recorder that moto's Firehose streams deliver to (path = stream name)."""
    with moto_server("firehose") as (url, client), Recorder() as destination:
        yield url, client, destination


def create_stream(client: Any, destination: Recorder, name: str) -> None:
    create_http_stream(client, name, destination.url(f"/{name}"))


def received(destination: Recorder, stream: str) -> list[dict[str, Any]]:
    """The records a stream delivered, in order (moto posts {"records": [{"data": base64}]})."""
    return [
        json.loads(base64.b64decode(record["data"]))
        for request in destination.accepted()
        if request.path == f"/{stream}"
        for record in request.json()["records"]
    ]


def change(
    env: DeliveryEnv,
    mpid: int,
    action: ChangeAction,
    identities: dict[str, str] | None = None,
    previous: dict[str, str] | None = None,
) -> MembershipChange:
    changed_ms = 1_800_000_000_000 + mpid
    return MembershipChange(
        change_id=change_id_of(AUDIENCE, mpid, action.value, changed_ms),
        workspace_id=env.workspace.id,
        audience_id=AUDIENCE,
        audience_name="High Value",
        action=action,
        mpid=mpid,
        changed_ms=changed_ms,
        identities=identities or {},
        previous_identities=previous or {},
    )


def connect(
    env: DeliveryEnv, endpoint: str, stream: str, output: dict[str, Any] | None = None, **connection: Any
) -> Connection:
    out, _ = env.outputs.create_output(
        env.workspace.id,
        "amazon_kinesis_firehose",
        stream,
        {"access_key_id": "AKID", "secret_access_key": "secret", "endpoint_url": endpoint, **(output or {})},
    )
    conn, _ = env.outputs.create_audience_connection(
        env.workspace.id, AUDIENCE, out.id, {"delivery_stream_name": stream, **connection}
    )
    return conn


def sender(env: DeliveryEnv, max_attempts: int = 10) -> Sender:
    policy = RetryPolicy(max_attempts=max_attempts, base_s=0.02, max_s=0.1)
    options = SenderOptions(poll_s=0.01, idle_poll_s=0.05, refresh_s=0.1)
    return Sender(env.routes(), env.queue, env.log, AwsTransport(), policy, options)


def queued(env: DeliveryEnv, conn: Connection) -> dict[str, int]:
    return {status: n for status, n in env.queue.count_by_status(conn.id).items() if n}


def settled(env: DeliveryEnv, conn: Connection, done: int = 0, dead: int = 0) -> bool:
    counts = env.queue.count_by_status(conn.id)
    return counts.get("done", 0) >= done and counts.get("dead", 0) >= dead


def test_changes_arrive_in_order_as_documented(tmp_path: Path, moto: tuple[str, Any, Recorder]) -> None:
    url, client, destination = moto
    env = DeliveryEnv(tmp_path)
    for name in ("all-users", "known-only"):
        create_stream(client, destination, name)
    plain = connect(env, url, "all-users")
    strict = connect(
        env,
        url,
        "known-only",
        {"send_remove_on_identity_change": False},
        send_anonymous_users=False,
        forward_customer_ids=False,
        identities_to_exclude=["Email"],
    )
    old = {"customer_id": "c-old", "email": "old@example.com"}
    new = {"customer_id": "c-new", "email": "new@example.com", "android_aaid": "gaid-3"}
    deleted = MembershipChange(
        change_id=99,
        workspace_id=env.workspace.id,
        audience_id=AUDIENCE,
        audience_name="High Value",
        action=ChangeAction.DELETE,
        mpid=0,
        changed_ms=1_800_000_100_000,
    )
    changes = [
        change(env, 1, ChangeAction.ADD, {"customer_id": "c-1", "email": "one@example.com", "other": "o"}),
        change(env, 2, ChangeAction.REMOVE, {"customer_id": "c-2", "ios_idfa": "idfa-2"}),
        change(env, 3, ChangeAction.IDENTITY_CHANGE, new, old),
        change(env, 4, ChangeAction.ADD, {"device_application_stamp": "das-4"}),  # anonymous
        deleted,
    ]
    AudienceDelivery(env.routes(), env.queue, env.log).publish(changes, int(time.time() * 1000))
    env.run_until(sender(env), lambda: settled(env, plain, done=5) and settled(env, strict, done=5))

    ts = [str(c.changed_ms // 1000) for c in changes]
    head = {"AudienceId": AUDIENCE, "AudienceName": "High Value"}
    assert received(destination, "all-users") == [
        {
            "MembershipChangedTimestamp": ts[0],
            **head,
            "IsMember": True,
            "UserIdentities": {"CustomerId": "c-1", "Email": "one@example.com", "Other": "o", "MPID": "1"},
        },
        {
            "MembershipChangedTimestamp": ts[1],
            **head,
            "IsMember": False,
            "UserIdentities": {"CustomerId": "c-2", "MPID": "2", "AppleAdvertisingIdentifier": "idfa-2"},
        },
        {
            "MembershipChangedTimestamp": ts[2],
            **head,
            "IsMember": False,
            "UserIdentities": {"CustomerId": "c-old", "Email": "old@example.com", "MPID": "3"},
        },
        {
            "MembershipChangedTimestamp": ts[2],
            **head,
            "IsMember": True,
            "UserIdentities": {
                "CustomerId": "c-new",
                "Email": "new@example.com",
                "MPID": "3",
                "GoogleAdvertisingIdentifier": "gaid-3",
            },
        },
        {"MembershipChangedTimestamp": ts[3], **head, "IsMember": True, "UserIdentities": {"MPID": "4"}},
        {"MembershipChangedTimestamp": ts[4], **head, "IsDeleted": True},
    ]
    assert [(r.get("IsMember"), r.get("UserIdentities")) for r in received(destination, "known-only")] == [
        (True, {"Other": "o", "MPID": "1"}),
        (False, {"MPID": "2", "AppleAdvertisingIdentifier": "idfa-2"}),
        (True, {"MPID": "3", "GoogleAdvertisingIdentifier": "gaid-3"}),  # add only; anonymous 4 skipped
        (None, None),  # the deletion
    ]

    # Publishing the same changes again (a re-evaluation) queues nothing new.
    AudienceDelivery(env.routes(), env.queue, env.log).publish(changes, int(time.time() * 1000))
    assert queued(env, plain) == {"done": 5}
    # The outbound Live Stream and the forwarding report see audience connections like any other.
    entries = env.log.outbound(env.workspace.id, plain.id, limit=10)
    assert {e.kind for e in entries} == {"firehose"} and {e.outcome for e in entries} == {"delivered"}
    assert entries[0].target == "firehose://us-east-1/all-users"
    counts = {
        (r.direction, r.message_type, r.event_name): r.count
        for r in env.log.counts(env.workspace.id, 0, 2**62, plain.id)
    }
    assert counts == {
        ("in", "audience_membership", "High Value"): 5,
        ("out", "audience_membership", "High Value"): 5,
    }


def test_bulk_flushes_on_size_and_on_time(tmp_path: Path, moto: tuple[str, Any, Recorder]) -> None:
    url, client, destination = moto
    env = DeliveryEnv(tmp_path)
    create_stream(client, destination, "bulk")
    by_size = connect(env, url, "bulk", {"bulk_window_s": 3600, "max_batch_size": 2})
    by_time = connect(env, url, "bulk", {"bulk_window_s": 0.3, "max_batch_size": 100})
    changes = [change(env, m, ChangeAction.ADD, {"customer_id": f"c-{m}"}) for m in (11, 12, 13)]
    AudienceDelivery(env.routes(), env.queue, env.log).publish(changes, int(time.time() * 1000))
    env.run_until(sender(env), lambda: settled(env, by_size, done=2) and settled(env, by_time, done=3))
    # A full batch went at once; the third change waits for the hour-long window.
    assert queued(env, by_size) == {"done": 2, "pending": 1}
    assert queued(env, by_time) == {"done": 3}


def test_unknown_stream_is_a_dead_letter(tmp_path: Path, moto: tuple[str, Any, Recorder]) -> None:
    url, _, _ = moto
    env = DeliveryEnv(tmp_path)
    conn = connect(env, url, "no-such-stream")
    AudienceDelivery(env.routes(), env.queue, env.log).publish(
        [change(env, 21, ChangeAction.ADD, {"customer_id": "c"})], int(time.time() * 1000)
    )
    env.run_until(sender(env), lambda: settled(env, conn, dead=1))
    (letter,) = env.queue.dead_letters(conn.id)
    assert letter.error_type == "bad_request" and "ResourceNotFoundException" in letter.last_error
    assert letter.attempts == 1  # not retried


def test_throttling_retries_alerts_dead_letters_then_replay_delivers(tmp_path: Path) -> None:
    env = DeliveryEnv(tmp_path)
    with Recorder() as firehose:  # stands in for the Firehose endpoint itself
        conn = connect(env, firehose.url(""), "throttled")
        firehose.fail_next(2, status=500)
        firehose.fail_next(100, status=400, body=THROTTLED)
        added = change(env, 41, ChangeAction.ADD, {"customer_id": "c-41"})
        AudienceDelivery(env.routes(), env.queue, env.log).publish([added], int(time.time() * 1000))
        env.run_until(sender(env, max_attempts=3), lambda: settled(env, conn, dead=1))

        assert [r.answered for r in firehose.snapshot()] == [500, 500, 400]
        (letter,) = env.queue.dead_letters(conn.id)
        assert letter.batch_id == added.change_id and letter.attempts == 3
        assert letter.error_type == "rate_limited" and "gave up after 3 attempts" in letter.last_error
        assert "ThrottlingException" in letter.last_error
        alerts = {r.error_type: r.count for r in env.log.alerts(env.workspace.id, 0, 2**62, None, conn.id)}
        assert alerts == {"server_error": 2, "rate_limited": 1}

        replay = ReplayService(env.outputs, env.routes(), env.queue, ConnectionHooks())
        with pytest.raises(DeliveryError, match="input connections only"):
            replay.create_window_job(env.workspace.id, conn.id, 0, 1)
        firehose.recover()
        job = replay.replay_dead_letters(env.workspace.id, conn.id)
        assert job.enqueued == 1
        env.run_until(sender(env), lambda: settled(env, conn, done=1))

        request = firehose.accepted()[-1]
        assert request.headers["X-Amz-Target"] == "Firehose_20150804.PutRecord"
        body = request.json()
        assert body["DeliveryStreamName"] == "throttled"
        assert json.loads(base64.b64decode(body["Record"]["Data"]))["UserIdentities"] == {
            "CustomerId": "c-41",
            "MPID": "41",
        }
        assert replay.progress(env.workspace.id, job.id).done == 1
