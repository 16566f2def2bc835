"""Output settings and connection settings: a setting given at the wrong level says where it belongs
(naming the field), and every integration's JSON Schema marks the level of the schema and each setting."""

from __future__ import annotations

import pytest

from fermion.integrations import registry
from fermion.integrations.amazon_s3 import INTEGRATION as S3
from fermion.integrations.amazon_s3 import S3ConnectionSettings, S3Settings
from fermion.integrations.spec import LEVEL_KEY, SettingError


def test_connection_setting_on_the_output_says_so() -> None:
    errors = S3.validate_output_settings({"bucket_name": "mp-forwarding-x", "region": "eu-west-1"})
    assert errors == [
        SettingError(
            "settings.bucket_name",
            "bucket_name is a connection setting of Amazon S3; set it on the connection, not the output",
        )
    ]


def test_output_setting_on_the_connection_says_so() -> None:
    errors = S3.validate_connection_settings(
        {"bucket_name": "mp-forwarding-x", "access_key_id": "AKIA", "region": "eu-west-1"}, "connection"
    )
    assert errors == [
        SettingError(
            "connection.access_key_id",
            "access_key_id is an output setting of Amazon S3; set it on the output, not the connection",
        ),
        SettingError(
            "connection.region",
            "region is an output setting of Amazon S3; set it on the output, not the connection",
        ),
    ]


def test_unknown_setting_and_other_errors_keep_their_field() -> None:
    errors = S3.validate_connection_settings({"bucket": "x", "use_compression": "maybe"})
    assert isinstance(errors, list)
    by_field = {e.field: e.message for e in errors}
    assert set(by_field) == {"settings.bucket", "settings.bucket_name", "settings.use_compression"}
    assert by_field["settings.bucket"] == (
        "bucket is not a setting of Amazon S3 (neither of the output nor of a connection)"
    )
    assert by_field["settings.bucket_name"] == "Field required"


def test_valid_settings_at_their_level() -> None:
    assert isinstance(S3.validate_output_settings({"region": "eu-west-1"}), S3Settings)
    conn = S3.validate_connection_settings({"bucket_name": "mp-forwarding-x"})
    assert isinstance(conn, S3ConnectionSettings) and conn.bucket_name == "mp-forwarding-x"


@pytest.mark.parametrize("integration", registry.all_integrations(), ids=lambda i: i.id)
def test_every_schema_marks_its_level(integration: registry.AnyIntegration) -> None:
    described = integration.describe()
    for key, level in (("settings_schema", "output"), ("connection_settings_schema", "connection")):
        schema = described[key]
        assert schema[LEVEL_KEY] == level
        assert schema["title"] == f"{integration.name} {level} settings"
        assert schema["description"].startswith(f"{level.capitalize()} settings: set ")
        assert all(prop[LEVEL_KEY] == level for prop in schema.get("properties", {}).values())


@pytest.mark.parametrize("integration", registry.all_integrations(), ids=lambda i: i.id)
def test_every_misplaced_setting_names_its_level(integration: registry.AnyIntegration) -> None:
    output_fields = set(integration.settings.model_fields)
    connection_fields = set(integration.connection_settings.model_fields)
    output_only, connection_only = output_fields - connection_fields, connection_fields - output_fields
    for name in output_only:
        errors = integration.validate_connection_settings({name: None})
        assert isinstance(errors, list)
        (error,) = [e for e in errors if e.field == f"settings.{name}"]
        assert "output setting" in error.message and "not the connection" in error.message
    for name in connection_only:
        errors = integration.validate_output_settings({name: None})
        assert isinstance(errors, list)
        (error,) = [e for e in errors if e.field == f"settings.{name}"]
        assert "connection setting" in error.message and "not the output" in error.message
