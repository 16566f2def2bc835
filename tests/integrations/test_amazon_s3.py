"""Amazon S3 output: `map` snapshots over the shared fixtures and every connection setting (pure); the
end-to-end tests through Fermion and a local moto S3 server are in test_amazon_s3_e2e.py."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest

from fermion.integrations.amazon_s3 import INTEGRATION, S3ConnectionSettings, S3Settings, map_batches
from fermion.integrations.spec import AwsCredentials, OutgoingBatch, S3Object, SettingError, validate_settings
from support.batches import all_fixture_names, load_fixture
from support.outgoing import INPUT_NAME, NOW_MS, RECEIVED_MS, check_snapshot, map_settings, outgoing

SNAPSHOTS = Path(__file__).parent / "snapshots" / "amazon_s3"
NAME = re.compile(r"^(?P<app>[^/]+)_(?P<stamp>\d{20})_(?P<digits>\d{5})\.txt(?P<gz>\.gz)?$")


def run(
    batches: list[OutgoingBatch],
    group_key: str = "g1",
    output: dict[str, Any] | None = None,
    input_name: str = INPUT_NAME,
    **connection: Any,
) -> list[S3Object]:
    out = S3Settings.model_validate(output or {})
    conn = S3ConnectionSettings.model_validate({"bucket_name": "mp-forwarding-test", **connection})
    requests = map_batches(batches, map_settings(out, conn, group_key, input_name))
    assert all(isinstance(r, S3Object) for r in requests)
    return requests  # type: ignore[return-value]


def lines(obj: S3Object) -> list[dict[str, Any]]:
    body = gzip.decompress(obj.body) if obj.key.endswith(".gz") else obj.body
    assert body.endswith(b"\n")
    return [json.loads(line) for line in body.decode().splitlines()]


def one_line(name: str, **connection: Any) -> dict[str, Any]:
    (obj,) = run([outgoing(name)], **connection)
    (line,) = lines(obj)
    return line


def event_types(name: str, **connection: Any) -> list[str]:
    return [e["event_type"] for e in one_line(name, **connection).get("events", [])]


@pytest.mark.parametrize("name", all_fixture_names())
def test_snapshot(name: str) -> None:
    requests = run([outgoing(name)])
    check_snapshot(
        SNAPSHOTS / f"{name}.json",
        [
            {
                "bucket": r.bucket,
                "key": r.key,
                "region": r.region,
                "content_type": r.content_type,
                "sse": r.sse,
                "batch_ids": list(r.batch_ids),
                "lines": lines(r),
            }
            for r in requests
        ],
    )


def test_outgoing_format() -> None:
    line = one_line("custom_event")
    assert line["user_identities"] == [
        {"identity_type": "customer_id", "identity": "cust-1"},
        {"identity_type": "email", "identity": "user1@example.com"},
    ]
    assert line["batch_id"] == 1001 and line["timestamp_unixtime_ms"] == RECEIVED_MS
    assert line["source_info"]["channel"] == "server_to_server"
    assert "mp_deviceid" not in line and "consent_state" not in line
    assert "unique_id" not in line


def test_file_name_is_app_utc_timestamp_and_five_digits() -> None:
    (obj,) = run([outgoing("custom_event")])
    match = NAME.match(obj.key)
    assert match, obj.key
    assert match["app"] == INPUT_NAME  # the input's name, not the batch's application_name
    assert match["stamp"].startswith("20240115100320123")  # NOW_MS, to the millisecond, in UTC
    assert obj.content_type == "text/plain" and obj.sse is None and obj.credentials is None
    # Deterministic for a group (retries overwrite), different across groups.
    assert run([outgoing("custom_event")])[0].key == obj.key
    assert run([outgoing("custom_event")], group_key="g2")[0].key != obj.key


def test_app_name_one_segment_and_fallbacks() -> None:
    def app(body: dict[str, Any], input_name: str) -> str:
        match = NAME.match(run([outgoing(body)], input_name=input_name)[0].key)
        assert match
        return match["app"]

    body = load_fixture("custom_event")
    assert app(body, " My App/iOS\\v2\x07 ") == "My App_iOS_v2_"  # one path segment, no control chars
    assert app(body, "") == "Higgs Shop"  # an input without a name: the batch's application name
    body["application_info"]["application_name"] = "a/b"
    assert app(body, " ") == "a_b"
    del body["application_info"]
    assert run([outgoing(body)], input_name="")[0].key.startswith("fermion_")
    # Batches of apps with other names still share the input's file.
    other = load_fixture("screen_view")
    other["application_info"]["application_name"] = "Other"
    (obj,) = run([outgoing(load_fixture("custom_event"), 1), outgoing(other, 2)])
    assert obj.key.startswith(f"{INPUT_NAME}_") and obj.batch_ids == (1, 2)


def test_send_as_batch_writes_one_file_of_lines() -> None:
    batches = [
        outgoing("custom_event", 1),
        outgoing("screen_view", 2),
        outgoing("commerce_event_purchase", 3),
    ]
    (obj,) = run(batches)
    assert [line["batch_id"] for line in lines(obj)] == [1, 2, 3]
    assert obj.batch_ids == (1, 2, 3)


def test_not_as_batch_writes_one_file_per_event() -> None:
    batches = [outgoing("custom_event", 1), outgoing("eventless", 2)]
    objects = run(batches, send_as_batch=False)
    assert len(objects) == 4  # three events, and the eventless batch
    assert len({o.key for o in objects}) == 4
    per_file = [lines(o) for o in objects]
    assert all(len(f) == 1 for f in per_file)
    assert [len(f[0].get("events", [])) for f in per_file] == [1, 1, 1, 0]
    assert [o.batch_ids for o in objects] == [(1,), (1,), (1,), (2,)]


def test_folder_name() -> None:
    (obj,) = run([outgoing("custom_event")], folder_name="/events/raw/")
    assert obj.key.startswith(f"events/raw/{INPUT_NAME}_")


@pytest.mark.parametrize(
    ("mode", "with_events", "without_events"),
    [
        ("unselected", "", ""),
        ("none", "", ""),
        ("event_time", "2024-01-15/", ""),
        ("upload_time", "2024-01-20/", "2024-01-20/"),
        ("event_time_or_upload_time", "2024-01-15/", "2024-01-20/"),
    ],
)
def test_date_folders(mode: str, with_events: str, without_events: str) -> None:
    uploaded = 1_705_752_000_000  # 2024-01-20T12:00:00Z; the events are of 2024-01-15
    objects = run(
        [outgoing("custom_event", 1, uploaded), outgoing("eventless", 2, uploaded)],
        folder_name="f",
        store_data_in_folders_by_date=mode,
    )
    keys = {o.batch_ids[0]: o.key for o in objects}
    if with_events == without_events:
        assert len(objects) == 1 and objects[0].key.startswith(f"f/{with_events}Higgs")
        return
    assert keys[1].startswith(f"f/{with_events}{INPUT_NAME}_")
    assert keys[2].startswith(f"f/{without_events}"), keys[2]
    assert NAME.match(keys[2].rsplit("/", 1)[-1])


def test_compression() -> None:
    (obj,) = run([outgoing("custom_event")], use_compression=True)
    assert obj.key.endswith(".txt.gz") and obj.content_type == "application/gzip"
    assert gzip.decompress(obj.body).startswith(b'{"')
    assert lines(obj)[0]["batch_id"] == 1001


@pytest.mark.parametrize(
    ("method", "key_id"), [("AES256", None), ("aws:kms", "arn:aws:kms:us-east-1:1:key/k")]
)
def test_server_side_encryption(method: str, key_id: str | None) -> None:
    (obj,) = run([outgoing("custom_event")], server_side_encryption=method, kms_key_id=key_id)
    assert obj.sse == method and obj.sse_kms_key_id == key_id


def test_output_settings_credentials_region_endpoint() -> None:
    output = {
        "access_key_id": "AKIA1",
        "secret_access_key": "s3cr3t",
        "region": "eu-west-1",
        "endpoint_url": "http://127.0.0.1:5000",
    }
    (obj,) = run([outgoing("custom_event")], output=output)
    assert obj.credentials == AwsCredentials(access_key_id="AKIA1", secret_access_key="s3cr3t")
    assert obj.region == "eu-west-1" and obj.endpoint_url == "http://127.0.0.1:5000"
    assert "s3cr3t" not in repr(obj.credentials)


@pytest.mark.parametrize(
    ("setting", "fixture", "event_type"),
    [
        ("send_lifecycle_events", "session_start", "session_start"),
        ("send_lifecycle_events", "session_end", "session_end"),
        ("send_lifecycle_events", "application_state_transition", "application_state_transition"),
        ("send_lifecycle_events", "first_run", "first_run"),
        ("send_screen_views", "screen_view", "screen_view"),
        ("send_crash_events", "crash_report", "crash_report"),
        ("send_network_performance_events", "network_performance", "network_performance"),
        ("send_custom_events", "custom_event", "custom_event"),
        ("send_push_registrations_and_receipts", "push_registration", "push_registration"),
        ("send_push_registrations_and_receipts", "push_message", "push_message"),
        ("send_commerce_events", "commerce_event_purchase", "commerce_event"),
        ("send_profile_change_events", "profile", "profile"),
    ],
)
def test_send_settings_on_by_default(setting: str, fixture: str, event_type: str) -> None:
    assert event_type in event_types(fixture)
    assert event_type not in event_types(fixture, **{setting: False})


@pytest.mark.parametrize(
    ("setting", "fixture", "event_type"),
    [
        ("include_user_attribute_change_events", "user_attribute_change", "user_attribute_change"),
        ("include_user_identity_change_events", "user_identity_change", "user_identity_change"),
    ],
)
def test_change_events_off_by_default(setting: str, fixture: str, event_type: str) -> None:
    assert event_type not in event_types(fixture)
    assert event_type in event_types(fixture, **{setting: True})


def test_other_events_always_go() -> None:
    for fixture in ("opt_out", "breadcrumb", "uninstall"):
        assert event_types(fixture), fixture


def test_batches_without_events() -> None:
    assert one_line("eventless")["events"] == []
    assert run([outgoing("eventless")], send_batches_without_events=False) == []
    # Events all left out by the settings make a batch without events too.
    assert (
        run([outgoing("session_start")], send_lifecycle_events=False, send_batches_without_events=False) == []
    )


def test_consent_state() -> None:
    assert "consent_state" not in one_line("python_sdk_full")
    state = one_line("python_sdk_full", include_consent_state=True)["consent_state"]
    assert state["ccpa"]["data_sale_opt_out"]["consented"] is True


def test_metadata_and_field_exclusion() -> None:
    line = one_line("custom_event")
    assert {"application_info", "device_info", "source_info"} <= set(line) and line["ip"] == "203.0.113.7"
    bare = one_line("custom_event", include_metadata=False)
    assert not {"application_info", "device_info", "source_info"} & set(bare) and bare["ip"]
    excluded = one_line(
        "custom_event",
        metadata_field_exclusion=[
            "IP Address",
            "Device Name",
            "device_info.device_model",
            "application_info.package",
        ],
    )
    assert "ip" not in excluded
    assert "device_model" not in excluded["device_info"] and excluded["device_info"]["brand"] == "Apple"
    assert "package" not in excluded["application_info"]
    errors = validate_settings(
        S3ConnectionSettings,
        {"bucket_name": "b-1", "metadata_field_exclusion": ["events"]},
        "connection_settings",
    )
    assert isinstance(errors, list) and errors[0].field == "connection_settings.metadata_field_exclusion"


def test_location_information() -> None:
    assert "location" in one_line("custom_event")["events"][0]["data"]
    assert all(
        "location" not in e["data"]
        for e in one_line("custom_event", include_location_information=False)["events"]
    )


def test_event_batch_location() -> None:
    assert "context" in one_line("custom_event") and "location" not in one_line("custom_event")["context"]
    line = one_line("custom_event", include_event_batch_location=True)
    assert line["context"]["location"] == {"latitude": 40.7142, "longitude": -74.0064, "accuracy": 12.5}
    body = load_fixture("custom_event")
    body["context"]["location"] = {"latitude": 1, "longitude": 2, "city_name": "X"}
    (obj,) = run([outgoing(body)], include_event_batch_location=True)
    assert lines(obj)[0]["context"]["location"]["city_name"] == "X"  # kept when the batch has one
    (obj,) = run([outgoing(body)])
    assert "location" not in lines(obj)[0]["context"]


def test_mp_deviceid_unique_id_and_identities() -> None:
    assert (
        one_line("custom_event", include_mp_deviceid=True)["mp_deviceid"]
        == "59780f39-d7a0-4ebe-9950-280f937c29e2"
    )
    assert one_line("custom_event", unique_id="com.example.app")["unique_id"] == "com.example.app"
    assert "user_identities" not in one_line("custom_event", include_user_identities=False)


def test_raw_data_feed_writes_the_inbound_format() -> None:
    line = one_line("custom_event", raw_data_feed=True, unique_id="u")
    assert line["user_identities"] == {"customer_id": "cust-1", "email": "user1@example.com"}
    assert "unique_id" not in line


def test_alias_requests() -> None:
    alias = {"source_mpid": 1, "destination_mpid": 2, "start_unixtime_ms": 1, "end_unixtime_ms": 2}
    batch = OutgoingBatch(
        batch_id=9, workspace_id=1, input_id=2, environment="production", mpid=2,
        received_ms=RECEIVED_MS, payload=json.dumps(alias).encode(),
    )  # fmt: skip
    assert run([batch]) == []
    (obj,) = run([batch], send_alias_requests=True)
    assert lines(obj) == [alias]


def test_settings_validation() -> None:
    assert isinstance(validate_settings(S3Settings, {}), S3Settings)
    errors = validate_settings(S3Settings, {"access_key_id": "AKIA"})
    assert isinstance(errors, list) and errors[0].field == "settings"
    missing = validate_settings(S3ConnectionSettings, {}, "connection_settings")
    assert missing == [SettingError("connection_settings.bucket_name", "Field required")]
    bad = validate_settings(
        S3ConnectionSettings, {"bucket_name": "b-1", "store_data_in_folders_by_date": "x"}
    )
    assert isinstance(bad, list) and bad[0].field == "settings.store_data_in_folders_by_date"
    assert (
        INTEGRATION.describe()["connection_settings_schema"]["properties"]["send_as_batch"]["default"] is True
    )
    assert NOW_MS  # (keeps the import honest)


def test_connection_options_follow_send_as_batch() -> None:
    conn = S3ConnectionSettings.model_validate({"bucket_name": "b-1"})
    assert INTEGRATION.options_for(conn).batch_window_ms == 600_000
    fast = S3ConnectionSettings.model_validate({"bucket_name": "b-1", "batch_window_s": 2})
    assert INTEGRATION.options_for(fast).batch_window_ms == 2_000
    single = S3ConnectionSettings.model_validate({"bucket_name": "b-1", "send_as_batch": False})
    assert INTEGRATION.options_for(single).batch_window_ms == 0
