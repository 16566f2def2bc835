"""Amazon S3 output end to end: Fermion's HTTP API (outputs, connections, data filters, consent rules)
and its sender writing into a local moto S3 server; objects, names, folders, gzip and contents checked."""

from __future__ import annotations

import gzip
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from support.batches import load_fixture
from support.fermion_proc import FermionProcess
from support.moto_aws import moto_server
from support.outputs_api import admin, connect, data_points, input_id, ok, put_filter, send

NAME = re.compile(r"^(?P<app>[^/]+)_(?P<stamp>\d{20})_(?P<digits>\d{5})\.txt(?P<gz>\.gz)?$")


E2E_FIXTURES = [
    "custom_event",
    "screen_view",
    "session_start",
    "user_attribute_change",
    "eventless",
    "python_sdk_full",
    "commerce_event_purchase",
]


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[tuple[str, Any]]:
    with moto_server("s3") as (url, client):
        yield url, client


def objects(client: Any, bucket: str) -> dict[str, Any]:
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"]) for o in listed}


def read_lines(key: str, got: Any) -> list[dict[str, Any]]:
    body = got["Body"].read()
    if key.endswith(".gz"):
        body = gzip.decompress(body)
    return [json.loads(line) for line in body.decode().splitlines()]


def wait_for_lines(
    client: Any, bucket: str, count: int, timeout_s: float = 60
) -> dict[str, list[dict[str, Any]]]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = {k: read_lines(k, v) for k, v in objects(client, bucket).items()}
        if sum(len(v) for v in found.values()) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.fixture(scope="module")
def delivered(fermion: FermionProcess, moto_s3: tuple[str, Any]) -> dict[str, Any]:
    """Four S3 outputs on the same input, each with different settings; the fixtures sent once."""
    url, client = moto_s3
    output = {
        "access_key_id": "test",
        "secret_access_key": "test",
        "region": "us-east-1",
        "endpoint_url": url,
    }
    variants = {
        "e2e-a": {
            "batch_window_s": 1,
            "folder_name": "events",
            "store_data_in_folders_by_date": "event_time",
        },
        "e2e-b": {
            "send_as_batch": False,
            "use_compression": True,
            "store_data_in_folders_by_date": "upload_time",
            "server_side_encryption": "AES256",
            "include_consent_state": True,
            "include_mp_deviceid": True,
            "unique_id": "com.example.higgs",
        },
        "e2e-c": {
            "batch_window_s": 1,
            "store_data_in_folders_by_date": "event_time_or_upload_time",
            "send_lifecycle_events": False,
            "send_screen_views": False,
            "include_user_attribute_change_events": True,
            "send_batches_without_events": False,
            "include_metadata": False,
            "metadata_field_exclusion": ["IP Address"],
            "raw_data_feed": True,
        },
        "e2e-d": {"batch_window_s": 1, "consent_rules": [{"regulation": "ccpa"}]},
    }
    connections = {}
    for bucket, settings in variants.items():
        client.create_bucket(Bucket=bucket)
        connections[bucket] = connect(fermion, "amazon_s3", output, {"bucket_name": bucket, **settings})
    r = put_filter(
        fermion,
        connections["e2e-d"],
        {
            "data_points": [
                {"type": "EventType", "name": "media", "enabled": False},
                {
                    "type": "EventAttribute",
                    "name": "Add to Favorites",
                    "event_type": "user_preference",
                    "attribute_name": "price",
                    "enabled": False,
                },
            ]
        },
    )
    assert r.status_code == 200, r.text
    time.sleep(1.0)  # the forwarding phase re-reads connection config every config_cache_ttl_s (0.3 s)
    send(fermion, [load_fixture(name) for name in E2E_FIXTURES])
    name = ok(admin(fermion, "GET", f"/inputs/{input_id(fermion)}"))["name"]
    return {"client": client, "sent_at": time.time(), "input_name": name}


def test_e2e_send_as_batch_with_event_date_folders(delivered: dict[str, Any]) -> None:
    found = wait_for_lines(delivered["client"], "e2e-a", len(E2E_FIXTURES))
    lines_ = [line for file in found.values() for line in file]
    assert len(lines_) == len(E2E_FIXTURES)
    for key, file in found.items():
        folder, _, name = key.rpartition("/")
        match = NAME.match(name)
        assert match, key
        assert match["app"] == delivered["input_name"]  # the input's name (the app), as the reference
        for line in file:
            first = next(iter(line["events"]), None)
            if first is None:
                assert folder == "events", key  # no event, no event date
            else:
                day = time.strftime("%Y-%m-%d", time.gmtime(first["data"]["timestamp_unixtime_ms"] / 1000))
                assert folder == f"events/{day}", key
            assert isinstance(line["user_identities"], list)
    types = {e["event_type"] for line in lines_ for e in line["events"]}
    assert "user_attribute_change" not in types and "session_start" in types


