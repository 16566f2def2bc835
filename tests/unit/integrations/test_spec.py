"""The integration spec: secrets never print, settings validate with field names, schemas render."""

from __future__ import annotations

import json

import pytest
from pydantic import Field

from fermion.integrations import registry
from fermion.integrations.spec import (
    ALL_EVENT_TYPES,
    AwsCredentials,
    HttpRequest,
    NoSettings,
    Secret,
    SettingError,
    SettingsModel,
    secret_paths,
    settings_schema,
    validate_settings,
)


class Example(SettingsModel):
    api_key: Secret = Field(description="The partner's API key.")
    token: Secret | None = Field(default=None, description="Optional token.")
    region: str = Field(default="us-east-1", description="Where to send.")
    batch: int = Field(default=10, ge=1, le=100)


def test_secrets_never_print() -> None:
    s = Secret("hunter2")
    assert str(s) == "***" and "hunter2" not in repr(s) and f"{s}" == "***"
    assert s.reveal() == "hunter2" and s == Secret("hunter2") and bool(s) and not Secret("")
    model = Example(api_key="hunter2", token="t0k")  # type: ignore[arg-type]
    assert "hunter2" not in repr(model) and "t0k" not in str(model)
    dumped = model.model_dump_json()
    assert "hunter2" not in dumped and json.loads(dumped)["api_key"] == "***"
    assert model.model_dump(mode="json")["token"] == "***"
    assert isinstance(model.model_dump()["api_key"], Secret)  # python mode keeps the value for sealing
    assert "s3cr3t" not in repr(AwsCredentials(access_key_id="AKIA", secret_access_key="s3cr3t"))


def test_validation_names_every_bad_setting() -> None:
    errors = validate_settings(Example, {"batch": 0, "extra": 1})
    assert isinstance(errors, list)
    assert {e.field for e in errors} == {"settings.api_key", "settings.batch", "settings.extra"}
    assert all(isinstance(e, SettingError) and e.message for e in errors)
    ok = validate_settings(Example, {"api_key": "k"})
    assert isinstance(ok, Example) and ok.region == "us-east-1"
    assert validate_settings(Example, {"api_key": 5}, prefix="connection") == [
        SettingError("connection.api_key", "Value error, must be a string")
    ]


def test_schema_marks_secrets_and_keeps_help_and_defaults() -> None:
    schema = settings_schema(Example)
    props = schema["properties"]
    assert props["api_key"] == {
        "description": "The partner's API key.",
        "format": "password",
        "title": "Api Key",
        "type": "string",
        "writeOnly": True,
    }
    assert props["region"]["default"] == "us-east-1" and props["batch"]["maximum"] == 100
    assert schema["required"] == ["api_key"] and schema["additionalProperties"] is False
    assert secret_paths(Example) == ["api_key", "token"]
    assert secret_paths(NoSettings) == []


def test_registry_knows_the_webhook() -> None:
    webhook = registry.require("webhook")
    assert registry.get("nope") is None
    with pytest.raises(LookupError):
        registry.require("nope")
    assert webhook in registry.all_integrations()
    described = webhook.describe()
    assert described["kind"] == "event" and described["settings_schema"]["required"] == ["url"]
    assert set(described["event_types"]) == ALL_EVENT_TYPES
    assert described["options"]["max_batch_size"] >= 1


def test_every_registered_integration_is_well_formed() -> None:
    for integration in registry.all_integrations():
        assert integration.id and integration.name
        assert integration.event_types <= ALL_EVENT_TYPES
        settings_schema(integration.settings)
        settings_schema(integration.connection_settings)
        assert integration.options.max_batch_size >= 1 and integration.options.max_concurrency >= 1


def test_requests_are_plain_data() -> None:
    req = HttpRequest(method="POST", url="http://x", body=b"{}", dedupe_key="k", batch_ids=(1, 2))
    assert req.headers == {} and req.batch_ids == (1, 2)
