"""Amazon Kinesis Firehose audience output: `map` field by field, for every output and connection
setting, every change action and the identity names (pure; no AWS); and how the AWS transport's
error codes (throttling comes as a 400) meet the retry policy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fermion.adapters.delivery.aws import status_of
from fermion.delivery.retry import Verdict, classify
from fermion.integrations import registry
from fermion.integrations.amazon_kinesis_firehose import (
    IDENTITY_KEYS,
    INTEGRATION,
    FirehoseConnectionSettings,
    FirehoseSettings,
    map_changes,
)
from fermion.integrations.spec import (
    FirehoseRecord,
    IntegrationKind,
    MapSettings,
    OutgoingBatch,
    SettingError,
    validate_settings,
)
from fermion.model.audiences import ChangeAction, MembershipChange, change_id_of, encode_changes
from fermion.ports import SendResult

CHANGED_MS = 1_234_565_788_123
IDENTITIES = {
    "customer_id": "p.fogg138",
    "email": "phileas@travelers.com",
    "other": "balloondude83",
    "other_id_3": "balloongal89",
    "facebook": "phileas83",
    "android_aaid": "phileas83",
}
OUTPUT = {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "s3cr3t"}


def change(
    action: ChangeAction = ChangeAction.ADD,
    identities: dict[str, str] | None = None,
    previous: dict[str, str] | None = None,
    mpid: int = 8_675_309,
) -> MembershipChange:
    return MembershipChange(
        change_id=change_id_of(123123, mpid, action.value, CHANGED_MS),
        workspace_id=1,
        audience_id=123123,
        audience_name="LowEngagement",
        action=action,
        mpid=mpid,
        changed_ms=CHANGED_MS,
        identities=IDENTITIES if identities is None else identities,
        previous_identities=previous or {},
    )


def outgoing(c: MembershipChange) -> OutgoingBatch:
    return OutgoingBatch(
        batch_id=c.change_id,
        workspace_id=c.workspace_id,
        input_id=0,
        environment=c.environment,
        mpid=c.mpid,
        received_ms=c.changed_ms,
        payload=encode_changes(c),
    )


def run(
    changes: list[MembershipChange], output: dict[str, Any] | None = None, **connection: Any
) -> list[FirehoseRecord]:
    out = FirehoseSettings.model_validate({**OUTPUT, **(output or {})})
    conn = FirehoseConnectionSettings.model_validate(
        {"delivery_stream_name": "mPTravelAudiences", **connection}
    )
    settings = MapSettings(
        output=out, connection=conn, workspace_id=1, output_id=3, connection_id=4, now_ms=0, group_key="g"
    )
    requests = map_changes([outgoing(c) for c in changes], settings)
    assert all(isinstance(r, FirehoseRecord) for r in requests)
    return requests  # type: ignore[return-value]


def data(record: FirehoseRecord) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(record.data)
    return value


def one(c: MembershipChange, output: dict[str, Any] | None = None, **connection: Any) -> dict[str, Any]:
    (record,) = run([c], output, **connection)
    return data(record)


def test_add_matches_the_documented_example() -> None:
    (record,) = run([change()])
    assert record.stream == "mPTravelAudiences" and record.region == "us-east-1"
    assert record.credentials is not None
    assert record.credentials.access_key_id == "AKIDEXAMPLE"
    assert record.credentials.secret_access_key == "s3cr3t"
    assert "s3cr3t" not in repr(record.credentials)
    assert record.batch_ids == (change().change_id,) and record.dedupe_key == f"{change().change_id}:0"
    assert record.endpoint_url is None
    assert data(record) == {
        "MembershipChangedTimestamp": "1234565788",
        "AudienceId": 123123,
        "AudienceName": "LowEngagement",
        "IsMember": True,
        "UserIdentities": {
            "CustomerId": "p.fogg138",
            "Email": "phileas@travelers.com",
            "Other": "balloondude83",
            "Other3": "balloongal89",
            "FacebookId": "phileas83",
            "MPID": "8675309",
            "GoogleAdvertisingIdentifier": "phileas83",
        },
    }


def test_remove_is_not_a_member() -> None:
    body = one(change(ChangeAction.REMOVE))
    assert body["IsMember"] is False and body["UserIdentities"]["CustomerId"] == "p.fogg138"


def test_identity_change_sends_remove_with_old_then_add_with_new() -> None:
    old = {"customer_id": "old-id", "email": "old@example.com"}
    records = run([change(ChangeAction.IDENTITY_CHANGE, previous=old)])
    removal, add = (data(r) for r in records)
    assert removal["IsMember"] is False
    assert removal["UserIdentities"] == {
        "CustomerId": "old-id",
        "Email": "old@example.com",
        "MPID": "8675309",
    }
    assert add["IsMember"] is True and add["UserIdentities"]["CustomerId"] == "p.fogg138"
    assert [r.dedupe_key.rsplit(":", 1)[1] for r in records] == ["0", "1"]
    assert records[0].batch_ids == records[1].batch_ids  # retried together


def test_identity_change_without_send_remove_sends_only_the_add() -> None:
    records = run(
        [change(ChangeAction.IDENTITY_CHANGE, previous={"customer_id": "old"})],
        {"send_remove_on_identity_change": False},
    )
    assert [data(r)["IsMember"] for r in records] == [True]
    assert data(records[0])["UserIdentities"]["CustomerId"] == "p.fogg138"


def test_audience_deletion_message() -> None:
    deleted = MembershipChange(
        change_id=77,
        workspace_id=1,
        audience_id=123123,
        audience_name="LowEngagement",
        action=ChangeAction.DELETE,
        mpid=0,
        changed_ms=CHANGED_MS,
    )
    assert one(deleted, send_anonymous_users=False) == {
        "MembershipChangedTimestamp": "1234565788",
        "AudienceId": 123123,
        "AudienceName": "LowEngagement",
        "IsDeleted": True,
    }


@pytest.mark.parametrize("action", [ChangeAction.ADD, ChangeAction.REMOVE])
def test_anonymous_users_are_sent_by_default_with_their_mpid(action: ChangeAction) -> None:
    anonymous = change(action, identities={"device_application_stamp": "das-1", "push_token": "t"})
    body = one(anonymous)
    assert body["UserIdentities"] == {"MPID": "8675309"}
    assert body["IsMember"] is (action is ChangeAction.ADD)


def test_anonymous_users_are_skipped_when_disabled() -> None:
    anonymous = change(identities={"mpid": "8675309"})
    assert run([anonymous], send_anonymous_users=False) == []
    # A user with any listed identity is not anonymous, even when that identity is excluded.
    known = change(identities={"ios_idfv": "v-1"})
    assert one(known, send_anonymous_users=False, identities_to_exclude=["IDFV"])["UserIdentities"] == {
        "MPID": "8675309"
    }


def test_identity_change_from_anonymous_skips_only_the_anonymous_removal() -> None:
    c = change(ChangeAction.IDENTITY_CHANGE, previous={}, identities={"email": "new@example.com"})
    records = run([c], send_anonymous_users=False)
    assert [(data(r)["IsMember"], data(r)["UserIdentities"]) for r in records] == [
        (True, {"Email": "new@example.com", "MPID": "8675309"})
    ]


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ("forward_email_addresses", "Email"),
        ("forward_customer_ids", "CustomerId"),
        ("forward_idfas", "AppleAdvertisingIdentifier"),
        ("forward_google_advertising_ids", "GoogleAdvertisingIdentifier"),
    ],
)
def test_forward_switches(setting: str, key: str) -> None:
    everyone = change(identities={**IDENTITIES, "ios_idfa": "idfa-1"})
    assert key in one(everyone)["UserIdentities"]
    shown = one(everyone, **{setting: False})["UserIdentities"]
    assert key not in shown and len(shown) == len(one(everyone)["UserIdentities"]) - 1


def test_identities_to_exclude_takes_either_spelling() -> None:
    shown = one(change(), identities_to_exclude=["Other3", "facebook", "mpid", "EMAIL"])["UserIdentities"]
    assert shown == {
        "CustomerId": "p.fogg138",
        "Other": "balloondude83",
        "GoogleAdvertisingIdentifier": "phileas83",
    }


def test_a_record_without_any_identity_left_is_not_sent() -> None:
    c = change(identities={"email": "a@example.com"})
    assert run([c], forward_email_addresses=False, identities_to_exclude=["MPID"]) == []


def test_every_documented_identity_has_a_name() -> None:
    every = {t: f"v-{t}" for t in IDENTITY_KEYS if t != "mpid"}
    shown = one(change(identities={**every, "phone_number_2": "+1555", "alias": "x"}))["UserIdentities"]
    assert list(shown) == list(IDENTITY_KEYS.values())  # documented order; unlisted types left out
    assert {f"Other{n}" for n in range(2, 11)} <= set(shown)
    for name in (
        "GoogleId",
        "MicrosoftId",
        "TwitterId",
        "YahooId",
        "AndroidId",
        "AppleVendorIdentifier",
        "FireAdvertisingIdentifier",
        "MicrosoftAdvertisingIdentifier",
        "RokuAdvertisingIdentifier",
        "RokuPublisherIdentifier",
    ):
        assert name in shown


def test_connection_settings_region_and_endpoint() -> None:
    (record,) = run([change()], {"endpoint_url": "http://127.0.0.1:4566"}, aws_region="eu-west-1")
    assert record.region == "eu-west-1" and record.endpoint_url == "http://127.0.0.1:4566"


def test_one_record_per_change_in_order() -> None:
    changes = [change(mpid=m) for m in (1, 2, 3)]
    records = run(changes)
    assert [r.batch_ids[0] for r in records] == [c.change_id for c in changes]
    assert [data(r)["UserIdentities"]["MPID"] for r in records] == ["1", "2", "3"]


def test_defaults_and_validation_errors_name_the_setting() -> None:
    conn = FirehoseConnectionSettings.model_validate({"delivery_stream_name": "s"})
    assert conn.aws_region == "us-east-1" and conn.send_anonymous_users
    assert conn.forward_email_addresses and conn.forward_customer_ids
    assert conn.forward_idfas and conn.forward_google_advertising_ids and conn.identities_to_exclude == []
    out = FirehoseSettings.model_validate(OUTPUT)
    assert out.send_remove_on_identity_change and out.bulk_window_s == 0 and out.max_batch_size == 100
    errors = validate_settings(FirehoseConnectionSettings, {"identities_to_exclude": ["Nope"]})
    assert isinstance(errors, list)
    fields = {e.field for e in errors}
    assert fields == {"settings.delivery_stream_name", "settings.identities_to_exclude"}
    bad = validate_settings(FirehoseSettings, {"access_key_id": "a", "max_batch_size": 0})
    assert isinstance(bad, list)
    assert {e.field for e in bad} == {"settings.secret_access_key", "settings.max_batch_size"}
    assert validate_settings(FirehoseConnectionSettings, {"delivery_stream_name": "no spaces"}) == [
        SettingError("settings.delivery_stream_name", "String should match pattern '^[a-zA-Z0-9_.-]+$'")
    ]


def test_bulk_settings_feed_the_delivery_options() -> None:
    assert registry.require("amazon_kinesis_firehose") is INTEGRATION
    assert INTEGRATION.kind is IntegrationKind.AUDIENCE
    assert INTEGRATION.options.batch_window_ms == 0 and INTEGRATION.options.max_concurrency == 1
    out = FirehoseSettings.model_validate({**OUTPUT, "bulk_window_s": 2.5, "max_batch_size": 7})
    shaped = INTEGRATION.for_output(out)
    assert shaped.options.batch_window_ms == 2500 and shaped.options.max_batch_size == 7
    assert shaped.options.max_concurrency == 1  # in order
    secret_schema = INTEGRATION.describe()["settings_schema"]["properties"]["secret_access_key"]
    assert secret_schema["format"] == "password"


@pytest.mark.parametrize(
    ("status", "code", "verdict", "error_type"),
    [
        (400, "ThrottlingException", Verdict.RETRY, "rate_limited"),
        (400, "ProvisionedThroughputExceededException", Verdict.RETRY, "rate_limited"),
        (503, "ServiceUnavailableException", Verdict.RETRY, "server_error"),
        (400, "ServiceUnavailableException", Verdict.RETRY, "server_error"),
        (500, "InternalFailure", Verdict.RETRY, "server_error"),
        (400, "ResourceNotFoundException", Verdict.FAIL, "bad_request"),
        (400, "InvalidArgumentException", Verdict.FAIL, "bad_request"),
        (403, "AccessDeniedException", Verdict.FAIL, "auth_error"),
    ],
)
def test_aws_errors_are_classified_for_retry(
    status: int, code: str, verdict: Verdict, error_type: str
) -> None:
    outcome = classify(SendResult(status=status_of(status, code), message=code))
    assert (outcome.verdict, outcome.error_type) == (verdict, error_type)