def test_e2e_one_gzip_file_per_event_with_upload_date_and_sse(delivered: dict[str, Any]) -> None:
    client = delivered["client"]
    expected = 0
    for name in E2E_FIXTURES:
        events = [
            e for e in load_fixture(name).get("events", []) if e["event_type"] != "user_attribute_change"
        ]
        expected += max(len(events), 1)
    found = wait_for_lines(client, "e2e-b", expected)
    assert len(found) == expected and all(len(lines) == 1 for lines in found.values())
    today = time.strftime("%Y-%m-%d", time.gmtime(delivered["sent_at"]))
    for key in found:
        assert key.startswith(f"{today}/") and key.endswith(".txt.gz"), key
        head = client.head_object(Bucket="e2e-b", Key=key)
        assert head["ServerSideEncryption"] == "AES256"
        assert head["ContentType"] == "application/gzip"
    lines_ = [file[0] for file in found.values()]
    assert all(line["unique_id"] == "com.example.higgs" for line in lines_)
    assert any(line.get("consent_state") for line in lines_)
    assert all("mp_deviceid" in line for line in lines_ if line.get("mpid") != 600868121729048600)


def test_e2e_event_settings_metadata_and_raw_feed(delivered: dict[str, Any]) -> None:
    # The profile phase adds user_attribute_change events for attribute changes (eventless included);
    # screen_view.json and session_start.json lose all their events and are not written.
    expected = {"req-0001-8b2c", "req-0017-8b2c", "req-0002-8b2c", "req-0020-8b2c", "req-1"}
    wait_for_lines(delivered["client"], "e2e-c", len(expected))
    time.sleep(1.5)  # nothing else should arrive
    found = wait_for_lines(delivered["client"], "e2e-c", 0)
    lines_ = [line for file in found.values() for line in file]
    assert sorted(line["source_request_id"] for line in lines_) == sorted(expected)
    types = {e["event_type"] for line in lines_ for e in line["events"]}
    assert "user_attribute_change" in types
    assert not types & {"session_start", "session_end", "screen_view", "application_state_transition"}
    for line in lines_:
        assert not {"application_info", "device_info", "source_info", "ip"} & set(line)
        assert isinstance(line.get("user_identities", {}), dict)  # the inbound format
    for key, file in found.items():
        first = file[0]["events"][0]["data"]["timestamp_unixtime_ms"]
        assert key.startswith(time.strftime("%Y-%m-%d/", time.gmtime(first / 1000))), key
        assert key.split("/")[-1].startswith(f"{delivered['input_name']}_"), key


def test_e2e_data_filter_and_consent_rule(delivered: dict[str, Any]) -> None:
    found = wait_for_lines(delivered["client"], "e2e-d", len(E2E_FIXTURES) - 1)
    time.sleep(1.5)
    lines_ = [line for file in wait_for_lines(delivered["client"], "e2e-d", 0).values() for line in file]
    requests = {line.get("source_request_id") for line in lines_}
    assert "req-1" not in requests  # python_sdk_full: the CCPA data sale opt-out is present
    assert len(lines_) == len(E2E_FIXTURES) - 1, found.keys()
    (custom,) = [line for line in lines_ if line.get("source_request_id") == "req-0001-8b2c"]
    names = [e["data"]["event_name"] for e in custom["events"]]
    assert names == ["Add to Favorites", "attribution"]  # Play Video (media) is filtered out
    assert "price" not in custom["events"][0]["data"]["custom_attributes"]
    assert custom["events"][0]["data"]["custom_attributes"]["item_id"] == "SKU-1001"


def test_e2e_catalog_counts_what_was_processed(fermion: FermionProcess, delivered: dict[str, Any]) -> None:
    deadline = time.monotonic() + 30
    while True:
        points = {(p["type"], p["name"]): p for p in data_points(fermion)}
        if ("MessageType", "custom_event") in points or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    custom = points[("MessageType", "custom_event")]
    assert custom["count"] == 4  # 3 in custom_event.json, 1 in python_sdk_full.json
    assert custom["first_seen_ms"] <= custom["last_seen_ms"]
    assert points[("ScreenView", "Home")]["count"] == 1
    assert points[("Commerce", "product_purchase")]["event_type"] == "product_purchase"
    assert ("UserAttribute", "hair") in points and ("UserIdentity", "customer_id") in points


def test_e2e_settings_at_the_wrong_level_say_where_they_belong(fermion: FermionProcess) -> None:
    r = admin(fermion, "POST", "/outputs", {"integration": "amazon_s3", "settings": {"bucket_name": "e2e-x"}})
    assert r.status_code == 400, r.text
    assert [(e["field"], e["message"]) for e in r.json()["errors"]] == [
        (
            "settings.bucket_name",
            "bucket_name is a connection setting of Amazon S3; set it on the connection, not the output",
        )
    ]
    out = ok(admin(fermion, "POST", "/outputs", {"integration": "amazon_s3", "settings": {}}))
    body = {"input_id": input_id(fermion), "output_id": out["id"]}
    r = admin(fermion, "POST", "/connections", {**body, "settings": {"bucket_name": "e2e-x", "region": "x"}})
    assert r.status_code == 400, r.text
    assert [(e["field"], e["message"]) for e in r.json()["errors"]] == [
        (
            "settings.region",
            "region is an output setting of Amazon S3; set it on the output, not the connection",
        )
    ]
    r = admin(fermion, "PATCH", f"/outputs/{out['id']}", {"settings": {"folder_name": "f"}})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "settings.folder_name", r.text
    assert "connection setting" in r.json()["errors"][0]["message"]
    described = ok(admin(fermion, "GET", "/integrations"))
    (s3,) = [i for i in described["integrations"] if i["id"] == "amazon_s3"]
    assert s3["settings_schema"]["properties"]["region"]["x-fermion-level"] == "output"
    assert s3["connection_settings_schema"]["properties"]["bucket_name"]["x-fermion-level"] == "connection"
